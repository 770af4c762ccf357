"""The narrow interfaces between the decision loop and the world, and what crosses them.

Adapters implement them: ``runtime/k8s`` for a cluster (Prometheus, the API server, events, a
state ConfigMap), ``research/sim/adapters`` for the simulated cluster that ``evaluate`` runs the
operator's own pipeline on, and fakes in the tests. Actuators take intents ("scale to N by
restart", "set these weights"), not patches: how an intent is written is the adapter's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hrl_autoscaler.config import Actuation, OperatorSettings, SimParams
from hrl_autoscaler.runtime.core.annotations import AppSettings
from hrl_autoscaler.runtime.core.application import (
    AppKey,
    AppSnapshot,
    scale_patch,
    weights_patch,
)
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.records import ScaleRecord, decision_id
from hrl_autoscaler.runtime.core.reporting import AppEvent, direction
from hrl_autoscaler.runtime.core.sampling import Collection
from hrl_autoscaler.runtime.core.weights import Weights

# -- the interfaces to the outside world ---------------------------------------------------------


class Clock(Protocol):
    def now(self) -> float:
        """Unix time in seconds (wall clock: cooldowns must survive an operator restart)."""
        ...


class SystemClock:
    """Unix time read once at start, then advanced by the monotonic clock.

    Cooldown origins and scale times are stored as Unix time so a restarted operator honours
    them, but within one process the wall clock must not jump: an NTP step back by an hour would
    hold every application in its cooldown for that hour, a step forward would end every
    cooldown and stabilisation window at once. CLOCK_MONOTONIC never steps (NTP only slews it,
    as it slews the wall clock), so this clock follows the wall clock's rate and ignores its
    steps; a restart reads the wall clock afresh.
    """

    def __init__(self) -> None:
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self._wall0 + (time.monotonic() - self._mono0)


class MetricsSource(Protocol):
    def collect(self, apps: Sequence[AppSnapshot]) -> Collection:
        """Metrics of all ``apps`` with a fixed number of queries; never raises."""
        ...


@dataclass(frozen=True)
class ActuationResult:
    applied: bool
    detail: str
    """What was written, or why nothing was."""
    snapshot: AppSnapshot | None = None
    """The object as the API server returned it after the patch."""
    error: bool = False
    """True when the write failed (API error); False when it was skipped on purpose."""


Precondition = Callable[[AppSnapshot], str | None]
"""Checked on a freshly read object before writing: a reason to skip, or None to go ahead."""


@dataclass(frozen=True, slots=True)
class ScaleIntent:
    """Run ``target`` executors, by ``actuation``; ``at`` is the decision's time. All of it is
    written with the change (the scale record), so a restarted operator knows when its cooldown
    began, from what count and why, and which decision it was."""

    target: int
    actuation: Actuation
    at: float
    previous: int | None = None
    controller: str | None = None
    decision_id: str | None = None

    def record(self) -> ScaleRecord:
        return ScaleRecord(
            at=self.at,
            target=self.target,
            previous=self.previous,
            actuation=self.actuation,
            controller=self.controller,
            decision_id=self.decision_id or decision_id("", self.at, self.previous, self.target),
        )


class Actuator(Protocol):
    """Applies intents to one application, when ``precondition`` allows on a fresh read; retries
    conflicts with a fresh object; never raises."""

    def scale(
        self, key: AppKey, intent: ScaleIntent, precondition: Precondition
    ) -> ActuationResult: ...

    def set_weights(
        self, key: AppKey, weights: Weights, precondition: Precondition, at: float | None = None
    ) -> ActuationResult:
        """``at``: the update's time, written with the weights (the meta record)."""
        ...


class PatchActuator:
    """An :class:`Actuator` that writes intents as merge patches of the SparkApplication: the
    Kubernetes adapter, the simulated API server and the tests' fake cluster only say how a
    patch is applied (:meth:`patch`); what each intent's patch is, is said here once."""

    def patch(
        self, key: AppKey, body: dict[str, Any], precondition: Precondition
    ) -> ActuationResult:
        raise NotImplementedError

    def scale(
        self, key: AppKey, intent: ScaleIntent, precondition: Precondition
    ) -> ActuationResult:
        """``spec.executor.instances`` (restart) or the in-place target annotation, with the
        scale record in the same patch."""
        return self.patch(key, scale_patch(intent.record(), intent.actuation), precondition)

    def set_weights(
        self, key: AppKey, weights: Weights, precondition: Precondition, at: float | None = None
    ) -> ActuationResult:
        return self.patch(key, weights_patch(weights, at), precondition)


