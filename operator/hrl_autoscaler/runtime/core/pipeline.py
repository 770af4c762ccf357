"""The operator's decision loop: collect -> hold? -> decide -> actuate -> meta -> persist.

One cycle decides for every managed application at once: the metrics come from one batch of
queries, then each application goes through the same steps, each isolated so one
application's surprise cannot stop the others:

- ``prepare``: its runtime and settings (:mod:`~hrl_autoscaler.runtime.core.appruntime`);
- ``report``: its telemetry;
- ``collect``: the batched metrics, for everyone (a failure makes every application hold);
- ``budget``: the ExecutorBudgets' caps, on their own slower interval
  (:mod:`~hrl_autoscaler.runtime.core.budget`);
- ``decide``: availability holds (:mod:`~hrl_autoscaler.runtime.core.holds`), then the one
  decision step within the cap (:mod:`~hrl_autoscaler.runtime.core.fastloop`), then the
  changes written, scale-downs first and scale-ups into the budget's headroom;
- ``meta``: the weights every ``meta_interval_s`` (:mod:`~hrl_autoscaler.runtime.core.slowloop`);
- ``persist``: the state that survives restarts.

Pure: the outside world comes in through the interfaces of
:mod:`~hrl_autoscaler.runtime.core.ports`, so tests drive a cycle with a fake clock and scripted
metrics, and ``evaluate`` drives it on the simulated cluster.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot
from hrl_autoscaler.runtime.core.appruntime import AppRuntime, SettingsResolver
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.budget.controller import BudgetController, BudgetView
from hrl_autoscaler.runtime.core.budget.gate import BudgetGate
from hrl_autoscaler.runtime.core.budget.policies import policy_factory
from hrl_autoscaler.runtime.core.decision import ExecutorPolicy
from hrl_autoscaler.runtime.core.fastloop import FastLoop, PendingScale
from hrl_autoscaler.runtime.core.holds import AvailabilityHolds
from hrl_autoscaler.runtime.core.ports import (
    Actuator,
    BudgetSink,
    BudgetSource,
    Clock,
    CycleSummary,
    EventSink,
    LoopContext,
    MetaActor,
    MetricsSource,
    NullBudgetSink,
    StateStore,
    StateStoreError,
    SystemClock,
    Telemetry,
)
from hrl_autoscaler.runtime.core.reporting import Reason, simple_event
from hrl_autoscaler.runtime.core.sampling import Collection
from hrl_autoscaler.runtime.core.slowloop import SlowLoop

log = logging.getLogger("hrl_autoscaler.pipeline")

_T = TypeVar("_T")

#: The steps of a cycle, as counted in ``hrl_autoscaler_cycle_failures_total{stage}``.
STAGES = ("prepare", "report", "collect", "budget", "decide", "meta", "persist")


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
        budget_sink: BudgetSink | None = None,
        budget_source: BudgetSource | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.store = store
        self.events = events
        self.telemetry = telemetry
        self.clock = clock or SystemClock()
        self.params = params or SimParams()
        self.resolver = SettingsResolver(settings, self.params, policy, events, self.clock)
        self.ctx = LoopContext(
            settings, self.params, actuator, events, telemetry, budget_sink or NullBudgetSink()
        )
        self.budget_source = budget_source
        self.budgets = BudgetController(
            self.params,
            self.ctx.budget_sink,
            policy_factory(self.params),
            horizon_s=self.params.startup_delay_s,
            synced=budget_source is None,
        )
        self._views: dict[AppKey, BudgetView] = {}
        self.last_budget_step_s = 0.0
        """How long the last cycle's budget step took (benchmarks read it)."""
        self.holds = AvailabilityHolds(self.ctx)
        self.fast = FastLoop(self.ctx, self._replace_if_newer)
        self.slow = SlowLoop(
            self.ctx, self._adopt_patched, dict(meta_actors), dict(meta_errors or {})
        )
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
    def actuator(self) -> Actuator:
        return self.ctx.actuator

    @actuator.setter
    def actuator(self, actuator: Actuator) -> None:
        """Swap the actuator (a test's second replica writes to the first's cluster)."""
        self.ctx.actuator = actuator

    @property
    def meta_actors(self) -> dict[str, MetaActor]:
        return self.slow.meta_actors

    @property
    def meta_errors(self) -> dict[str, str]:
        """Why an objective has no meta-controller (reported once per application)."""
        return self.slow.meta_errors

    def runtime(self, key: AppKey) -> AppRuntime | None:
        """What the loop keeps for ``key`` (None before its first cycle)."""
        return self._runtimes.get(key)

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
        views = self._budget_views(runtimes, now, failed)
        gate = BudgetGate(views, runtimes, self.budgets.synced)
        pending: list[PendingScale] = []
        decided = changed = unavailable = 0
        for runtime in managed:
            try:
                sample = self.holds.sample(runtime, collection, now)
                if sample is None:
                    unavailable += runtime.unavailable is not None
                    self._recovered(runtime.key, "decide")
                    continue
                record, scale = self.fast.decide(runtime, sample, now, views.get(runtime.key))
            except Exception as exc:  # one application's surprise must not stop the others
                self._failed(runtime.snapshot, "decide", exc, failed)
                continue
            decided += 1
            changed += record.target != record.current and record.mode == "auto"
            if scale is None:
                self._recovered(runtime.key, "decide")
            else:  # recovered once written
                pending.append(scale)
        for scale in sorted(pending, key=lambda p: p.change):  # scale-downs make room first
            self._step(
                scale.runtime.snapshot, "decide", failed, self.fast.actuate, scale, gate, now
            )
        for runtime in managed:
            self._step(runtime.snapshot, "meta", failed, self.slow.step, runtime, now)
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

    def _budget_views(
        self, runtimes: list[AppRuntime], now: float, failed: dict[str, int]
    ) -> dict[AppKey, BudgetView]:
        """This cycle's caps; a budget step that raises keeps the last ones (and the gate still
        holds every write to the budgets' limits)."""
        if self.budget_source is not None:
            self.budgets.ensure_synced(self.budget_source)
        started = time.perf_counter()
        try:
            self._views = self.budgets.step(runtimes, now)
        except Exception as exc:
            failed["budget"] = failed.get("budget", 0) + 1
            log.error("the budget step failed; keeping the last caps", exc_info=exc)
        self.last_budget_step_s = time.perf_counter() - started
        return self._views

    def _report_seen(self, runtime: AppRuntime) -> None:
        self.telemetry.app_seen(
            runtime.key, runtime.active_settings, runtime.weights(), runtime.current_executors()
        )

    def _runtime_for(self, snapshot: AppSnapshot) -> AppRuntime:
        runtime = self._runtimes.get(snapshot.key)
        if runtime is None or runtime.uid != snapshot.uid:
            stored = (self._stored or {}).get(snapshot.key)
            if stored is not None and stored.app_uid not in (None, snapshot.uid):
                log.info(
                    "%s: stored state belongs to a deleted namesake; starting afresh", snapshot.key
                )
                stored = None
            runtime = self.resolver.new_runtime(snapshot, stored, self.clock.now())
            self._runtimes[snapshot.key] = runtime
        runtime.snapshot = snapshot
        if runtime.resolved_for != snapshot.annotations:
            self.resolver.resolve(runtime)
        return runtime

    def _replace_if_newer(self, snapshot: AppSnapshot) -> None:
        """Use the patched object until the watch delivers it (or something newer)."""
        with self._lock:
            known = self._apps.get(snapshot.key)
            if known is not None and not _older(snapshot, known):
                self._apps[snapshot.key] = snapshot

    def _adopt_patched(self, runtime: AppRuntime, snapshot: AppSnapshot) -> None:
        runtime.snapshot = snapshot
        self._replace_if_newer(snapshot)
        self.resolver.resolve(runtime)

    # -- state ------------------------------------------------------------------------------

    def _persist(self, runtime: AppRuntime) -> None:
        """Save the state when it changed since the last save (its revision says so)."""
        revision = runtime.state.revision
        if revision == runtime.saved_revision:
            return
        try:
            self.store.save(runtime.snapshot, runtime.state)
        except StateStoreError as exc:
            log.warning("%s: state not saved (retrying next cycle): %s", runtime.key, exc)
            return
        runtime.saved_revision = revision


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
