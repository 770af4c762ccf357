"""The operator's decision loop: collect -> observe -> decide -> guard -> actuate -> report.

One cycle decides for every managed application at once: the metrics come from one batch of
queries, then each application goes through the same steps as the evaluation's
:class:`~hrl_autoscaler.runtime.policies.controllers.HRLController` (the PPO policy under the
application's weights, behind the same guardrails; every ``meta_interval`` the TD3 actor
retunes the weights from the window's statistics). What the operator adds is what a cluster
needs: holding when metrics are missing or stale, DS2 when the observation leaves the policy's
training range, the three modes, two actuation paths, events, state that survives restarts.

Pure: the outside world comes in through narrow interfaces (:class:`Clock`,
:class:`MetricsSource`, :class:`Actuator`, :class:`StateStore`, :class:`EventSink`,
:class:`Telemetry`), so tests drive a cycle with a fake clock and scripted metrics.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import numpy as np
from pydantic import ValidationError

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.research.baselines.ds2 import DS2Controller
from hrl_autoscaler.runtime.core.annotations import (
    TARGET_ANNOTATION,
    WEIGHT_ANNOTATIONS,
    AppSettings,
    last_scale_annotation,
    parse_last_scale,
    resolve_settings,
    weight_annotations,
)
from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.capacity import (
    measured_executor_rate,
    observation_scale,
    smoothed,
)
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.guardrails import Guardrails, GuardrailSettings
from hrl_autoscaler.runtime.core.meta import WindowAccumulator, build_meta_observation
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.observation import build_observation, out_of_range_fields
from hrl_autoscaler.runtime.core.reporting import (
    AppEvent,
    Reason,
    decision_event,
    direction,
    simple_event,
    weights_text,
)
from hrl_autoscaler.runtime.core.sampling import (
    AppSample,
    Collection,
    build_metrics,
    first_batch_pending,
    unavailable_reason,
)
from hrl_autoscaler.runtime.core.sloguard import SloGuard, SloGuardSettings
from hrl_autoscaler.runtime.core.weights import Weights

log = logging.getLogger("hrl_autoscaler.pipeline")

_T = TypeVar("_T")

#: A MetricsUnavailable event only after this many cycles in a row without usable metrics: a
#: freshly (re)started driver is not scraped yet for a moment, which is no news to anyone.
UNAVAILABLE_CYCLES_BEFORE_EVENT = 2

#: The steps of a cycle, as counted in ``hrl_autoscaler_cycle_failures_total{stage}``:
#: ``prepare`` (settings, runtime), ``report`` (per-application telemetry), ``collect`` (the
#: batched metrics), ``decide`` (the fast loop and its actuation), ``meta`` (the slow loop),
#: ``persist`` (the state ConfigMap).
STAGES = ("prepare", "report", "collect", "decide", "meta", "persist")


# -- the interfaces to the outside world ---------------------------------------------------------


class Clock(Protocol):
    def now(self) -> float:
        """Unix time in seconds (wall clock: cooldowns must survive an operator restart)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


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