class StateStoreError(RuntimeError):
    """The state store cannot be read or written; the message says why."""


class StateStore(Protocol):
    def load_all(self) -> dict[AppKey, AppState]:
        """Every stored state (raise StateStoreError when they cannot be listed)."""
        ...

    def save(self, app: AppSnapshot, state: AppState) -> None:
        """Create or update the application's state (raise StateStoreError on failure)."""
        ...


class EventSink(Protocol):
    def emit(self, app: AppSnapshot, event: AppEvent) -> None:
        """Record an event on the application (asynchronously; never raises)."""
        ...


class BudgetSink(Protocol):
    """Where an ExecutorBudget's status and events go (the Kubernetes adapter patches the
    ``status`` subresource and posts Events; never raises)."""

    def status(self, budget: BudgetRef, status: Mapping[str, Any]) -> None: ...

    def event(self, budget: BudgetRef, event: AppEvent) -> None: ...

    def limited(self, budget: BudgetRef, app: AppKey, wanted: int, got: int) -> None:
        """An application got fewer executors than it wanted (counted in the metrics)."""
        ...


class NullBudgetSink:
    """For loops without budgets (evaluation of one application, tests)."""

    def status(self, budget: BudgetRef, status: Mapping[str, Any]) -> None:
        pass

    def event(self, budget: BudgetRef, event: AppEvent) -> None:
        pass

    def limited(self, budget: BudgetRef, app: AppKey, wanted: int, got: int) -> None:
        pass


class BudgetSource(Protocol):
    def list(self) -> list[Mapping[str, Any]] | None:
        """Every ExecutorBudget object, or None when its CRD is not installed (no budgets);
        raise when they cannot be listed now (scale-ups then wait)."""
        ...


@dataclass(frozen=True, slots=True)
class BudgetRef:
    """The ExecutorBudget object a status or event is about."""

    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class DecisionRecord:
    """One application's decision in one cycle (also for holds)."""

    current: int
    target: int
    proposed: int
    controller: str
    mode: str
    seconds: float
    metrics: SystemMetrics | None = None
    """What the decision was made on (None for records without an observation)."""
    excluded: bool = False
    """Made inside an excluded period (``auto`` only recommended)."""

    @property
    def direction(self) -> str:
        return direction(self.current, self.target)


@dataclass(frozen=True)
class CycleSummary:
    apps: int
    managed: int
    decided: int
    changed: int
    unavailable: int
    queries: int
    seconds: float
    prometheus_error: str | None = None
    query_errors: Mapping[str, str] = field(default_factory=dict)
    skipped: str | None = None
    """Why the whole cycle made no decision (e.g. the state store could not be read)."""
    failed: Mapping[str, int] = field(default_factory=dict)
    """Steps that raised this cycle, by stage (see ``pipeline.STAGES``); each was isolated to its
    application (or, for ``collect``, made every application hold). Telemetry counts them
    from here."""


class Telemetry(Protocol):
    """The operator's own metrics (``hrl_autoscaler_*``)."""

    def app_seen(
        self, key: AppKey, settings: AppSettings, weights: Weights, current: int
    ) -> None: ...

    def decision(self, key: AppKey, record: DecisionRecord) -> None: ...

    def unavailable(self, key: AppKey, reason: str | None) -> None: ...

    def fallback(self, key: AppKey) -> None: ...

    def meta(self, key: AppKey, objective: str, score: float) -> None: ...

    def scaled(self, key: AppKey, current: int, target: int, actuation: str) -> None:
        """A scaling action was written to the SparkApplication (not a hold, not a skip)."""
        ...

    def weights_updated(self, key: AppKey, objective: str) -> None:
        """The meta-controller put new weights in force (annotations, or the state in
        recommend mode)."""
        ...

    def actuation_error(self, key: AppKey) -> None: ...

    def cycle(self, summary: CycleSummary) -> None: ...

    def forget(self, key: AppKey) -> None: ...


class MetaActor(Protocol):
    def weights(self, obs: np.ndarray) -> Weights: ...


@dataclass
class LoopContext:
    """What every step of the loop reads its settings from and writes to (one per operator)."""

    settings: OperatorSettings
    params: SimParams
    """The policy's training parameters (observation scale, restart downtime)."""
    actuator: Actuator
    events: EventSink
    telemetry: Telemetry
    budget_sink: BudgetSink = field(default_factory=NullBudgetSink)
