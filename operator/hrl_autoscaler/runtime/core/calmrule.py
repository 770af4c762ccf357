"""The calm rule: on load without bursts the rate rule decides, not the policy.

Episode traces on validation load (docs/calm-rule.md) showed where ``hrl`` lost to ``tuned``:
on smooth load the policy's proposals are lumpy, and each of the stages that mend them (margin
trim, raise cap, breach floor) mends one habit. On steady load at 1.3x its peak the policy
returns to a count whose noisy batches breach the SLO every two hours (8 executors, rescued to
11-12, held at 9 by the breach floor, back to 8): 9.45 executors on average where ``tuned``
holds 9.03. On traffic-sensors the policy stays 2-3 executors above the falling ramps after
each rush hour: 9.05 against 8.40. The rate rule
(:mod:`~hrl_autoscaler.runtime.core.raterule`) tracks such load within an executor; on
bursty load the policy, with the forecasts, is far ahead of it (smart-metering 0.61 against
0.13). So the step tells the two regimes apart by the input alone: the load is *calm* once
no decision interval in the last ``window_s`` saw the input rise by ``min_jump`` or more over
the interval before; while it is calm the rule's count replaces the policy's proposal, and
every later stage (the SLO guard, the forecasts, the floors, the guardrails) still applies,
and latency above the SLO is left to the SLO guard (see :meth:`CalmRule.propose`). One jump
hands the decision back to the policy for another window.

Like the margin trim it acts under the ``slo`` objective (the rule sizes for the SLO; R_meta
rewards latency below it) and in place unless asked for: the rule was tuned under in-place
actuation, and each of its one-executor scale-downs would be a restart under restart
actuation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.raterule import RateRule


@dataclass(frozen=True, slots=True)
class CalmRuleSettings:
    enabled: bool = True
    """On: 0.424 -> 0.431 on the 25 validation cases (traffic-sensors +0.031, steady +0.005,
    the bursty scenarios within 0.001), measured on the train and held-out suites after that
    (docs/calm-rule.md)."""
    window_s: float = 14400.0
    """Seconds without a jump before the load counts as calm (> 0). 4 h: shorter, the quiet
    spells between smart-hospital's alarms count as calm and the rule holds fewer executors
    than the next alarm needs (on validation load smart-hospital -0.026 at 30 min, -0.011 at
    1 h, -0.001 at 2 h, 0 at 4 h); at 8 h traffic-sensors gave back 0.005 of its gain."""
    min_jump: float = 0.2
    """A rise of the input over one interval by at least this share is a jump (> 0). The
    surge response's threshold; 0.1 scored the same on validation load (steady noise moves
    the input about 2% an interval, bursts 40% or more)."""
    restart_actuation: bool = False
    """Also under restart actuation (False: in place only; each one-executor step of the rule
    would be a restart)."""

    def __post_init__(self) -> None:
        if not self.window_s > 0.0:
            raise ValueError(f"window_s must be > 0, got {self.window_s}")
        if not self.min_jump > 0.0:
            raise ValueError(f"min_jump must be > 0, got {self.min_jump}")


class CalmLoad:
    """Whether one application's input has been calm for the window."""

    def __init__(self, settings: CalmRuleSettings | None = None) -> None:
        self.settings = settings or CalmRuleSettings()
        self.since_s: float | None = None
        """The start of the calm stretch: the last jump, or the first input seen."""
        self._last_eps: float | None = None

    def observe(self, input_eps: float, time_s: float) -> bool:
        """Record the input of the interval ending at ``time_s``; whether the load is calm."""
        last, self._last_eps = self._last_eps, input_eps
        if self.since_s is None or (last is not None and self._jump(last, input_eps)):
            self.since_s = time_s
        return time_s - self.since_s >= self.settings.window_s

    def _jump(self, before_eps: float, after_eps: float) -> bool:
        """A rise by ``min_jump`` or more; from no input to some is one, none to none is not."""
        return after_eps > 0.0 and after_eps >= (1.0 + self.settings.min_jump) * before_eps

    def resume(self, rates: Sequence[float], newest_at: float, interval_s: float) -> None:
        """Start from a stored input history (oldest first; the newest seen at ``newest_at``,
        one every ``interval_s``): an operator restart keeps the calm stretch it can see."""
        if not rates or not math.isfinite(newest_at):
            return
        start = newest_at - (len(rates) - 1) * interval_s
        since = start
        for i in range(1, len(rates)):
            if self._jump(rates[i - 1], rates[i]):
                since = start + i * interval_s
        self.since_s, self._last_eps = since, rates[-1]


class CalmRule:
    """One application's calm-load detector and rate rule, as the decision step uses them."""

    def __init__(self, ctx: ControlContext, settings: CalmRuleSettings | None = None) -> None:
        self.settings = settings or CalmRuleSettings()
        self.load = CalmLoad(self.settings)
        self.rule = RateRule()
        self.rule.reset(ctx)

    def reconfigure(self, ctx: ControlContext) -> None:
        """New bounds or actuation; the rule's measurements and confirmations stay."""
        self.rule.ctx = ctx

    def acts(self) -> bool:
        """Enabled, and in place unless asked for under restart actuation too."""
        ctx = self.rule.ctx
        restart = ctx is not None and ctx.actuation == "restart"
        return self.settings.enabled and (self.settings.restart_actuation or not restart)

    def propose(self, metrics: SystemMetrics, latency_slo_ms: float) -> int | None:
        """The rule's count while the load is calm, else None. Call it every decision it may
        act on: the rule measures the rate and counts its confirmations on each.

        Latency near the SLO makes the rule add an executor ahead of a breach; above the SLO
        the latency is the SLO guard's, which sizes by the rate and stands down when
        executors buy nothing. On the calibrated simulator, where a 2 s trigger keeps every
        count above a 2 s SLO, the rule adding one at every decision climbed to the maximum
        (steady $1.96/h -> $8.47/h; docs/calm-rule.md)."""
        if not self.acts():
            return None
        below_slo = metrics.latency_ms <= latency_slo_ms
        target = self.rule.target(metrics, latency_slo_ms, latency_counts=below_slo)
        return target if self.load.observe(metrics.input_rate_eps, metrics.time_s) else None

    def resume(self, rates: Sequence[float], newest_at: float) -> None:
        """See :meth:`CalmLoad.resume` (one rate per decision interval)."""
        assert self.rule.ctx is not None
        self.load.resume(rates, newest_at, self.rule.ctx.decision_interval_s)
