"""One application's memory between cycles, and how its settings are resolved.

An :class:`AppRuntime` holds what the loop keeps for one SparkApplication: the snapshot, the
stored state, the resolved settings (and the last good ones), the decision step (guardrails,
SLO guard, DS2, capacity estimate) and the meta window. :class:`SettingsResolver` turns the
annotations into settings, tells the application once about every rejected value, and
rebuilds what depends on the settings when they change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pydantic import ValidationError

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.runtime.core.annotations import (
    PREFIX,
    AppSettings,
    resolve_settings,
)
from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings
from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.breachfloor import BreachFloorSettings
from hrl_autoscaler.runtime.core.budget.forecast import LoadHistory
from hrl_autoscaler.runtime.core.calmrule import CalmRuleSettings
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.decision import DecisionOptions, DecisionStep, ExecutorPolicy
from hrl_autoscaler.runtime.core.effectiveness import EffectivenessSettings
from hrl_autoscaler.runtime.core.fallrelease import FallReleaseSettings
from hrl_autoscaler.runtime.core.guardrails import GuardrailSettings
from hrl_autoscaler.runtime.core.headroom import HeadroomSettings
from hrl_autoscaler.runtime.core.inputmemory import resume
from hrl_autoscaler.runtime.core.margintrim import MarginTrimSettings
from hrl_autoscaler.runtime.core.meta import MetaCadence, MetaStep
from hrl_autoscaler.runtime.core.modifiers import MODIFIER_ANNOTATIONS, ModifierState
from hrl_autoscaler.runtime.core.ports import Clock, EventSink, Precondition, SystemClock
from hrl_autoscaler.runtime.core.raisecap import RaiseCapSettings
from hrl_autoscaler.runtime.core.recovery import adopt_records, clock_text
from hrl_autoscaler.runtime.core.reporting import Reason, simple_event
from hrl_autoscaler.runtime.core.restarthold import RestartHoldSettings
from hrl_autoscaler.runtime.core.restarttime import (
    RestartTimer,
    RestartTimeSettings,
    learned_seconds,
)
from hrl_autoscaler.runtime.core.sizing import RateEstimate
from hrl_autoscaler.runtime.core.sloguard import SloGuardSettings
from hrl_autoscaler.runtime.core.surge import SurgeSettings
from hrl_autoscaler.runtime.core.weights import Weights

log = logging.getLogger("hrl_autoscaler.pipeline")

#: The annotations a scaling or weights decision depends on: the precondition compares them as
#: written (no re-parse) with those the decision was made under.
DECISION_ANNOTATIONS = tuple(
    PREFIX + n for n in ("mode", "actuation", "weight-policy", *MODIFIER_ANNOTATIONS)
)


def decision_options(settings: OperatorSettings) -> DecisionOptions:
    g = settings.guardrails
    return DecisionOptions(
        fallback=True,
        fallback_tolerance=settings.fallback_tolerance,
        slo_guard=SloGuardSettings(
            g.slo_guard,
            g.slo_guard_latency_factor,
            g.slo_guard_cycles,
            g.slo_guard_min_gain,
            g.slo_guard_target_utilisation,
            g.slo_guard_catch_up_s,
            g.slo_guard_calm_target_utilisation,
            g.slo_guard_calm_input_rise,
        ),
        calm_rule=CalmRuleSettings(**g.calm_rule.model_dump()),
        breach_floor=BreachFloorSettings(**g.breach_floor.model_dump()),
        surge=SurgeSettings(**g.surge.model_dump()),
        fall_release=FallReleaseSettings(**g.fall_release.model_dump()),
        restart_hold=RestartHoldSettings(**g.restart_hold.model_dump()),
        headroom=HeadroomSettings(**g.headroom.model_dump()),
        margin_trim=MarginTrimSettings(**g.margin_trim.model_dump()),
        raise_cap=RaiseCapSettings(**g.raise_cap.model_dump()),
        anticipation=AnticipationSettings(**g.anticipation.model_dump()),
    )


def meta_cadence(settings: OperatorSettings) -> MetaCadence:
    return MetaCadence(settings.meta_interval_s, settings.meta_min_samples)


def guardrail_settings(
    app: AppSettings, settings: OperatorSettings, restart_excess_s: float = 0.0
) -> GuardrailSettings:
    """The operator's guardrails, with this application's damping annotations over them.

    ``restart_excess_s``: how much longer than assumed this application's restarts take
    (learned); the restart cooldown grows by it, so a slow restart does not eat the settled
    metrics the cooldown is for. It never shrinks: the cooldown is also a frequency limit. A
    ``cooldown-seconds`` annotation is the user's own choice and wins over both."""
    g = settings.guardrails
    restart = app.actuation == "restart"
    cooldown_s = g.restart_cooldown_s + restart_excess_s if restart else g.in_place_cooldown_s
    return GuardrailSettings(
        min_executors=app.min_executors,
        max_executors=app.max_executors,
        max_step=g.max_step,
        cooldown_s=app.cooldown_seconds if app.cooldown_seconds is not None else cooldown_s,
        scale_down_confirmations=app.scale_down_confirmations or g.scale_down_confirmations,
        deadband=g.deadband,
        max_step_down=app.scale_down_max_step or g.scale_down_max_step,
        scale_down_max_factor=app.scale_down_max_factor or g.scale_down_max_factor,
    )