class Actuator(Protocol):
    def patch(
        self, key: AppKey, body: dict[str, Any], precondition: Precondition
    ) -> ActuationResult:
        """Merge-patch ``body`` into the SparkApplication when ``precondition`` allows;
        retry on conflicts with a fresh object; never raise."""
        ...


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
    """Steps that raised this cycle, by stage (see :data:`STAGES`); each was isolated to its
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


class ExecutorPolicy(Protocol):
    def executors(self, obs: np.ndarray) -> int: ...


class MetaActor(Protocol):
    def weights(self, obs: np.ndarray) -> Weights: ...


# -- per-application memory ---------------------------------------------------------------------


def slo_guard_settings(settings: OperatorSettings) -> SloGuardSettings:
    g = settings.guardrails
    return SloGuardSettings(g.slo_guard, g.slo_guard_latency_factor, g.slo_guard_cycles)


def guardrail_settings(app: AppSettings, settings: OperatorSettings) -> GuardrailSettings:
    g = settings.guardrails
    return GuardrailSettings(
        min_executors=app.min_executors,
        max_executors=app.max_executors,
        max_step=g.max_step,
        cooldown_s=g.restart_cooldown_s if app.actuation == "restart" else g.in_place_cooldown_s,
        scale_down_confirmations=g.scale_down_confirmations,
        deadband=g.deadband,
    )


class AppRuntime:
    """What the loop keeps in memory for one application between cycles."""

    def __init__(
        self,
        snapshot: AppSnapshot,
        state: AppState,
        rate_eps: float,
        slo_guard: SloGuardSettings | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.uid = snapshot.uid
        self.state = state
        self.state.app_uid = snapshot.uid
        self.rate_eps = state.executor_rate_eps or rate_eps
        self.settings: AppSettings | None = None
        self.last_good: AppSettings | None = None
        if state.last_good_settings:
            try:
                self.last_good = AppSettings.model_validate(state.last_good_settings)
            except ValidationError as exc:
                log.warning("%s: stored last good settings ignored: %s", snapshot.key, exc)
        self.resolved_for: Mapping[str, str] | None = None
        self.reported_errors: tuple[str, ...] = ()
        self.guardrails: Guardrails | None = None
        self.guard_key: tuple[object, ...] | None = None
        self.ds2 = DS2Controller()
        self.slo_guard = SloGuard(slo_guard)
        self.window: WindowAccumulator | None = None
        self.window_key: tuple[float, float] | None = None
        self.unavailable: str | None = None
        self.unavailable_cycles = 0
        self.reported_unavailable: str | None = None
        self.first_batch_seen_for: str | None = None
        """The run (application id, "" when unknown) whose first micro-batch has completed."""
        self.first_batch_wait_since: float | None = None
        self.in_fallback = False
        self.meta_missing_reported = False
        self.last_recommendation: int | None = None
        self.saved_json: str | None = None

    @property
    def key(self) -> AppKey:
        return self.snapshot.key

    @property
    def active_settings(self) -> AppSettings:
        assert self.settings is not None, "resolve settings first"
        return self.settings

    def weights(self) -> Weights:
        """The weights in force. Meta weights stay in the state when nothing may be patched
        (recommend mode); otherwise the annotations (or the preset) are the truth."""
        s = self.active_settings
        if s.weight_policy == "meta" and s.mode == "recommend" and self.state.weights:
            return Weights.of(*self.state.weights)
        return s.weights()


# -- the loop ---------------------------------------------------------------------------------


class Autoscaler:
    """Decides for every managed SparkApplication, once per :meth:`run_cycle`.

    :meth:`upsert` and :meth:`remove` are fed by the watch (any thread); :meth:`run_cycle` runs
    in one thread at a time and never raises for one application's problem.
    """

    def __init__(
        self,
        settings: OperatorSettings,
        policy: ExecutorPolicy,
        meta_actors: Mapping[str, MetaActor],
        source: MetricsSource,
        actuator: Actuator,
        store: StateStore,
        events: EventSink,
        telemetry: Telemetry,
        clock: Clock | None = None,
        params: SimParams | None = None,
        meta_errors: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.meta_actors = dict(meta_actors)
        self.meta_errors = dict(meta_errors or {})
        self.source = source
        self.actuator = actuator
        self.store = store
        self.events = events
        self.telemetry = telemetry
        self.clock = clock or SystemClock()
        self.params = params or SimParams()
        self._lock = threading.Lock()
        self._apps: dict[AppKey, AppSnapshot] = {}
        self._runtimes: dict[AppKey, AppRuntime] = {}
        self._stored: dict[AppKey, AppState] | None = None
        self._failing: dict[tuple[AppKey, str], str] = {}
        """(application, stage) -> the error its step last failed with (reported once)."""

    # -- fed by the watch --------------------------------------------------------------------

    def upsert(self, snapshot: AppSnapshot) -> None:
        """A SparkApplication was listed, added or modified (disabled ones are removed)."""
        if not snapshot.enabled:
            self.remove(snapshot.key)
            return
        with self._lock:
            known = self._apps.get(snapshot.key)
            if known is None or not _older(snapshot, known):
                self._apps[snapshot.key] = snapshot

    def remove(self, key: AppKey) -> None:
        """Deleted, or no longer labelled ``hrl-autoscaler.io/enabled: "true"``."""
        with self._lock:
            known = self._apps.pop(key, None) is not None
        if known:
            log.info("%s: no longer managed", key)

    def reload_state(self) -> None:
        """Forget in-memory state and read the stored one again (after a leadership change,
        another replica may have acted meanwhile)."""
        with self._lock:
            self._stored = None
            self._runtimes.clear()

    @property
    def apps(self) -> list[AppKey]:
        with self._lock:
            return sorted(self._apps)

    # -- one cycle ---------------------------------------------------------------------------

    def run_cycle(self) -> CycleSummary:
        started = time.perf_counter()
        now = self.clock.now()
        with self._lock:
            snapshots = list(self._apps.values())
        present = {s.key for s in snapshots}
        for key in [k for k in self._runtimes if k not in present]:
            del self._runtimes[key]
            self.telemetry.forget(key)
        for failing in [f for f in self._failing if f[0] not in present]:
            del self._failing[failing]
        if self._stored is None:
            try:
                self._stored = self.store.load_all()
            except StateStoreError as exc:
                log.warning("holding every application: state store not readable (%s)", exc)
                summary = CycleSummary(
                    len(snapshots), 0, 0, 0, 0, 0, time.perf_counter() - started, skipped=str(exc)
                )
                self.telemetry.cycle(summary)
                return summary
            log.info("loaded the state of %d applications", len(self._stored))
        failed: dict[str, int] = {}
        runtimes: list[AppRuntime] = []
        managed: list[AppRuntime] = []
        for snapshot in snapshots:
            runtime = self._step(snapshot, "prepare", failed, self._runtime_for, snapshot)
            if runtime is None:
                continue
            runtimes.append(runtime)
            self._step(runtime.snapshot, "report", failed, self._report_seen, runtime)
            if runtime.active_settings.mode != "paused":
                managed.append(runtime)
        collection = self._collect(managed, failed)
        decided = changed = unavailable = 0
        for runtime in managed:
            try:
                record = self._fast(runtime, collection, now)
            except Exception as exc:  # one application's surprise must not stop the others
                self._failed(runtime.snapshot, "decide", exc, failed)
                continue
            self._recovered(runtime.key, "decide")
            if record is None:
                unavailable += runtime.unavailable is not None
                continue
            decided += 1
            changed += record.target != record.current and record.mode == "auto"
        for runtime in managed:
            self._step(runtime.snapshot, "meta", failed, self._slow, runtime, now)
        for runtime in runtimes:
            self._step(runtime.snapshot, "persist", failed, self._persist, runtime)
        summary = CycleSummary(
            apps=len(snapshots),
            managed=len(managed),
            decided=decided,
            changed=changed,
            unavailable=unavailable,
            queries=collection.queries,
            seconds=time.perf_counter() - started,
            prometheus_error=collection.error,
            query_errors=dict(collection.query_errors),
            failed=failed,
        )
        self.telemetry.cycle(summary)
        return summary

    # -- isolation ---------------------------------------------------------------------------

    def _step(
        self,
        app: AppSnapshot,
        stage: str,
        failed: dict[str, int],
        step: Callable[..., _T],
        *args: Any,
    ) -> _T | None:
        """Run one application's step; a raise is that application's problem alone."""
        try:
            result = step(*args)
        except Exception as exc:
            self._failed(app, stage, exc, failed)
            return None
        self._recovered(app.key, stage)
        return result

    def _failed(self, app: AppSnapshot, stage: str, exc: Exception, failed: dict[str, int]) -> None:
        """Count the failure; log it with its traceback and tell the application once per
        distinct error (a failing step repeats every cycle: one line each, not a traceback)."""
        failed[stage] = failed.get(stage, 0) + 1
        error = f"{type(exc).__name__}: {exc}"[:500]
        if self._failing.get((app.key, stage)) == error:
            log.debug("%s: %s step still failing: %s", app.key, stage, error)
            return
        self._failing[(app.key, stage)] = error
        log.error(
            "%s: %s step failed (%s); holding this application, the others go on",
            app.key,
            stage,
            error,
            exc_info=exc,
        )
        with contextlib.suppress(Exception):
            self.events.emit(
                app,
                simple_event(
                    Reason.STEP_FAILED,
                    stage=stage,
                    error=error,
                    action="holding this application; the others are unaffected",
                ),
            )

    def _recovered(self, key: AppKey, stage: str) -> None:
        if self._failing.pop((key, stage), None) is not None:
            log.info("%s: %s step works again", key, stage)

    def _collect(self, managed: list[AppRuntime], failed: dict[str, int]) -> Collection:
        """The cycle's metrics; a collector that raises (it must not) makes every app hold."""
        if not managed:
            return Collection({})
        try:
            return self.source.collect([r.snapshot for r in managed])
        except Exception as exc:
            failed["collect"] = failed.get("collect", 0) + 1
            log.error("collecting metrics failed; every application holds", exc_info=exc)
            return Collection.failed(f"collector failed: {type(exc).__name__}: {exc}"[:500])

    def _report_seen(self, runtime: AppRuntime) -> None:
        settings = runtime.active_settings
        current = runtime.snapshot.current_executors(settings.actuation == "in-place")
        self.telemetry.app_seen(runtime.key, settings, runtime.weights(), current)

    # -- settings ----------------------------------------------------------------------------

    def _runtime_for(self, snapshot: AppSnapshot) -> AppRuntime:
        runtime = self._runtimes.get(snapshot.key)
        if runtime is None or runtime.uid != snapshot.uid:
            stored = (self._stored or {}).get(snapshot.key)
            if stored is not None and stored.app_uid not in (None, snapshot.uid):
                log.info(
                    "%s: stored state belongs to a deleted namesake; starting afresh", snapshot.key
                )
                stored = None
            runtime = AppRuntime(
                snapshot,
                stored or AppState(),
                self.settings.default_executor_rate_eps,
                slo_guard_settings(self.settings),
            )
            _adopt_last_scale(runtime, snapshot, self.clock.now())
            if stored is not None:
                runtime.saved_json = stored.to_json()
                log.info(
                    "%s: resuming from stored state (last change at %s, %d decisions)",
                    snapshot.key,
                    _clock_text(stored.last_change_at),
                    len(stored.decisions),
                )
            self._runtimes[snapshot.key] = runtime
        runtime.snapshot = snapshot
        if runtime.resolved_for != snapshot.annotations:
            self._resolve(runtime)
        return runtime

    def _resolve(self, runtime: AppRuntime) -> None:
        snapshot = runtime.snapshot
        resolution = resolve_settings(
            snapshot.annotations, self.settings.defaults, runtime.last_good
        )
        runtime.resolved_for = snapshot.annotations
        if resolution.valid:
            runtime.last_good = resolution.settings
            runtime.state.last_good_settings = resolution.settings.model_dump()
        reported = tuple(str(e) for e in resolution.errors)
        if reported and reported != runtime.reported_errors:
            kept = "last good value" if runtime.last_good else "default"
            for error in resolution.errors:
                log.warning("%s: %s; keeping its %s", snapshot.key, error, kept)
                self.events.emit(
                    snapshot,
                    simple_event(
                        Reason.INVALID_ANNOTATION,
                        annotation=error.annotation,
                        value=error.value,
                        accepted=error.accepted,
                        action=f"keeping its {kept}; the other annotations apply",
                        settings=resolution.settings.describe(),
                    ),
                )
        runtime.reported_errors = reported
        previous = runtime.settings
        runtime.settings = resolution.settings
        if previous != resolution.settings:
            self._configure(runtime, previous)

    def _configure(self, runtime: AppRuntime, previous: AppSettings | None) -> None:
        """(Re)build what depends on the settings: guardrails, DS2, the meta window."""
        s = runtime.active_settings
        guard_key = (*s.guardrail_key(),)
        if guard_key != runtime.guard_key:
            guardrails = Guardrails(guardrail_settings(s, self.settings))
            if runtime.guardrails is not None:
                guardrails.carry_over(runtime.guardrails)
            elif runtime.state.last_change_at is not None:
                guardrails.last_change_s = runtime.state.last_change_at
            runtime.guardrails = guardrails
            runtime.guard_key = guard_key
            runtime.ds2.reset(
                ControlContext(
                    s.min_executors,
                    s.max_executors,
                    self.settings.decision_interval_s,
                    s.actuation,
                    self.params.restart_downtime_s,
                )
            )
        window_key = (s.cost_per_executor_hour, s.latency_slo_ms)
        if window_key != runtime.window_key:
            runtime.window = WindowAccumulator(s.cost_per_executor_hour, s.latency_slo_ms)
            runtime.window_key = window_key
        if previous is not None:
            log.info("%s: settings now %s", runtime.key, s.describe())

    # -- fast loop ---------------------------------------------------------------------------

    def _fast(
        self, runtime: AppRuntime, collection: Collection, now: float
    ) -> DecisionRecord | None:
        s = runtime.active_settings
        snapshot = runtime.snapshot
        in_place = s.actuation == "in-place"
        current = snapshot.current_executors(in_place)
        if not snapshot.running:
            log.debug(
                "%s: holding while the application is %s", runtime.key, snapshot.state or "new"
            )
            return None
        reason = unavailable_reason(runtime.key, collection, now, self.settings.max_metric_age_s)
        if reason is not None:
            runtime.unavailable_cycles += 1
            kind = reason.split(":", 1)[0]  # "stale: 95 s old" changes every cycle; its kind not
            if (
                runtime.unavailable_cycles >= UNAVAILABLE_CYCLES_BEFORE_EVENT
                and runtime.reported_unavailable != kind
            ):
                runtime.reported_unavailable = kind
                log.warning("%s: holding at %d executors: %s", runtime.key, current, reason)
                self.events.emit(
                    snapshot,
                    simple_event(
                        Reason.METRICS_UNAVAILABLE,
                        executors=str(current),
                        action="hold",
                        reason=reason,
                    ),
                )
            runtime.unavailable = reason
            self.telemetry.unavailable(runtime.key, reason)
            return None
        if runtime.unavailable is not None:
            if runtime.reported_unavailable is not None:
                log.info("%s: metrics available again; deciding", runtime.key)
            runtime.unavailable = runtime.reported_unavailable = None
            runtime.unavailable_cycles = 0
            self.telemetry.unavailable(runtime.key, None)
        if self._awaiting_first_batch(runtime, collection.samples[runtime.key], current, now):
            return None

        started = time.perf_counter()
        metrics = build_metrics(collection.samples[runtime.key], current, False, now)
        runtime.rate_eps = smoothed(
            runtime.rate_eps,
            measured_executor_rate(metrics, self.params),
            self.settings.capacity_smoothing,
        )
        runtime.state.set_rate(runtime.rate_eps)
        scale = observation_scale(runtime.rate_eps, self.params)
        weights = runtime.weights()
        if s.weight_policy == "meta" and runtime.window is not None:
            runtime.window.add(metrics)
        outside = out_of_range_fields(metrics, weights, scale, self.settings.fallback_tolerance)
        if outside:
            controller = "ds2"
            proposed = runtime.ds2.decide(metrics, weights)
            if not runtime.in_fallback:
                self._report_fallback(runtime, metrics, outside, scale.rate_scale_eps)
            runtime.in_fallback = True
        else:
            if runtime.in_fallback:
                log.info(
                    "%s: observation back in the training range; the policy decides", runtime.key
                )
            runtime.in_fallback = False
            runtime.ds2.true_rate_per_executor(metrics)  # keep DS2's estimate warm
            controller = "ppo"
            proposed = self.policy.executors(build_observation(metrics, weights, scale))
        was_guarding = runtime.slo_guard.active
        if runtime.slo_guard.observe(metrics.latency_ms, s.latency_slo_ms):
            rescue = runtime.slo_guard.apply(proposed, runtime.ds2.required_executors(metrics))
            if rescue.raised:
                if not was_guarding:
                    self._report_slo_guard(runtime, metrics, proposed, rescue.executors)
                controller, proposed = f"{controller}+slo-guard", rescue.executors
        elif was_guarding:
            log.info("%s: latency back within the SLO; the SLO guard lets go", runtime.key)
        guardrails = runtime.guardrails
        assert guardrails is not None
        cooldown_origin = guardrails.last_change_s
        guarded = guardrails.apply(proposed, current, now)
        if s.mode != "auto":
            guardrails.last_change_s = cooldown_origin  # a recommendation changes nothing
        record = DecisionRecord(
            current,
            guarded.target,
            proposed,
            controller,
            s.mode,
            time.perf_counter() - started,
            metrics,
        )
        self.telemetry.decision(runtime.key, record)
        if guarded.target == current:
            log.debug(
                "%s: hold at %d (%s proposed %d%s)",
                runtime.key,
                current,
                controller,
                proposed,
                f"; {'; '.join(guarded.reasons)}" if guarded.reasons else "",
            )
            return record
        event = decision_event(
            Reason.SCALING_DECISION if s.mode == "auto" else Reason.SCALING_RECOMMENDATION,
            current,
            guarded.target,
            proposed,
            controller,
            s.mode,
            s.actuation,
            weights,
            metrics,
            guarded.reasons,
        )
        if s.mode == "recommend":
            if runtime.last_recommendation != guarded.target:
                log.info(
                    "%s: recommend %d -> %d (%s)", runtime.key, current, guarded.target, controller
                )
                self.events.emit(snapshot, event)
                self._remember_decision(runtime, now, event)
            runtime.last_recommendation = guarded.target
            return record
        self._actuate(runtime, current, guarded.target, event, cooldown_origin, now)
        return record

    def _awaiting_first_batch(
        self, runtime: AppRuntime, sample: AppSample, current: int, now: float
    ) -> bool:
        """Hold a new run until its first micro-batch, at most ``first_batch_grace_s``.

        Once per run (application id): a restart brings the zeros back, an idle stream later
        in the run does not (its gauges keep the last batch's latency).
        """
        run = runtime.snapshot.app_id or ""
        if runtime.first_batch_seen_for == run:
            return False
        grace = self.settings.first_batch_grace_s
        if not first_batch_pending(sample) or grace <= 0:
            if runtime.first_batch_wait_since is not None:
                log.info(
                    "%s: first micro-batch completed after %.0f s; deciding",
                    runtime.key,
                    now - runtime.first_batch_wait_since,
                )
            runtime.first_batch_seen_for, runtime.first_batch_wait_since = run, None
            return False
        if runtime.first_batch_wait_since is None:
            runtime.first_batch_wait_since = now
            log.info(
                "%s: holding at %d executors until the run's first micro-batch completes "
                "(Spark reports rates and latency 0 until then; at most %.0f s)",
                runtime.key,
                current,
                grace,
            )
        waited = now - runtime.first_batch_wait_since
        if waited < grace:
            return True
        log.warning(
            "%s: no micro-batch completed in %.0f s (first_batch_grace_s); deciding on the "
            "executor metrics alone",
            runtime.key,
            waited,
        )
        self.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.FIRST_BATCH_OVERDUE,
                executors=str(current),
                waited_s=f"{waited:.0f}",
                grace_s=f"{grace:.0f}",
                action="deciding on executor metrics; input rate and latency read 0",
            ),
        )
        runtime.first_batch_seen_for, runtime.first_batch_wait_since = run, None
        return False

    def _report_fallback(
        self, runtime: AppRuntime, metrics: SystemMetrics, outside: list[str], scale_eps: float
    ) -> None:
        detail = {
            "input_rate": f"{metrics.input_rate_eps:.0f} eps vs capacity {scale_eps:.0f} eps",
            "executors": f"{metrics.executors} executors vs {self.params.max_executors}",
            "cpu_utilisation": f"{metrics.cpu_utilisation:.2f}",
            "memory_utilisation": f"{metrics.memory_utilisation:.2f}",
        }
        log.warning(
            "%s: observation outside the policy's training range (%s); DS2 decides",
            runtime.key,
            ", ".join(outside),
        )
        self.telemetry.fallback(runtime.key)
        self.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.FALLBACK,
                controller="ds2",
                fields=",".join(outside),
                detail="; ".join(detail.get(f, f) for f in outside),
            ),
        )

    def _report_slo_guard(
        self, runtime: AppRuntime, metrics: SystemMetrics, proposed: int, required: int
    ) -> None:
        s = runtime.active_settings
        cfg = runtime.slo_guard.settings
        log.warning(
            "%s: latency %.0f ms above %.0fx the %.0f ms SLO for %d decisions and the policy "
            "proposed %d executors; the SLO guard raises it to DS2's %d",
            runtime.key,
            metrics.latency_ms,
            cfg.latency_factor,
            s.latency_slo_ms,
            runtime.slo_guard.breaches,
            proposed,
            required,
        )
        self.telemetry.fallback(runtime.key)
        self.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.FALLBACK,
                controller="slo-guard",
                fields="latency_ms",
                detail=(
                    f"latency {metrics.latency_ms:.0f} ms > {cfg.latency_factor:g}x SLO "
                    f"{s.latency_slo_ms:.0f} ms for {runtime.slo_guard.breaches} decisions; "
                    f"policy proposed {proposed}, DS2 sizes {required}"
                ),
            ),
        )

    def _precondition(
        self, runtime: AppRuntime, expected: int | None, need_meta: bool = False
    ) -> Precondition:
        """Still the same decision on the fresh object? (mode, actuation, executor count)."""
        settings = runtime.active_settings

        def check(fresh: AppSnapshot) -> str | None:
            if not fresh.enabled:
                return "the application is no longer enabled"
            now_settings = resolve_settings(
                fresh.annotations, self.settings.defaults, runtime.last_good
            ).settings
            if now_settings.mode != "auto":
                return f"mode changed to {now_settings.mode}"
            if now_settings.actuation != settings.actuation:
                return f"actuation changed to {now_settings.actuation}"
            if need_meta and now_settings.weight_policy != "meta":
                return f"weight-policy changed to {now_settings.weight_policy}"
            if expected is not None:
                seen = fresh.current_executors(settings.actuation == "in-place")
                if seen != expected:
                    return f"executors changed to {seen} meanwhile"
            return None

        return check

    def _actuate(
        self,
        runtime: AppRuntime,
        current: int,
        target: int,
        event: AppEvent,
        cooldown_origin: float,
        now: float,
    ) -> None:
        s = runtime.active_settings
        annotations = last_scale_annotation(now, target)  # the cooldown's origin, same write
        body: dict[str, Any] = {"metadata": {"annotations": annotations}}
        if s.actuation == "restart":
            body["spec"] = {"executor": {"instances": target}}
        else:
            annotations[TARGET_ANNOTATION] = str(target)
        result = self.actuator.patch(runtime.key, body, self._precondition(runtime, current))
        guardrails = runtime.guardrails
        assert guardrails is not None
        if not result.applied:
            guardrails.last_change_s = cooldown_origin  # nothing changed: no cooldown
            if result.error:
                log.warning(
                    "%s: scaling %d -> %d failed: %s", runtime.key, current, target, result.detail
                )
                self.telemetry.actuation_error(runtime.key)
                failed = AppEvent(Reason.SCALING_FAILED, (*event.fields, ("error", result.detail)))
                self.events.emit(runtime.snapshot, failed)
            else:
                log.info(
                    "%s: scaling %d -> %d skipped: %s", runtime.key, current, target, result.detail
                )
            return
        runtime.state.last_change_at = now
        runtime.state.last_target = target
        self.telemetry.scaled(runtime.key, current, target, s.actuation)
        if result.snapshot is not None:
            runtime.snapshot = result.snapshot
            self._replace_if_newer(result.snapshot)
        log.info("%s: %s", runtime.key, event.message)
        self.events.emit(runtime.snapshot, event)
        self._remember_decision(runtime, now, event)

    def _replace_if_newer(self, snapshot: AppSnapshot) -> None:
        """Use the patched object until the watch delivers it (or something newer)."""
        with self._lock:
            known = self._apps.get(snapshot.key)
            if known is not None and not _older(snapshot, known):
                self._apps[snapshot.key] = snapshot

    def _remember_decision(self, runtime: AppRuntime, now: float, event: AppEvent) -> None:
        entry: dict[str, Any] = {"at": round(now, 3), "reason": event.reason.value}
        entry.update(dict(event.fields))
        runtime.state.remember("decisions", entry, self.settings.history_size)

    # -- slow loop ---------------------------------------------------------------------------

    def _slow(self, runtime: AppRuntime, now: float) -> None:
        s = runtime.active_settings
        window = runtime.window
        assert window is not None
        if s.weight_policy != "meta":
            window.clear()
            runtime.state.meta_window_started_at = None
            return
        started = runtime.state.meta_window_started_at
        if started is None:
            runtime.state.meta_window_started_at = now
            return
        if now - started < self.settings.meta_interval_s:
            return
        if len(window) < self.settings.meta_min_samples:
            return  # refill after an outage or an operator restart
        stats = window.stats()
        max_cost = self.params.max_executors * s.cost_per_executor_hour
        score = stats.objective(s.objective, max_cost)
        self.telemetry.meta(runtime.key, s.objective, score)
        before = runtime.weights()
        actor = self.meta_actors.get(s.objective)
        window.clear()
        runtime.state.meta_window_started_at = now
        if actor is None:
            if not runtime.meta_missing_reported:
                why = self.meta_errors.get(s.objective, f"no meta-controller for {s.objective}")
                log.warning("%s: weights kept at %s: %s", runtime.key, before, why)
                self.events.emit(
                    runtime.snapshot,
                    simple_event(
                        Reason.FALLBACK,
                        controller="fixed-weights",
                        objective=s.objective,
                        weights=weights_text(before),
                        detail=why,
                    ),
                )
                runtime.meta_missing_reported = True
            return
        obs = build_meta_observation(
            stats,
            before,
            observation_scale(runtime.rate_eps, self.params).rate_scale_eps,
            s.latency_slo_ms,
            max_cost,
        )
        after = actor.weights(obs)
        applied = s.mode == "auto"
        if applied:
            written = weight_annotations(after)
            result = self.actuator.patch(
                runtime.key,
                {"metadata": {"annotations": written}},
                self._precondition(runtime, None, need_meta=True),
            )
            if not result.applied:
                log.warning("%s: weights %s not written: %s", runtime.key, after, result.detail)
                if result.error:
                    self.telemetry.actuation_error(runtime.key)
                    self._weights_not_applied(runtime, before, after, result.detail)
                return
            patched = result.snapshot or replace(
                runtime.snapshot, annotations={**runtime.snapshot.annotations, **written}
            )
            runtime.snapshot = patched
            self._replace_if_newer(patched)
            self._resolve(runtime)  # what is in force is what the patched object says
            in_force = runtime.weights()
            wanted = Weights.of(*(float(written[a]) for a in WEIGHT_ANNOTATIONS))
            if not _same_weights(in_force, wanted):
                self._weights_not_applied(
                    runtime,
                    in_force,
                    after,
                    f"the annotations resolve to {weights_text(in_force)} "
                    f"({runtime.active_settings.describe()})",
                )
                return
        else:
            runtime.state.weights = after.as_tuple()
        event = simple_event(
            Reason.WEIGHTS_UPDATED,
            weights=f"{weights_text(before)}->{weights_text(after)}",
            objective=s.objective,
            score=f"{score:.4f}",
            applied=str(applied).lower(),
            steps=str(stats.steps),
            mean_latency_ms=f"{stats.mean_latency_ms:.0f}",
            p95_latency_ms=f"{stats.p95_latency_ms:.0f}",
            slo_violation=f"{stats.slo_violation:.3f}",
            mean_cost_per_hour=f"{stats.mean_cost_per_hour:.2f}",
            mean_load_eps=f"{stats.mean_load_eps:.0f}",
        )
        log.info("%s: %s", runtime.key, event.message)
        self.telemetry.weights_updated(runtime.key, s.objective)
        self.events.emit(runtime.snapshot, event)
        entry: dict[str, Any] = {"at": round(now, 3), **dict(event.fields)}
        runtime.state.remember("meta", entry, self.settings.history_size)

    def _weights_not_applied(
        self, runtime: AppRuntime, in_force: Weights, wanted: Weights, why: str
    ) -> None:
        log.warning(
            "%s: meta weights %s not in force (still %s): %s", runtime.key, wanted, in_force, why
        )
        self.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.WEIGHTS_NOT_APPLIED,
                wanted=weights_text(wanted),
                in_force=weights_text(in_force),
                applied="false",
                detail=why,
            ),
        )

    # -- state ------------------------------------------------------------------------------

    def _persist(self, runtime: AppRuntime) -> None:
        text = runtime.state.to_json()
        if text == runtime.saved_json:
            return
        try:
            self.store.save(runtime.snapshot, runtime.state)
        except StateStoreError as exc:
            log.warning("%s: state not saved (retrying next cycle): %s", runtime.key, exc)
            return
        runtime.saved_json = text


