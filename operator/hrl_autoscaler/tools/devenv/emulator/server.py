"""The emulator process: watch SparkApplications, advance them in real time, serve metrics."""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.tools.devenv.emulator.app import EmulatedApp
from hrl_autoscaler.tools.devenv.emulator.exposition import registries
from hrl_autoscaler.tools.devenv.sparkop.controller import wants_submission

log = logging.getLogger("hrl_autoscaler.emulator")

GROUP, VERSION, PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"


class Emulator:
    """Plays the Spark Operator and Spark for every SparkApplication on the API server.

    ``speed`` multiplies simulated time: at 10, a 90 s restart takes 9 s of wall time.
    """

    def __init__(
        self,
        api: k8s_client.ApiClient,
        port: int,
        speed: float = 1.0,
        tick_s: float = 1.0,
        params: SimParams | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.api = api
        self.objects = k8s_client.CustomObjectsApi(api)
        self.speed = speed
        self.tick_s = tick_s
        self.params = params or SimParams()
        self.apps: dict[tuple[str, str], EmulatedApp] = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self._started = time.monotonic()
        self._seed = 0
        self._registries = registries(self.snapshot)
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def now_s(self) -> float:
        """Simulated seconds since the emulator started."""
        return (time.monotonic() - self._started) * self.speed

    def snapshot(self) -> list[EmulatedApp]:
        with self.lock:
            return list(self.apps.values())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        paths: dict[str, CollectorRegistry] = self._registries

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0].rstrip("/") or "/"
                if path == "/healthz":
                    body, ctype, code = b"ok\n", "text/plain", 200
                elif path in paths:
                    body, ctype, code = generate_latest(paths[path]), CONTENT_TYPE_LATEST, 200
                else:
                    body, ctype, code = (
                        f"no such path; try {', '.join(paths)}\n".encode(),
                        "text/plain",
                        404,
                    )
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    # -- watch -----------------------------------------------------------------------------
    def on_event(self, kind: str, obj: dict[str, Any]) -> None:
        if wants_submission(obj):
            return  # really submitted by the Spark Operator role (sparkop), not simulated
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace", "default"), meta.get("name", ""))
        spec = obj.get("spec") or {}
        annotations = meta.get("annotations") or {}
        now = self.now_s()
        with self.lock:
            app = self.apps.get(key)
            if kind == "DELETED":
                self.apps.pop(key, None)
                return
            if app is None:
                self._seed += 1
                app = EmulatedApp(key[0], key[1], spec, annotations, self.params, now, self._seed)
                self.apps[key] = app
                log.info("emulating %s/%s (%s)", key[0], key[1], app.workload.scenario)
                return
            app.advance(now)
            if app.apply_spec(spec, now):
                log.info("%s/%s: spec changed, restarting as %s", key[0], key[1], app.app_id)
            app.apply_annotations(annotations)

    def _watch_loop(self) -> None:
        backoff = 0.5
        while not self.stop_event.is_set():
            try:
                listing = cast(
                    dict[str, Any], self.objects.list_cluster_custom_object(GROUP, VERSION, PLURAL)
                )
                seen = set()
                for item in listing.get("items", []):
                    self.on_event("MODIFIED" if self._known(item) else "ADDED", item)
                    m = item["metadata"]
                    seen.add((m["namespace"], m["name"]))
                with self.lock:
                    for key in [k for k in self.apps if k not in seen]:
                        del self.apps[key]
                version = listing["metadata"]["resourceVersion"]
                stream = k8s_watch.Watch()
                for event in stream.stream(
                    self.objects.list_cluster_custom_object,
                    GROUP,
                    VERSION,
                    PLURAL,
                    resource_version=version,
                    timeout_seconds=30,
                ):
                    if self.stop_event.is_set():
                        stream.stop()
                        break
                    self.on_event(event["type"], event["object"])
                backoff = 0.5
            except ApiException as exc:
                if exc.status != 410:  # 410 Gone: the resource version expired, list again
                    log.warning("watch failed (%s); retrying in %.1f s", exc.reason, backoff)
                    self.stop_event.wait(backoff)
                    backoff = min(backoff * 2, 10.0)
            except Exception as exc:  # network errors: keep emulating, retry the watch
                log.warning("watch failed (%s); retrying in %.1f s", exc, backoff)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _known(self, item: dict[str, Any]) -> bool:
        m = item.get("metadata") or {}
        with self.lock:
            return (m.get("namespace"), m.get("name")) in self.apps

    # -- ticks -----------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.now_s()
        with self.lock:
            for app in self.apps.values():
                app.advance(now)
            dirty = [
                (app.namespace, app.name, app.status()) for app in self.apps.values() if app.dirty
            ]
            for app in self.apps.values():
                app.dirty = False
        for namespace, name, status in dirty:
            try:
                self.objects.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, {"status": status}
                )
            except ApiException as exc:
                if exc.status != 404:
                    self._retry_status(namespace, name, str(exc.reason))
            except Exception as exc:  # the API server restarting: connection refused, reset
                self._retry_status(namespace, name, str(exc))

    def _retry_status(self, namespace: str, name: str, why: str) -> None:
        """Write the status again next tick: the tick thread must outlive an API outage, or
        the emulated applications freeze while the operator's test goes on."""
        log.warning("status of %s/%s not written (next tick again): %.200s", namespace, name, why)
        with self.lock:
            if (namespace, name) in self.apps:
                self.apps[(namespace, name)].dirty = True

    def _tick_loop(self) -> None:
        while not self.stop_event.wait(self.tick_s):
            self.tick()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Emulator:
        for target, name in (
            (self.httpd.serve_forever, "emulator-http"),
            (self._watch_loop, "emulator-watch"),
            (self._tick_loop, "emulator-tick"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        log.info(
            "emulator serving metrics on http://127.0.0.1:%d (speed x%g)", self.port, self.speed
        )
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def api_from_kubeconfig(path: Path) -> k8s_client.ApiClient:
    api: k8s_client.ApiClient = k8s_config.new_client_from_config(config_file=str(path))
    return api
