"""The in-place executor agent's Prometheus gauges (``hrl_autoscaler_agent_*``), served on an
optional port."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

# -- metrics -------------------------------------------------------------------------------


class AgentMetrics:
    """The agent's gauges in their own registry (served only when a port is configured)."""

    def __init__(self, application_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["application_id"]
        self.target = Gauge(
            "hrl_autoscaler_agent_target_executors",
            "last valid target read from the source",
            labels,
            registry=self.registry,
        )
        self.applied = Gauge(
            "hrl_autoscaler_agent_applied_executors",
            "total executors requested from Spark (requestTotalExecutors)",
            labels,
            registry=self.registry,
        )
        self.registered = Gauge(
            "hrl_autoscaler_agent_registered_executors",
            "executors registered with the driver",
            labels,
            registry=self.registry,
        )
        self.leaving = Gauge(
            "hrl_autoscaler_agent_leaving_executors",
            "executors asked to leave that are still registered",
            labels,
            registry=self.registry,
        )
        self.convergence = Gauge(
            "hrl_autoscaler_agent_last_convergence_seconds",
            "seconds from the last target change until the registered count matched it",
            labels,
            registry=self.registry,
        )
        self.invalid = Counter(
            "hrl_autoscaler_agent_invalid_targets",
            "targets refused (not an integer, out of bounds)",
            labels,
            registry=self.registry,
        )
        self.source_errors = Counter(
            "hrl_autoscaler_agent_source_errors",
            "failed reads of the target source",
            labels,
            registry=self.registry,
        )
        self.killed = Counter(
            "hrl_autoscaler_agent_killed_executors",
            "executors the agent asked Spark to remove",
            labels,
            registry=self.registry,
        )
        self.app_id = application_id
        self._server: Any = None
        self.port: int | None = None

    def serve(self, host: str, port: int) -> int:
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        self.port = int(server.server_address[1])
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


__all__ = ["AgentMetrics"]
