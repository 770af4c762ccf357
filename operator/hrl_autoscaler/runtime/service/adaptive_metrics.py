"""The metrics of what the operator learns per application (``.adaptive`` of the telemetry).

Implements :class:`~hrl_autoscaler.runtime.core.adaptation.AdaptiveTelemetry`: the learned
restart and in-place start-up times (Flink's ``restart.time-tracking``) and the
ineffective-scaling block (Flink's ``scaling.effectiveness.detection``). Labels and removal
follow :mod:`.telemetry`: ``namespace`` and ``application`` on every series, counters created
at 0 once the label set is known, and an application's series removed when it is forgotten.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge

from hrl_autoscaler.runtime.core.application import AppKey

APP = ["namespace", "application"]


class AdaptiveMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.restart_seconds = Gauge(
            "hrl_autoscaler_restart_seconds",
            "learned restart time (restart actuation: scale write to RUNNING with the executors "
            "up; the slowest recent one, capped), s: the restart cooldown and DS2's catch-up "
            "use it; absent until a restart was measured",
            APP,
            registry=r,
        )
        self.startup_seconds = Gauge(
            "hrl_autoscaler_executor_startup_seconds",
            "learned in-place start-up time (target annotation written to the executors "
            "running; the slowest recent one, capped), s",
            APP,
            registry=r,
        )
        self.blocked = Gauge(
            "hrl_autoscaler_scale_up_blocked",
            "1 while scale-ups are held after an ineffective one (IneffectiveScaling), until "
            "the input rate changes materially",
            APP,
            registry=r,
        )
        self.detections = Counter(
            "hrl_autoscaler_ineffective_scalings",
            "scale-ups found ineffective (IneffectiveScaling events)",
            APP,
            registry=r,
        )

    def learned_time(self, key: AppKey, kind: str, seconds: float) -> None:
        gauge = self.restart_seconds if kind == "restart" else self.startup_seconds
        gauge.labels(key.namespace, key.name).set(seconds)

    def ineffective_scaling(self, key: AppKey, blocked: bool, detected: bool) -> None:
        labels = (key.namespace, key.name)
        self.blocked.labels(*labels).set(1.0 if blocked else 0.0)
        counter = self.detections.labels(*labels)
        if detected:
            counter.inc()

    def forget(self, key: AppKey) -> None:
        for metric in (self.restart_seconds, self.startup_seconds, self.blocked, self.detections):
            with contextlib.suppress(KeyError):
                metric.remove(key.namespace, key.name)
