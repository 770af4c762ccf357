"""One emulated application: the Spark Operator's state machine around a cluster model.

Pure logic with an explicit clock (no threads, no Kubernetes client) so that it can be tested
directly; :mod:`.server` feeds it watch events and wall-clock time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.cluster import ClusterModel, StepOutcome
from hrl_autoscaler.research.sim.workloads import DAY_S, load_profile, scenario
from hrl_autoscaler.runtime.core.annotations import PREFIX, TARGET_ANNOTATION

EMULATOR_PREFIX = "emulator.hrl-autoscaler.io/"
ACTUATION_ANNOTATION = PREFIX + "actuation"
SCENARIO_ANNOTATION = EMULATOR_PREFIX + "scenario"
PEAK_ANNOTATION = EMULATOR_PREFIX + "peak-rate"
RATE_ANNOTATION = EMULATOR_PREFIX + "rate"
SEED_ANNOTATION = EMULATOR_PREFIX + "seed"
FIRST_BATCH_ANNOTATION = EMULATOR_PREFIX + "first-batch-s"
#: Per-application simulator parameters, read when the application is created: an e2e test
#: makes one application's added executors useless (``contention: "1"``: capacity flat in the
#: executor count) or its restarts slower than the operator assumes.
PARAM_ANNOTATIONS = {
    EMULATOR_PREFIX + "contention": "scaling_contention",
    EMULATOR_PREFIX + "restart-downtime-s": "restart_downtime_s",
}

#: Spec fields whose change does not restart the application (the Spark Operator's rule).
NON_RESTARTING_SPEC_FIELDS = ("suspend", "timeToLiveSeconds")

SUBMIT_DELAY_S = 5.0
EXECUTOR_MEMORY_BYTES = 512 * 1024 * 1024


def spec_fingerprint(spec: dict[str, Any]) -> str:
    """Hash of the spec fields whose change makes the Spark Operator restart the application."""
    relevant = {k: v for k, v in spec.items() if k not in NON_RESTARTING_SPEC_FIELDS}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def executor_instances(spec: dict[str, Any]) -> int:
    value = (spec.get("executor") or {}).get("instances", 1)
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


@dataclass(frozen=True)
class Workload:
    """Where an application's arrival rate comes from: a scenario, or a constant override."""

    scenario: str
    peak_rate_eps: float | None
    constant_rate_eps: float | None
    seed: int
    first_batch_s: float = 0.0
    """Simulated seconds from each start of a run until its first micro-batch completes."""

    @classmethod
    def from_annotations(cls, annotations: dict[str, str], default_seed: int) -> Workload:
        name = annotations.get(SCENARIO_ANNOTATION, "steady")
        try:
            scenario(name)
        except ValueError:
            name = "steady"
        return cls(
            scenario=name,
            peak_rate_eps=_positive_float(annotations.get(PEAK_ANNOTATION)),
            constant_rate_eps=_positive_float(annotations.get(RATE_ANNOTATION), allow_zero=True),
            seed=int(_positive_float(annotations.get(SEED_ANNOTATION)) or default_seed),
            first_batch_s=_positive_float(annotations.get(FIRST_BATCH_ANNOTATION)) or 0.0,
        )


def param_overrides(annotations: dict[str, str]) -> dict[str, float]:
    """The simulator parameters an application's annotations set (bad values are ignored)."""
    out: dict[str, float] = {}
    for annotation, field in PARAM_ANNOTATIONS.items():
        value = _positive_float(annotations.get(annotation), allow_zero=True)
        if value is not None:
            out[field] = value
    return out


def _positive_float(text: str | None, allow_zero: bool = False) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 or (allow_zero and value == 0) else None


