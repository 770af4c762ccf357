"""The one decision step: policy -> DS2 fallback -> calm rule (in place) -> SLO guard -> margin
trim (in place) -> raise cap -> anticipation -> surge response -> fall release (in place) ->
breach floor -> restart hold (restart actuation) -> ineffective-scaling hold -> guardrails ->
headroom floor (in place) -> pause -> budget cap -> an intent.

The operator's fast loop, the ``hrl``/``ppo-fixed`` evaluation (which runs the operator's own
pipeline on the simulated cluster) and the meta-controller's training environment all call
:meth:`DecisionStep.decide`, so the executor count trained on, evaluated and deployed comes from
the same code. Where they must differ it is a named field of :class:`DecisionOptions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hrl_autoscaler.runtime.core.anticipation import Anticipation
from hrl_autoscaler.runtime.core.breachfloor import BreachFloor
from hrl_autoscaler.runtime.core.calmrule import CalmRule
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.decisionstages import StageCalls
from hrl_autoscaler.runtime.core.decisiontypes import Decision, DecisionOptions, ExecutorPolicy
from hrl_autoscaler.runtime.core.effectiveness import (
    BACKLOG_NEEDED_S,
    EffectivenessDetector,
    EffectivenessSettings,
)
from hrl_autoscaler.runtime.core.fallrelease import FallRelease
from hrl_autoscaler.runtime.core.guardrails import Guardrails, GuardrailSettings
from hrl_autoscaler.runtime.core.headroom import Headroom
from hrl_autoscaler.runtime.core.margintrim import MarginTrim
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.observation import (
    build_observation,
    out_of_range_fields,
)
from hrl_autoscaler.runtime.core.raisecap import cap_raise
from hrl_autoscaler.runtime.core.restarthold import RestartHold
from hrl_autoscaler.runtime.core.sizing import DS2Sizer, RateEstimate
from hrl_autoscaler.runtime.core.sloguard import SloGuard
from hrl_autoscaler.runtime.core.surge import Surge
from hrl_autoscaler.runtime.core.weights import Weights

__all__ = ["Decision", "DecisionOptions", "DecisionStep", "ExecutorPolicy"]


class DecisionStep(StageCalls):
    """One application's fast decision and the memory it needs between decisions: the
    guardrails (cooldown, scale-down confirmations), the SLO guard's breach count, DS2's
    stabilisation and the capacity estimate."""

    def __init__(
        self,
        policy: ExecutorPolicy,
        guardrails: GuardrailSettings,
        ctx: ControlContext,
        rate: RateEstimate,
        options: DecisionOptions | None = None,
        effectiveness: EffectivenessSettings | None = None,
    ) -> None:
        self.policy = policy
        self.options = options or DecisionOptions()
        self.guardrails = Guardrails(guardrails)
        self.rate = rate
        self.ds2 = DS2Sizer(ctx, rate, self.options.ds2)
        self.slo_guard = SloGuard(self.options.slo_guard)
        self.margin_trim = MarginTrim(self.options.margin_trim)
        self.anticipation = Anticipation(self.options.anticipation)
        self.breach_floor = BreachFloor(self.options.breach_floor)
        self.surge = Surge(self.options.surge)
        self.fall_release = FallRelease(self.options.fall_release)
        self.calm_rule = CalmRule(ctx, self.options.calm_rule)
        self.restart_hold = RestartHold(self.options.restart_hold)
        self.headroom = Headroom(self.options.headroom)
        self._last_input_eps: float | None = None
        """The input rate at the last decision (None before the first)."""
        self._observed_at: float | None = None
        """When the anticipation last recorded an input (None: never)."""
        self.in_fallback = False
        self.effectiveness = EffectivenessDetector(
            effectiveness or EffectivenessSettings(enabled=False), rate.params.scaling_contention
        )

    def reconfigure(
        self,
        guardrails: GuardrailSettings,
        ctx: ControlContext,
        effectiveness: EffectivenessSettings | None = None,
    ) -> None:
        """New bounds, actuation or learned restart time: rebuild the guardrails and DS2,
        keeping the cooldown, pending scale-down confirmations and what the
        ineffective-scaling detector measured."""
        rebuilt = Guardrails(guardrails)
        rebuilt.carry_over(self.guardrails)
        self.guardrails = rebuilt
        self.ds2 = DS2Sizer(ctx, self.rate, self.options.ds2)
        self.calm_rule.reconfigure(ctx)
        if effectiveness is not None:
            self.effectiveness.reconfigure(effectiveness)

    def decide(
        self,
        metrics: SystemMetrics,
        weights: Weights,
        latency_slo_ms: float,
        commit: bool = True,
        cap: int | None = None,
        pause: Callable[[int, int], tuple[int, str | None]] | None = None,
        objective: str = "slo",
    ) -> Decision:
        """Decide for ``metrics`` (the interval that just ended) under ``weights``.

        ``objective`` is the application's (``slo`` or ``r_meta``): the calm rule, the margin
        trim and the raise cap act under ``slo`` only. They give back executors that buy
        latency below the SLO, which the SLO score does not reward and R_meta does
        (docs/raise-cap.md).

        ``commit=False`` (recommend mode) leaves the cooldown's origin where it was: a
        recommendation changes nothing in the cluster. ``cap`` is the application's share of an
        ExecutorBudget: the target never exceeds it, and a count above it comes down now, past
        the cooldown (a budget is a limit, not a suggestion). ``pause`` (the application's
        pause annotations: target, current -> target, why) vetoes a direction or sets the
        count after the guardrails and before the cap.
        """
        current = metrics.executors
        if self.anticipation.settings.enabled:  # every interval, restarts included: the phase
            self.anticipation.observe(metrics.input_rate_eps, self._missed(metrics.time_s))
        self.restart_hold.observe(metrics.input_rate_eps)
        if metrics.restarting:
            return Decision(current, current, current, "hold", ("restarting",))
        self.rate.observe(metrics)
        ineffective, released = self.effectiveness.observe(metrics, latency_slo_ms)
        scale = self.rate.scale()
        outside: Sequence[str] = ()
        if self.options.fallback:
            outside = out_of_range_fields(metrics, weights, scale, self.options.fallback_tolerance)
        was_fallback, self.in_fallback = self.in_fallback, bool(outside)
        if outside:
            controller, proposed = "ds2", self.ds2.decide(metrics)
        else:
            controller = "ppo"
            proposed = self.policy.executors(build_observation(metrics, weights, scale))
        slo_only = objective == "slo"
        ruled_from: int | None = None
        rule = self.calm_rule.propose(metrics, latency_slo_ms) if slo_only else None
        if rule is not None and not outside:
            ruled_from, controller, proposed = proposed, "rule", rule
        unguarded = proposed
        was_guarding = self.slo_guard.active
        required: int | None = None
        backlogged = metrics.backlog_events > metrics.input_rate_eps * BACKLOG_NEEDED_S
        if self.slo_guard.observe(
            metrics.latency_ms, latency_slo_ms, metrics.running_executors, backlogged
        ):
            guard = self.slo_guard.settings
            utilisation = guard.target_utilisation
            if guard.calm_target_utilisation is not None and self._calm(metrics, backlogged):
                utilisation = guard.calm_target_utilisation
            size = self._rate_size(metrics, utilisation, guard.catch_up_s)
            rescue = self.slo_guard.apply(proposed, size)
            if rescue.raised:
                if not was_guarding and not backlogged:  # see breachfloor: what it remembers
                    self.breach_floor.record(
                        metrics.running_executors, metrics.input_rate_eps, metrics.time_s
                    )
                required = rescue.executors
                controller, proposed = f"{controller}+slo-guard", rescue.executors
        trimmed_from: int | None = None
        margin = self.margin_trim.settings
        # after the guard: a rescue is never trimmed
        if slo_only and self._lowers_here(margin.enabled, margin.restart_actuation):
            self.margin_trim.observe(metrics.latency_ms, latency_slo_ms)
            trim = self.margin_trim.apply(
                proposed, self._rate_size(metrics, self.options.margin_trim.target_utilisation)
            )
            if trim.trimmed and required is None:
                trimmed_from = proposed
                controller, proposed = f"{controller}+trim", trim.executors
        raise_capped_from: int | None = None
        if required is None and slo_only:  # a rescue is never capped
            limit = self.options.raise_cap
            size = self._rate_size(metrics, limit.target_utilisation) if limit.enabled else None
            capped = cap_raise(
                limit, proposed, current, size, metrics.latency_ms, latency_slo_ms, backlogged
            )
            if capped != proposed:
                raise_capped_from = proposed
                controller, proposed = f"{controller}+capped", capped
        anticipated_from: int | None = None
        ahead, confirmed, why = self._anticipate(
            metrics, proposed, latency_slo_ms, required is None
        )
        if ahead != proposed:
            anticipated_from = proposed
            controller, proposed = f"{controller}+ahead", ahead
        surged_from, surge = None, self._surge(metrics)
        if surge is not None and surge[0] > proposed:
            surged_from, controller, proposed = proposed, f"{controller}+surge", surge[0]
        released_from: int | None = None
        fall = self._fall(metrics, latency_slo_ms, backlogged)  # every decision: it observes
        unforced = required is None and surged_from is None  # no rescue, no surge
        if fall is not None and proposed > fall and slo_only and unforced:
            released_from, controller, proposed = proposed, f"{controller}+fall", fall
            confirmed = confirmed or self.options.fall_release.skip_confirmations
        if self.slo_guard.stood_down:
            self.breach_floor.clear()
        floored_from: int | None = None
        held = proposed
        if not self.slo_guard.active:  # during a breach the guard's own sizing governs
            held = self.breach_floor.apply(
                proposed, current, metrics.input_rate_eps, metrics.time_s
            )
        if held != proposed:
            floored_from = proposed
            controller, proposed = f"{controller}+floor", held
        restart_held_from = None
        forecast = surged_from is not None
        held, why_held = self._restart_hold(metrics, proposed, current, latency_slo_ms, forecast)
        if why_held:
            restart_held_from, controller, proposed = proposed, f"{controller}+restart-hold", held
            confirmed = confirmed or held < current
        held_from, ceiling = None, self.effectiveness.ceiling()
        if ceiling is not None and proposed > max(current, ceiling):
            held_from, proposed = proposed, max(current, ceiling)
        cooldown_origin = self.guardrails.last_change_s
        # the rule's own scale-down (``unguarded`` is its count) comes after its own
        # confirmations: not counted again
        confirmed = confirmed or (ruled_from is not None and unguarded <= proposed < current)
        guarded = self.guardrails.apply(proposed, current, metrics.time_s, confirmed=confirmed)
        target, reasons, capped_from = guarded.target, guarded.reasons, None
        if held_from is not None:
            reasons = (f"scale-up held above {ceiling}: ineffective scaling", *reasons)
        if restart_held_from is not None:
            reasons = (why_held, *reasons)
        if anticipated_from is not None:
            reasons = (why, *reasons)
        if surged_from is not None and surge is not None:
            reasons = (surge[1], *reasons)
        headroom_from = None
        if slo_only:  # after the guardrails: it records what the step decided without it
            lifted, why_lifted = self._headroom(metrics, target, latency_slo_ms)
            if ceiling is not None:  # never above what an ineffective scale-up was held at
                lifted = min(lifted, max(current, ceiling, target))
            if lifted > target:
                headroom_from, target = target, lifted
                controller, reasons = f"{controller}+headroom", (why_lifted, *reasons)
        paused = None
        if pause is not None:
            target, paused = pause(target, current)
            reasons = (*reasons, paused) if paused else reasons
        if cap is not None and target > cap:
            capped_from, target = target, cap
            reasons = (*reasons, f"budget cap {cap}")
        if target != guarded.target:  # the cooldown starts only with a change that happens
            self.guardrails.last_change_s = cooldown_origin if target == current else metrics.time_s
        if not commit:
            self.guardrails.last_change_s = cooldown_origin
        self._last_input_eps = metrics.input_rate_eps
        return Decision(
            current=current,
            target=target,
            proposed=proposed,
            controller=controller,
            reasons=reasons,
            outside=tuple(outside),
            unguarded=unguarded,
            ruled_from=ruled_from,
            required=required,
            trimmed_from=trimmed_from,
            raise_capped_from=raise_capped_from,
            floored_from=floored_from,
            restart_held_from=restart_held_from,
            headroom_from=headroom_from,
            surged_from=surged_from,
            released_from=released_from,
            anticipated_from=anticipated_from,
            fallback_started=bool(outside) and not was_fallback,
            fallback_ended=was_fallback and not outside,
            guard_started=required is not None and not was_guarding,
            guard_ended=was_guarding and not self.slo_guard.active,
            scale=scale,
            cooldown_origin=cooldown_origin,
            capped_from=capped_from,
            paused=paused,
            held_from=held_from,
            ineffective=ineffective,
            released=released,
        )

    def resume_inputs(self, rates: Sequence[float], observed_at: float) -> None:
        """Resume the anticipation's history from a stored copy whose newest rate was seen at
        ``observed_at`` (an operator restart): the next decision fills the gap since."""
        self.anticipation.restore(rates)
        self.restart_hold.restore(rates)
        self.calm_rule.resume(rates, observed_at)
        self._observed_at = observed_at

    def _missed(self, time_s: float) -> int:
        """Decisions since the anticipation's last input that recorded none: skipped cycles
        (no metrics) or an operator restart."""
        last, self._observed_at = self._observed_at, time_s
        if last is None:
            return 0
        return max(0, round((time_s - last) / self.ds2.ctx.decision_interval_s) - 1)

    def not_applied(self, decision: Decision) -> None:
        """The change was not written (skipped or failed): nothing changed, so no cooldown."""
        self.guardrails.last_change_s = decision.cooldown_origin
