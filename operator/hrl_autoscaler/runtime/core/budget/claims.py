"""What one application asks of its budget, and what the budget gives it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hrl_autoscaler.runtime.core.application import AppKey


@dataclass(frozen=True, slots=True)
class Claim:
    """One covered application, as the global controller sees it at an allocation."""

    key: AppKey
    min_executors: int
    max_executors: int
    current: int
    """Its executor target as written (what counts against the budget now)."""
    wanted: int
    """What its own fast decision step last proposed, before any cap (its demand)."""
    load_eps: float
    """Forecast mean input rate over the next interval and an executor's start-up, events/s."""
    load_sd_eps: float
    """The forecast's spread (standard deviation), events/s."""
    executor_rate_eps: float
    """The measured rate of one executor alone (the capacity estimate), events/s."""
    latency_slo_ms: float
    cost_weight: float = 1.0 / 3.0
    """Its weights' alpha (cost): how much it minds paying for an idle executor."""
    priority: float = 1.0
    """Its ``priority`` (from its SLO class or the annotation): a violation's weight."""
    price_per_hour: float = 0.49
    """Its ``cost-per-executor-hour`` (what ``maxCostPerHour`` is counted in)."""
    violation_rate: float = 0.0
    """The share of its decisions since the last allocation with latency above the SLO
    (what a learned index learns from)."""


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    max_executors: int | None = None
    max_cost_per_hour: float | None = None

    def fits(self, executors: int, cost_per_hour: float) -> bool:
        return (self.max_executors is None or executors <= self.max_executors) and (
            self.max_cost_per_hour is None or cost_per_hour <= self.max_cost_per_hour + 1e-9
        )

    def describe(self) -> str:
        parts = []
        if self.max_executors is not None:
            parts.append(f"{self.max_executors} executors")
        if self.max_cost_per_hour is not None:
            parts.append(f"{self.max_cost_per_hour:g}/h")
        return " and ".join(parts) or "unlimited"


@dataclass(frozen=True)
class Allocation:
    """Caps for every claim, between its minimum and its maximum, that fit the budget."""

    caps: Mapping[AppKey, int]
    index: Mapping[AppKey, float] = field(default_factory=dict)
    """The score of the last executor each application was granted (the Whittle index that
    earned it; for the simple policies, their own ordering score)."""
    clearing_index: float | None = None
    """The score of the last executor granted at all: the price at which the budget cleared."""
    feasible: bool = True
    """False when the minimums alone exceed the budget (every cap is then its minimum)."""
    gate_only: bool = False
    """``first-come``: no caps below the maxima; scale-ups are admitted while they fit."""

    def total(self) -> int:
        return sum(self.caps.values())
