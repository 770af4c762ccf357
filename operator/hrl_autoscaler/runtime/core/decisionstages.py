"""How the decision step asks its stages: the sizes, forecasts and conditions it hands them.

Apart from :mod:`hrl_autoscaler.runtime.core.decision` so that the step itself reads as the
order of its stages; :class:`StageCalls` is its base and holds no state of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from hrl_autoscaler.runtime.core.anticipation import (
    Anticipation,
    executors_for,
    horizon_decisions,
)
from hrl_autoscaler.runtime.core.decisiontypes import DecisionOptions
from hrl_autoscaler.runtime.core.fallrelease import FallRelease, release_size
from hrl_autoscaler.runtime.core.headroom import Headroom, ReplayModel
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.restarthold import HoldContext, RestartHold
from hrl_autoscaler.runtime.core.sizing import DS2Sizer, RateEstimate, required_executors
from hrl_autoscaler.runtime.core.sloguard import SloGuard
from hrl_autoscaler.runtime.core.surge import Surge


class StageCalls:
    """The stage-facing half of :class:`~hrl_autoscaler.runtime.core.decision.DecisionStep`."""

    options: DecisionOptions
    rate: RateEstimate
    ds2: DS2Sizer
    slo_guard: SloGuard
    anticipation: Anticipation
    surge: Surge
    fall_release: FallRelease
    restart_hold: RestartHold
    headroom: Headroom
    _last_input_eps: float | None

    def _calm(self, metrics: SystemMetrics, backlogged: bool) -> bool:
        """A breach with no backlog left and the input not rising since the last decision: a
        slow batch, not load the count cannot carry."""
        last = self._last_input_eps
        rise = self.slo_guard.settings.calm_input_rise
        return not backlogged and last is not None and metrics.input_rate_eps <= (1 + rise) * last

    def _lowers_here(self, enabled: bool, restart_actuation: bool) -> bool:
        """Whether a stage that gives executors back (the margin trim, the fall release) acts:
        enabled, and in place unless asked for under restart actuation too (each executor it
        gives back would cost a restart there)."""
        return enabled and (restart_actuation or self.ds2.ctx.actuation != "restart")

    def _rate_size(
        self, metrics: SystemMetrics, utilisation: float | None, catch_up_s: float | None = None
    ) -> int | None:
        """DS2's rate-based size (no band, no stabilisation) at ``utilisation`` and
        ``catch_up_s`` (None: DS2's own); None before a rate is measured."""
        rate = self.rate.true_rate_eps
        if rate is None:
            return None
        settings = self.ds2.settings
        if utilisation is not None:
            settings = replace(settings, target_utilisation=utilisation)
        if catch_up_s is not None:
            settings = replace(settings, catch_up_s=catch_up_s)
        return required_executors(metrics, rate, self.ds2.ctx, settings)

    def _delay_s(self) -> float:
        """How long a change takes to work: a restart's downtime, or an executor's start-up."""
        ctx = self.ds2.ctx
        restart = ctx.actuation == "restart"
        return ctx.restart_downtime_s if restart else self.rate.params.startup_delay_s

    def _surge(self, metrics: SystemMetrics) -> tuple[int, str] | None:
        """The size for the surge response's forecast and why (for the event), None when there
        is no forecast."""
        if not self.options.surge.enabled or self.rate.true_rate_eps is None:
            return None
        ctx = self.ds2.ctx
        horizon_s = self._delay_s() + ctx.decision_interval_s
        rate = self.surge.forecast(metrics.input_rate_eps, metrics.time_s, horizon_s)
        if rate is None or (self.anticipation.acting and self.options.surge.defer_to_period):
            return None
        size = self._sizing(self.options.surge.target_utilisation)(rate)
        why = (
            f"input rising steeply ({metrics.input_rate_eps:.0f} events/s): sized for "
            f"{rate:.0f} events/s once new executors work"
        )
        return size, why

    def _restart_hold(
        self, metrics: SystemMetrics, proposed: int, current: int, slo_ms: float, forecast: bool
    ) -> tuple[int, str]:
        """The restart hold's count and why (for the event); ``proposed`` when it does not act
        (in place, off, no change proposed, or nothing measured yet)."""
        ctx, unmeasured = self.ds2.ctx, self.rate.true_rate_eps is None
        if not self.options.restart_hold.enabled or ctx.actuation != "restart" or unmeasured:
            return proposed, ""
        single, params = self.rate.executor_rate_eps, self.rate.params
        now = HoldContext(
            metrics.input_rate_eps,
            metrics.backlog_events,
            single,
            params,
            ctx.bounds,
            slo_ms,
            ctx.restart_downtime_s,
            ctx.decision_interval_s,
        )
        return self.restart_hold.hold(proposed, current, now, forecast)

    def _headroom(self, metrics: SystemMetrics, target: int, slo_ms: float) -> tuple[int, str]:
        """``target`` (after the guardrails) raised to the headroom floor, and why (for the
        event); it records every in-place decision and chooses the floor when one is due."""
        ctx = self.ds2.ctx
        if not self.options.headroom.enabled or ctx.actuation == "restart":
            return target, ""

        def model() -> ReplayModel | None:
            if self.rate.true_rate_eps is None:
                return None
            single, params = self.rate.executor_rate_eps, self.rate.params
            return ReplayModel(single, params, ctx.bounds, slo_ms, ctx.decision_interval_s)

        met = metrics.latency_ms <= slo_ms
        return self.headroom.lift(metrics.input_rate_eps, met, target, model)

    def _fall(self, metrics: SystemMetrics, latency_slo_ms: float, backlogged: bool) -> int | None:
        """The fall release's size, None when it does not act (not falling, latency near the
        SLO, a backlog, nothing measured, or a period the anticipation releases on)."""
        s = self.options.fall_release
        if not self._lowers_here(s.enabled, s.restart_actuation):
            return None
        rate = self.fall_release.observe(metrics.input_rate_eps)
        quiet = metrics.latency_ms < s.latency_factor * latency_slo_ms and not backlogged
        if rate is None or self.anticipation.acting or not quiet or self.rate.true_rate_eps is None:
            return None
        limit_ms = s.latency_factor * latency_slo_ms
        single, u = self.rate.executor_rate_eps, s.target_utilisation
        return release_size(rate, single, self.rate.params, u, limit_ms, self.ds2.ctx.bounds)

    def _sizing(self, utilisation: float) -> Callable[[float], int]:
        """Executors for a rate at ``utilisation`` with the measured executor rate, within the
        application's bounds: the anticipation's and the surge response's sizing."""
        single, contention = self.rate.executor_rate_eps, self.rate.params.scaling_contention
        bounds = self.ds2.ctx.bounds
        return lambda rate: executors_for(rate, single, contention, utilisation, bounds)

    def _anticipate(
        self, metrics: SystemMetrics, proposed: int, latency_slo_ms: float, releasable: bool
    ) -> tuple[int, bool, str]:
        """``proposed`` raised to the anticipation's floor and, while latency is quiet and
        ``releasable`` (the SLO guard did not rescue), lowered to its release ceiling; whether
        that lowering may skip the scale-down confirmations; and why (for the event)."""
        if not self.anticipation.settings.enabled:
            return proposed, False, ""
        ctx = self.ds2.ctx
        if self.rate.true_rate_eps is None:  # nothing measured yet: no capacity to size with
            return proposed, False, ""
        restart = ctx.actuation == "restart"
        delay = self._delay_s()
        demand = metrics.input_rate_eps + metrics.backlog_events / self.ds2.settings.catch_up_s
        horizon = horizon_decisions(delay, ctx.decision_interval_s)
        sizing = self._sizing(self.anticipation.settings.target_utilisation)
        bounds = self.anticipation.bounds(horizon, demand, sizing)
        if bounds is None:
            return proposed, False, ""
        period = f"input period {self.anticipation.period} decisions"
        if proposed < bounds.floor:
            return bounds.floor, False, f"{period}: the next {horizon} need {bounds.floor}"
        quiet = metrics.latency_ms < (
            self.anticipation.settings.release_latency_factor * latency_slo_ms
        )
        # A release under restart actuation would cost two restarts a period (down, then up
        # again before the next burst), each a downtime: only the floor acts there.
        releasable = releasable and quiet and not restart
        if bounds.ceiling is not None and releasable and proposed > bounds.ceiling:
            why = f"{period}: released, the next {horizon} need {bounds.ceiling}"
            return bounds.ceiling, True, why
        return proposed, False, ""