def control_context(
    app: AppSettings, settings: OperatorSettings, params: SimParams, restart_s: float | None = None
) -> ControlContext:
    """``restart_s``: the learned restart time (None: the assumed ``restart_downtime_s``)."""
    return ControlContext(
        app.min_executors,
        app.max_executors,
        settings.decision_interval_s,
        app.actuation,
        params.restart_downtime_s if restart_s is None else restart_s,
    )


def effectiveness_settings(app: AppSettings, settings: OperatorSettings) -> EffectivenessSettings:
    g = settings.guardrails
    return EffectivenessSettings(
        enabled=app.ineffective_scaling_detection,
        threshold=app.ineffective_scaling_threshold,
        samples=g.ineffective_scaling_samples,
        release_load_change=g.ineffective_scaling_release,
    )


def restart_time_settings(app: AppSettings, settings: OperatorSettings) -> RestartTimeSettings:
    g = settings.guardrails
    return RestartTimeSettings(
        app.restart_time_tracking, g.restart_time_limit_s, g.restart_time_history
    )


def refresh_step(runtime: AppRuntime, settings: OperatorSettings, params: SimParams) -> bool:
    """Rebuild the decision step's guardrails, DS2 context and detector when what they depend
    on changed (settings, or a newly learned restart time); True when rebuilt."""
    s, step = runtime.active_settings, runtime.decision_step
    restart_s = runtime.learned_restart_s(restart_time_settings(s, settings))
    excess = max(0.0, restart_s - params.restart_downtime_s) if restart_s is not None else 0.0
    effectiveness = effectiveness_settings(s, settings)
    key = (*s.guardrail_key(), restart_s, effectiveness)
    if key == runtime.guard_key:
        return False
    step.reconfigure(
        guardrail_settings(s, settings, excess),
        control_context(s, settings, params, restart_s),
        effectiveness,
    )
    runtime.guard_key = key
    return True