class EmulatedApp:
    """State of one SparkApplication as the Spark Operator and its Spark driver would have it."""

    def __init__(
        self,
        namespace: str,
        name: str,
        spec: dict[str, Any],
        annotations: dict[str, str],
        params: SimParams,
        now_s: float,
        seed: int,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.params = params.with_overrides(**param_overrides(annotations))
        self.cluster = ClusterModel(self.params)
        self.cluster.reset(executor_instances(spec))
        self.cluster.time_s = now_s
        self.workload = Workload.from_annotations(annotations, seed)
        self._profile = self._make_profile()
        self.fingerprint = spec_fingerprint(spec)
        self.state = "SUBMITTED"
        self.attempt = 1
        self.running_since_s = now_s + SUBMIT_DELAY_S
        self.app_id = self._new_app_id()
        self.applied_target_annotation: str | None = None
        self.last: StepOutcome | None = None
        self.completed_tasks = 0.0
        self.busy_seconds = 0.0
        self.dirty = True  # status needs writing
        self.apply_annotations(annotations)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def _new_app_id(self) -> str:
        digest = hashlib.sha1(f"{self.namespace}/{self.name}/{self.attempt}".encode()).hexdigest()
        return f"spark-{digest[:24]}"

    def _make_profile(self) -> np.ndarray:
        rng = np.random.default_rng(self.workload.seed)
        steps = int(DAY_S / self.params.decision_interval_s)
        return load_profile(
            self.workload.scenario,
            steps,
            self.params.decision_interval_s,
            rng,
            self.workload.peak_rate_eps,
            start_s=0.0,
        )

    def arrival_rate(self, sim_time_s: float) -> float:
        if self.workload.constant_rate_eps is not None:
            return self.workload.constant_rate_eps
        i = int(sim_time_s / self.params.decision_interval_s) % self._profile.size
        return float(self._profile[i])

    @property
    def in_place(self) -> bool:
        return self._actuation == "in-place"

    def apply_annotations(self, annotations: dict[str, str]) -> None:
        """Workload overrides, and in ``in-place`` actuation the target-executors annotation."""
        self._actuation = annotations.get(ACTUATION_ANNOTATION, "restart")
        workload = Workload.from_annotations(annotations, self.workload.seed)
        if workload != self.workload:
            self.workload = workload
            if workload.constant_rate_eps is None:
                self._profile = self._make_profile()
        target = annotations.get(TARGET_ANNOTATION)
        if self.in_place and target is not None and target != self.applied_target_annotation:
            self.applied_target_annotation = target
            try:
                n = int(target)
            except ValueError:
                return  # the driver agent ignores a malformed target and keeps its executors
            if self.cluster.set_target(n, actuation="in-place"):
                self.dirty = True

    def apply_spec(self, spec: dict[str, Any], now_s: float) -> bool:
        """A spec change restarts the application, as the Spark Operator does; True if it did."""
        fingerprint = spec_fingerprint(spec)
        if fingerprint == self.fingerprint:
            return False
        self.fingerprint = fingerprint
        self.cluster.time_s = max(self.cluster.time_s, now_s)
        if not self.cluster.set_target(executor_instances(spec), actuation="restart"):
            self.cluster.restart()  # same executor count, another change: still resubmitted
        self.state = "INVALIDATING"
        self.attempt += 1
        self.app_id = self._new_app_id()
        self.running_since_s = self.cluster.restart_until
        self.dirty = True
        return True

    def advance(self, now_s: float) -> None:
        """Run the application up to ``now_s`` (simulated seconds) and move its state on."""
        dt = now_s - self.cluster.time_s
        if dt <= 0:
            return
        outcome = self.cluster.advance(self.arrival_rate(self.cluster.time_s), dt)
        self.last = outcome
        self.completed_tasks += outcome.processed / 1000.0
        self.busy_seconds += outcome.cpu_utilisation * outcome.running_executors * dt
        previous = self.state
        if self.state == "INVALIDATING":
            self.state = "PENDING_RERUN"
        elif self.state in ("SUBMITTED", "PENDING_RERUN") and now_s >= self.running_since_s:
            self.state = "RUNNING"
        if self.state != previous:
            self.dirty = True

    @property
    def serving_metrics(self) -> bool:
        """The driver serves metrics only while the application runs."""
        return self.state == "RUNNING" and self.last is not None and not self.last.restarting

    @property
    def first_batch_pending(self) -> bool:
        """Before a run's first micro-batch completes Spark's streaming gauges read 0 (there is
        no ``lastProgress``) while the start-up keeps every task slot busy."""
        return self.cluster.time_s < self.running_since_s + self.workload.first_batch_s

    def status(self) -> dict[str, Any]:
        """The status subresource as the Spark Operator writes it."""
        running = self.last.running_executors if self.last is not None else 0
        executor_state = (
            {
                f"{self.name}-exec-{i + 1}": ("RUNNING" if i < running else "PENDING")
                for i in range(self.cluster.target)
            }
            if self.state == "RUNNING"
            else {}
        )
        return {
            "applicationState": {"state": self.state},
            "sparkApplicationId": self.app_id,
            "submissionAttempts": self.attempt,
            "executionAttempts": self.attempt,
            "executorState": executor_state,
            "driverInfo": {"podName": f"{self.name}-driver"},
        }