#: Slack when comparing the scale record with the stored state (it is written to 1 ms) and
#: with the clock (a record from the future is not ours to trust: it would block scaling).
_SCALE_RECORD_SLACK_S = 1.0
_SCALE_RECORD_FUTURE_S = 60.0


def _adopt_last_scale(runtime: AppRuntime, snapshot: AppSnapshot, now: float) -> None:
    """A scaling action newer than the stored state (the operator died between the patch and
    the state write) still sets the cooldown's origin."""
    last = parse_last_scale(snapshot.annotations)
    if last is None:
        return
    at, target = last
    if at > now + _SCALE_RECORD_FUTURE_S:
        log.warning(
            "%s: ignoring a scale record from the future (%s)", snapshot.key, _clock_text(at)
        )
        return
    stored = runtime.state.last_change_at
    if stored is None or at > stored + _SCALE_RECORD_SLACK_S:
        log.info(
            "%s: a scaling action to %d at %s is newer than the stored state; its cooldown holds",
            snapshot.key,
            target,
            _clock_text(at),
        )
        runtime.state.last_change_at, runtime.state.last_target = at, target


def _same_weights(a: Weights, b: Weights) -> bool:
    """Equal as written to annotations (3 decimals, then normalised again)."""
    return all(abs(x - y) < 2e-3 for x, y in zip(a.as_tuple(), b.as_tuple(), strict=True))


def _older(candidate: AppSnapshot, known: AppSnapshot) -> bool:
    """True when ``candidate`` is an older version of the same object than ``known``.

    The operator's own patch result can overtake the watch, which then delivers an older
    version; resourceVersions are opaque by contract but etcd revisions in practice, and an
    unparsable one is never called older.
    """
    if candidate.uid != known.uid:
        return False
    try:
        return int(candidate.resource_version) < int(known.resource_version)
    except ValueError:
        return False


def _clock_text(at: float | None) -> str:
    if at is None:
        return "never"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