class AppRuntime:
    """What the loop keeps in memory for one application between cycles."""

    def __init__(self, snapshot: AppSnapshot, state: AppState, rate: RateEstimate) -> None:
        self.snapshot = snapshot
        self.uid = snapshot.uid
        self.state = state
        self.state.app_uid = snapshot.uid
        self.rate = rate
        self.settings: AppSettings | None = None
        self.last_good: AppSettings | None = None
        if state.last_good_settings:
            try:
                self.last_good = AppSettings.model_validate(state.last_good_settings)
            except ValidationError as exc:
                log.warning("%s: stored last good settings ignored: %s", snapshot.key, exc)
        self.resolved_for: Mapping[str, str] | None = None
        self.reported_errors: tuple[str, ...] = ()
        self.step: DecisionStep | None = None
        self.guard_key: tuple[object, ...] | None = None
        self.meta: MetaStep | None = None
        self.meta_key: tuple[float, float] | None = None
        self.unavailable: str | None = None
        self.unavailable_cycles = 0
        self.reported_unavailable: str | None = None
        self.first_batch_seen_for: str | None = None
        """The run (application id, "" when unknown) whose first micro-batch has completed."""
        self.first_batch_wait_since: float | None = None
        self.meta_missing_reported = False
        self.last_recommendation: int | None = None
        self.load = LoadHistory()
        """Recent load, for an ExecutorBudget's forecast."""
        self.wanted: int | None = None
        """The last proposal before any budget cap (the application's demand)."""
        self.budget_limited: tuple[int, int] | None = None
        """(wanted, got) of the last BudgetLimited event (reported once per change)."""
        self.saved_revision: int | None = None
        """The state's revision when it was last saved (or found unchanged)."""
        self.modifiers = ModifierState()
        """The excluded period in force and the pause last reported."""
        self.timer = RestartTimer()
        """The scaling action whose restart or start-up time is being measured."""

    def learned_restart_s(self, settings: RestartTimeSettings) -> float | None:
        """The restart time to plan with (None: not tracked or never measured)."""
        if not settings.enabled:
            return None
        return learned_seconds(self.state.restart_s, settings.limit_s)

    @property
    def key(self) -> AppKey:
        return self.snapshot.key

    @property
    def active_settings(self) -> AppSettings:
        assert self.settings is not None, "resolve settings first"
        return self.settings

    @property
    def decision_step(self) -> DecisionStep:
        assert self.step is not None, "resolve settings first"
        return self.step

    def current_executors(self) -> int:
        return self.snapshot.current_executors(self.active_settings.actuation == "in-place")

    def weights(self) -> Weights:
        """The weights in force. Meta weights stay in the state when nothing may be patched
        (recommend mode); otherwise the annotations (or the preset) are the truth."""
        s = self.active_settings
        if s.weight_policy == "meta" and s.mode == "recommend" and self.state.weights:
            return Weights.of(*self.state.weights)
        return s.weights()

    def precondition(self, expected: int | None) -> Precondition:
        """Still the same decision on the fresh object? The decision-bearing annotations as
        written, the label, and (for scaling) the executor count must be unchanged."""
        decided_under = {a: self.snapshot.annotations.get(a) for a in DECISION_ANNOTATIONS}
        in_place = self.active_settings.actuation == "in-place"

        def check(fresh: AppSnapshot) -> str | None:
            if not fresh.enabled:
                return "the application is no longer enabled"
            for annotation, value in decided_under.items():
                now = fresh.annotations.get(annotation)
                if now != value:
                    return f"{annotation} changed to {now!r} meanwhile"
            if expected is not None:
                seen = fresh.current_executors(in_place)
                if seen != expected:
                    return f"executors changed to {seen} meanwhile"
            return None

        return check


class SettingsResolver:
    """Annotations -> settings, with Warning events for rejected values and the last good
    value kept per key; rebuilds the decision step and the meta window when they change."""

    def __init__(
        self,
        settings: OperatorSettings,
        params: SimParams,
        policy: ExecutorPolicy,
        events: EventSink,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        """Wall clock: a record from the future is not adopted."""
        self.params = params
        self.policy = policy
        self.events = events
        self.options = decision_options(settings)

    def new_runtime(self, snapshot: AppSnapshot, stored: AppState | None, now: float) -> AppRuntime:
        state = stored or AppState()
        rate = RateEstimate(
            state.executor_rate_eps or self.settings.default_executor_rate_eps,
            self.settings.capacity_smoothing,
            self.params,
        )
        runtime = AppRuntime(snapshot, state, rate)
        if stored is not None:  # as saved; what the records add below is saved next
            runtime.saved_revision = state.revision
            log.info(
                "%s: resuming from stored state (last change at %s, %d decisions)",
                snapshot.key,
                clock_text(stored.last_change_at),
                len(stored.decisions),
            )
        adopt_records(runtime, now, self.settings.history_size)
        return runtime

    def resolve(self, runtime: AppRuntime) -> None:
        """Settings from the snapshot's annotations, and the records they carry adopted (the
        operator's own writes, or another replica's before a leadership change)."""
        snapshot = runtime.snapshot
        adopt_records(runtime, self.clock.now(), self.settings.history_size)
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
        s = runtime.active_settings
        if runtime.step is None:
            runtime.step = DecisionStep(
                self.policy,
                guardrail_settings(s, self.settings),
                control_context(s, self.settings, self.params),
                runtime.rate,
                self.options,
                effectiveness_settings(s, self.settings),
            )
            if runtime.state.last_change_at is not None:
                runtime.step.guardrails.last_change_s = runtime.state.last_change_at
            resumed = resume(runtime.step, runtime.state)
            if resumed:
                log.info("%s: %s", runtime.key, resumed)
        refresh_step(runtime, self.settings, self.params)
        meta_key = (s.cost_per_executor_hour, s.latency_slo_ms)
        if meta_key != runtime.meta_key:
            runtime.meta = MetaStep(
                s.cost_per_executor_hour, s.latency_slo_ms, self.params.max_executors
            )
            runtime.meta_key = meta_key
        if previous is not None:
            log.info("%s: settings now %s", runtime.key, s.describe())
