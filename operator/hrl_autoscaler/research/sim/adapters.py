"""The operator's ports, backed by the simulated cluster, so ``evaluate`` runs the real pipeline.

Each adapter stands where a cluster part stands in production:

- :class:`SimulatedApplication`: the API server's copy of one SparkApplication (a plain body
  that intents are merge-patched into, with a resourceVersion that grows);
- :class:`SimulatedActuator`: the actuator; it writes intents as the Kubernetes adapter does
  (the same patch bodies), after the same precondition on the fresh object;
- :class:`SimulatedMetrics`: Prometheus, answering with the sample the cluster model's last
  interval implies (what the Spark metrics would say);
- :class:`SimulatedClock`: the cluster model's time;
- :class:`MemoryStateStore`, :class:`CountingEvents`, :class:`NullTelemetry`: the state
  ConfigMap, the Kubernetes events and the operator's own metrics.

The data plane (the Spark Operator's restart, the driver agent's in-place change) is the
environment: it reads the executor count the application asks for and applies it to
:class:`~hrl_autoscaler.research.sim.cluster.ClusterModel`.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from hrl_autoscaler.runtime.core.annotations import AppSettings
from hrl_autoscaler.runtime.core.application import (
    API_VERSION,
    KIND,
    RUNNING,
    AppKey,
    AppSnapshot,
    snapshot_from_body,
)
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.ports import (
    ActuationResult,
    CycleSummary,
    DecisionRecord,
    PatchActuator,
    Precondition,
    ScaleIntent,
)
from hrl_autoscaler.runtime.core.reporting import AppEvent
from hrl_autoscaler.runtime.core.sampling import AppSample, Collection
from hrl_autoscaler.runtime.core.weights import Weights

#: What the Spark Operator reports while the simulated application restarts.
RESTARTING_STATE = "SUBMITTED"


def merge_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """RFC 7386 merge patch, in place (null deletes)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class SimulatedApplication:
    """One SparkApplication as the API server would store it."""

    def __init__(
        self,
        key: AppKey,
        annotations: Mapping[str, str],
        executors: int,
        app_id: str = "sim-1",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "namespace": key.namespace,
                "name": key.name,
                "uid": f"uid-{key.namespace}-{key.name}",
                "resourceVersion": "1",
                "labels": {"hrl-autoscaler.io/enabled": "true", **(labels or {})},
                "annotations": dict(annotations),
            },
            "spec": {"executor": {"instances": executors}},
            "status": {"applicationState": {"state": RUNNING}, "sparkApplicationId": app_id},
        }
        self._snapshot: AppSnapshot | None = None

    def _changed(self) -> None:
        meta = self.body["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        self._snapshot = None

    def snapshot(self) -> AppSnapshot:
        if self._snapshot is None:
            self._snapshot = snapshot_from_body(self.body)
        return self._snapshot

    def patch(self, body: Mapping[str, Any]) -> AppSnapshot:
        merge_patch(self.body, body)
        self._changed()
        return self.snapshot()

    def set_running(self, running: bool) -> None:
        """The Spark Operator's view: RUNNING, or resubmitted while the model restarts."""
        state = RUNNING if running else RESTARTING_STATE
        status = self.body["status"]["applicationState"]
        if status["state"] != state:
            status["state"] = state
            self._changed()

    def requested_executors(self, settings: AppSettings) -> int:
        return self.snapshot().current_executors(settings.actuation == "in-place")


class SimulatedActuator(PatchActuator):
    """Writes intents into the simulated application as the Kubernetes actuator would (the
    same patches, after the same precondition on the fresh object), and counts them."""

    def __init__(self, app: SimulatedApplication) -> None:
        self.app = app
        self.scaled = 0
        self.weights_written = 0

    def patch(
        self, key: AppKey, body: dict[str, Any], precondition: Precondition
    ) -> ActuationResult:
        fresh = self.app.snapshot()
        reason = precondition(fresh)
        if reason is not None:
            return ActuationResult(False, reason, fresh)
        return ActuationResult(True, "patched", self.app.patch(body))

    def scale(
        self, key: AppKey, intent: ScaleIntent, precondition: Precondition
    ) -> ActuationResult:
        result = super().scale(key, intent, precondition)
        self.scaled += result.applied
        return result

    def set_weights(
        self, key: AppKey, weights: Weights, precondition: Precondition, at: float | None = None
    ) -> ActuationResult:
        result = super().set_weights(key, weights, precondition, at)
        self.weights_written += result.applied
        return result


def sample_from_metrics(metrics: SystemMetrics) -> AppSample:
    """The Prometheus sample whose :func:`~hrl_autoscaler.runtime.core.sampling.build_metrics`
    gives back ``metrics`` (utilisations as ratios over one core and one unit of memory)."""
    return AppSample(
        {
            "input_rate": metrics.input_rate_eps,
            "processing_rate": metrics.processing_rate_eps,
            "backlog": metrics.backlog_events,
            "active_tasks": metrics.cpu_utilisation,
            "total_cores": 1.0,
            "memory_used": metrics.memory_utilisation,
            "memory_max": 1.0,
            "latency": metrics.latency_ms,
            "running_executors": float(metrics.running_executors),
            "last_seen": metrics.time_s,
        }
    )


class SimulatedMetrics:
    """Answers every cycle with the last interval's metrics (one query batch, never fails)."""

    def __init__(self, key: AppKey) -> None:
        self.key = key
        self.metrics: SystemMetrics | None = None

    def collect(self, apps: Sequence[AppSnapshot]) -> Collection:
        if self.metrics is None:
            return Collection({})
        return Collection({self.key: sample_from_metrics(self.metrics)}, queries=1)


class SimulatedClock:
    def __init__(self) -> None:
        self.time_s = 0.0

    def now(self) -> float:
        return self.time_s


class MemoryStateStore:
    """The state ConfigMap, in memory: what a restarted operator would read."""

    def __init__(self) -> None:
        self.states: dict[AppKey, AppState] = {}

    def load_all(self) -> dict[AppKey, AppState]:
        return dict(self.states)

    def save(self, app: AppSnapshot, state: AppState) -> None:
        self.states[app.key] = state


class CountingEvents:
    """Kubernetes events, counted by reason (evaluation reports fallbacks and guard rescues)."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    def emit(self, app: AppSnapshot, event: AppEvent) -> None:
        self.reasons[event.reason.value] += 1


class NullTelemetry:
    """The operator's own metrics are not needed on the simulator."""

    def app_seen(self, key: AppKey, settings: AppSettings, weights: Weights, current: int) -> None:
        pass

    def decision(self, key: AppKey, record: DecisionRecord) -> None:
        pass

    def unavailable(self, key: AppKey, reason: str | None) -> None:
        pass

    def fallback(self, key: AppKey) -> None:
        pass

    def meta(self, key: AppKey, objective: str, score: float) -> None:
        pass

    def scaled(self, key: AppKey, current: int, target: int, actuation: str) -> None:
        pass

    def weights_updated(self, key: AppKey, objective: str) -> None:
        pass

    def actuation_error(self, key: AppKey) -> None:
        pass

    def cycle(self, summary: CycleSummary) -> None:
        pass

    def forget(self, key: AppKey) -> None:
        pass


class FleetMetrics:
    """Prometheus for many simulated applications: each one's last interval, one query batch.

    The fleet simulator sets :attr:`metrics` for every application before each cycle; an
    application without metrics yet is simply absent from the answer (as a new one would be).
    """

    def __init__(self) -> None:
        self.metrics: dict[AppKey, SystemMetrics] = {}

    def collect(self, apps: Sequence[AppSnapshot]) -> Collection:
        samples = {
            a.key: sample_from_metrics(self.metrics[a.key]) for a in apps if a.key in self.metrics
        }
        return Collection(samples, queries=1 if samples else 0)


class FleetActuator(SimulatedActuator):
    """The actuator of many simulated applications: each intent goes to its own object, with
    the same patches and preconditions as :class:`SimulatedActuator` (which it counts alike)."""

    def __init__(self, apps: Mapping[AppKey, SimulatedApplication]) -> None:
        super().__init__(next(iter(apps.values())))
        self.apps = dict(apps)

    def patch(
        self, key: AppKey, body: dict[str, Any], precondition: Precondition
    ) -> ActuationResult:
        app = self.apps[key]
        fresh = app.snapshot()
        reason = precondition(fresh)
        if reason is not None:
            return ActuationResult(False, reason, fresh)
        return ActuationResult(True, "patched", app.patch(body))
