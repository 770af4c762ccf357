"""``/metrics``, ``/healthz`` and ``/readyz`` on one port (aiohttp, which kopf already uses).

Liveness means the decision loop still ticks (a hung cycle makes Kubernetes restart the pod);
readiness means the operator has finished its first tick, as leader or as a stand-by replica.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger("hrl_autoscaler.http")


class HttpServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        healthy: Callable[[], tuple[bool, str]],
        ready: Callable[[], tuple[bool, str]],
        host: str,
        port: int,
    ) -> None:
        self.registry = registry
        self.healthy = healthy
        self.ready = ready
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @staticmethod
    def _probe(check: Callable[[], tuple[bool, str]]) -> web.Response:
        ok, why = check()
        return web.Response(text=why + "\n", status=200 if ok else 503)

    async def _healthz(self, _: web.Request) -> web.Response:
        return self._probe(self.healthy)

    async def _readyz(self, _: web.Request) -> web.Response:
        return self._probe(self.ready)

    async def start(self) -> int:
        """Serve; return the bound port (useful with port 0)."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("serving /metrics, /healthz and /readyz on http://%s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
