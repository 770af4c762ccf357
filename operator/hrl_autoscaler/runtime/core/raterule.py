"""The rate rule: size from the measured true rate at a target utilisation, raise at once
under pressure, lower one executor at a time after confirmations.

It is ``tuned``, the strongest rule-based baseline (``research/baselines/tuned.py``, which
documents how its defaults were chosen on validation load), and since session 21 also the
decision step's controller for calm load (:mod:`~hrl_autoscaler.runtime.core.calmrule`): on
load without bursts it tracked the input more tightly and more cheaply than the policy with
every stage on (docs/calm-rule.md). Every decision it sizes from the measured true rate of one
executor (:func:`~hrl_autoscaler.runtime.core.sizing.true_rate_per_executor`, as DS2 does)::

    demand   = input + lookahead_steps x max(0, input - previous input)
    proposal = ceil((demand / target_utilisation + backlog / catch_up_s) / true rate)

within the context's bounds, and then

- **scales up at once** to the proposal when it exceeds the current count and the job is under
  pressure: busy fraction above ``up_utilisation``, latency above ``up_latency_slo_fraction`` of
  the SLO, or a backlog worth more than one decision interval of input. Under pressure with a
  proposal not above the count it adds one executor, unless executors are still starting;
- **scales down** only after ``down_confirmations`` consecutive decisions proposed fewer
  executors without pressure, at least ``cooldown_s`` after the last change, to the highest of
  those proposals and by at most ``down_max_step`` executors; the confirmations then restart.

Without a measurement (restart in progress, nothing running, nothing processed yet) it holds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.sizing import true_rate_per_executor


@dataclass(frozen=True, slots=True)
class RateRuleSettings:
    """The rule's parameters; the defaults are ``bench/tune_rule.py``'s winner on validation
    load (``docs/tuned-baseline.json``)."""

    target_utilisation: float = 0.85
    """Busy fraction the proposal sizes for: the headroom for bursts that arrive while new
    executors start (45 s)."""
    up_utilisation: float = 0.95
    """Busy fraction above which a larger proposal is applied at once."""
    up_latency_slo_fraction: float = 0.9
    """Latency above this fraction of the SLO is pressure: scale up (at least one executor)."""
    catch_up_s: float = 120.0
    """A backlog is sized to drain within this time."""
    lookahead_steps: float = 2.0
    """Decisions of the input's latest rise added to the demand (0: purely reactive)."""
    down_confirmations: int = 10
    """Consecutive lower proposals (without pressure) before a scale-down."""
    down_max_step: int = 1
    """Executors removed by one scale-down at most."""
    cooldown_s: float = 120.0
    """No scale-down within this time of the last change."""

    def __post_init__(self) -> None:
        if not 0.0 < self.target_utilisation <= 1.0:
            raise ValueError(f"target_utilisation must be in (0, 1], got {self.target_utilisation}")
        if self.catch_up_s <= 0.0:
            raise ValueError(f"catch_up_s must be > 0, got {self.catch_up_s}")
        if self.down_confirmations < 1 or self.down_max_step < 1:
            raise ValueError("down_confirmations and down_max_step must be >= 1")
        if self.lookahead_steps < 0.0 or self.cooldown_s < 0.0:
            raise ValueError("lookahead_steps and cooldown_s must be >= 0")


class RateRule:
    """The rule of the module for one application: its measured rate, the input's trend, the
    pending scale-down confirmations and the time of its last change."""

    def __init__(self, settings: RateRuleSettings | None = None) -> None:
        self.settings = settings or RateRuleSettings()
        self.ctx: ControlContext | None = None
        self._rate_eps: float | None = None
        self._previous_input: float | None = None
        self._down: deque[int] = deque()
        self._last_change_s = -math.inf

    def reset(self, ctx: ControlContext) -> None:
        self.ctx = ctx
        self._rate_eps = None
        self._previous_input = None
        self._down.clear()
        self._last_change_s = -math.inf

    def proposal(self, metrics: SystemMetrics) -> int | None:
        """The sized count (updating the rate and the input trend), None before a measurement."""
        assert self.ctx is not None, "reset() first"
        s = self.settings
        rate = true_rate_per_executor(metrics)
        if rate is not None:
            self._rate_eps = rate
        rise = 0.0
        if self._previous_input is not None:
            rise = max(0.0, metrics.input_rate_eps - self._previous_input)
        self._previous_input = metrics.input_rate_eps
        if self._rate_eps is None:
            return None
        demand = metrics.input_rate_eps + s.lookahead_steps * rise
        needed = demand / s.target_utilisation + metrics.backlog_events / s.catch_up_s
        return self.ctx.clamp(math.ceil(needed / self._rate_eps - 1e-9))

    def pressure(
        self, metrics: SystemMetrics, latency_slo_ms: float, latency_counts: bool = True
    ) -> bool:
        """Busy, slow (when ``latency_counts``), or behind by more than one interval of
        input."""
        assert self.ctx is not None, "reset() first"
        s = self.settings
        slow = latency_counts and metrics.latency_ms > s.up_latency_slo_fraction * latency_slo_ms
        return (
            metrics.cpu_utilisation > s.up_utilisation
            or slow
            or metrics.backlog_events > metrics.input_rate_eps * self.ctx.decision_interval_s
        )

    def target(
        self, metrics: SystemMetrics, latency_slo_ms: float, latency_counts: bool = True
    ) -> int:
        """The count the rule asks for after the interval ``metrics`` describe.
        ``latency_counts=False``: latency is no reason to add executors (the calm rule leaves
        latency above the SLO to the SLO guard)."""
        assert self.ctx is not None, "reset() first"
        current = metrics.executors
        if metrics.restarting or metrics.running_executors == 0:
            return current
        proposal = self.proposal(metrics)
        if proposal is None:
            return current
        if self.pressure(metrics, latency_slo_ms, latency_counts):
            self._down.clear()
            if proposal > current:
                return self._changed(metrics.time_s, proposal)
            if metrics.running_executors >= current and current < self.ctx.max_executors:
                return self._changed(metrics.time_s, current + 1)
            return current
        if proposal >= current:
            self._down.clear()
            return current
        s = self.settings
        self._down.append(proposal)
        while len(self._down) > s.down_confirmations:
            self._down.popleft()
        if len(self._down) < s.down_confirmations:
            return current
        if metrics.time_s - self._last_change_s < s.cooldown_s - 1e-9:
            return current
        target = max(max(self._down), current - s.down_max_step)
        return self._changed(metrics.time_s, self.ctx.clamp(target))

    def _changed(self, now: float, new: int) -> int:
        self._down.clear()
        self._last_change_s = now
        return new
