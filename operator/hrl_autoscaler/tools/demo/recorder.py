"""What the demo watches once a second: the objects, Prometheus and the operator's metrics."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.core.weights import PRESETS, Weights
from hrl_autoscaler.tools.demo.scenario import DemoApp
from hrl_autoscaler.tools.devenv.prometheus import PrometheusError, query
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    annotations_of,
    app_state,
    current_executors,
)

_BY_NAME = "application_name"


def _streaming(name: str) -> str:
    return '{__name__=~"metrics_.+_spark_streaming_.+_' + name + '_Value"}'


QUERIES = {
    "load_eps": f"sum by (application_name) ({_streaming('inputRate_total')})",
    "processing_eps": f"sum by (application_name) ({_streaming('processingRate_total')})",
    "latency_ms": f"max by (application_name) ({_streaming('latency')})",
    "running": 'count by (application_name) (metrics_executor_totalCores{executor_id!="driver"})',
}


@dataclass
class Sample:
    t: float
    """Wall seconds since the demo started."""
    sim_t: float
    """Simulated seconds (wall seconds x speed)."""
    state: str
    executors: int
    target: int | None
    running: int | None
    load_eps: float | None
    processing_eps: float | None
    latency_ms: float | None
    alpha: float
    beta: float
    gamma: float


@dataclass
class EventRecord:
    t: float
    reason: str
    type: str
    message: str


@dataclass
class AppRecord:
    app: DemoApp
    samples: list[Sample] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    seen_events: set[tuple[str, str, str]] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.app.scenario,
            "weight_policy": self.app.weight_policy,
            "actuation": self.app.actuation,
            "latency_slo_ms": self.app.latency_slo_ms,
            "samples": [asdict(s) for s in self.samples],
            "events": [asdict(e) for e in self.events],
        }


def weights_of(app: DemoApp, annotations: dict[str, str]) -> Weights:
    if app.weight_policy in PRESETS:
        return PRESETS[app.weight_policy]
    try:
        return Weights.of(*(float(annotations[PREFIX + w]) for w in ("alpha", "beta", "gamma")))
    except (KeyError, ValueError):
        return PRESETS["balanced"]


class Recorder:
    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        prometheus_url: str,
        operator_metrics: Any,
        apps: tuple[DemoApp, ...],
        speed: float,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.prometheus_url = prometheus_url
        self.operator_metrics = operator_metrics
        self.speed = speed
        self.records = {a.name: AppRecord(a) for a in apps}
        self.started = time.monotonic()

    def _prometheus(self) -> dict[str, dict[str, float]]:
        values: dict[str, dict[str, float]] = {}
        for key, promql in QUERIES.items():
            try:
                result = query(self.prometheus_url, promql)
            except (PrometheusError, OSError, ValueError):
                continue
            for series in result:
                name = series["metric"].get(_BY_NAME, "")
                values.setdefault(name, {})[key] = float(series["value"][1])
        return values

    def _targets(self) -> dict[str, int]:
        """The operator's decided (or recommended) executors per application."""
        try:
            text = self.operator_metrics()
        except Exception:  # the operator restarting or stopping: no target this second
            return {}
        targets: dict[str, int] = {}
        for family in text_string_to_metric_families(text):
            if family.name == "hrl_autoscaler_target_executors":
                for s in family.samples:
                    targets[s.labels["application"]] = int(s.value)
        return targets

    def sample(self) -> float:
        """Record one sample of every application; return the wall time of the sample."""
        t = time.monotonic() - self.started
        objects = {o["metadata"]["name"]: o for o in self.cluster.list_apps(self.namespace)}
        metrics = self._prometheus()
        targets = self._targets()
        for name, record in self.records.items():
            obj = objects.get(name)
            if obj is None:
                continue
            annotations = annotations_of(obj)
            w = weights_of(record.app, annotations)
            m = metrics.get(name, {})
            running = m.get("running")
            record.samples.append(
                Sample(
                    t=round(t, 2),
                    sim_t=round(t * self.speed, 1),
                    state=app_state(obj),
                    executors=current_executors(obj),
                    target=targets.get(name),
                    running=None if running is None else int(running),
                    load_eps=m.get("load_eps"),
                    processing_eps=m.get("processing_eps"),
                    latency_ms=m.get("latency_ms"),
                    alpha=round(w.alpha, 3),
                    beta=round(w.beta, 3),
                    gamma=round(w.gamma, 3),
                )
            )
        for event in self.cluster.events(self.namespace):
            owner = self.records.get(event.name)
            key = (event.at, event.reason, event.message)
            if owner is None or key in owner.seen_events:
                continue
            owner.seen_events.add(key)
            owner.events.append(EventRecord(round(t, 2), event.reason, event.type, event.message))
        return t
