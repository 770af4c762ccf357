"""The budget's hard limit at every instant: scale-downs first, scale-ups only into headroom.

Caps sum to at most the budget, but a cap that grows for one application may only be used once
another's shrinking cap has been *written*. So a cycle writes its scale-downs first, and every
scale-up is admitted only into the room the written targets leave (counted from the objects the
operator last saw or wrote, so an operator restart or a failed scale-down cannot make room that
is not there). ``first-come`` budgets have no caps and rely on this alone: the Flink
operator's quota semantics, a scale-up that does not fit is blocked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.appruntime import AppRuntime
from hrl_autoscaler.runtime.core.budget.controller import BudgetView
from hrl_autoscaler.runtime.core.ports import BudgetRef


@dataclass
class _Usage:
    executors: int = 0
    cost_per_hour: float = 0.0


@dataclass(frozen=True, slots=True)
class Admission:
    target: int
    reason: str | None = None
    """Why the scale-up was cut (None when admitted whole)."""
    budget: BudgetRef | None = None


class BudgetGate:
    """One cycle's headroom per budget, from the written targets of the applications it covers."""

    def __init__(
        self, views: Mapping[AppKey, BudgetView], runtimes: Sequence[AppRuntime], synced: bool
    ) -> None:
        self.views = views
        self.synced = synced
        self.usage: dict[BudgetRef, _Usage] = {}
        for runtime in runtimes:
            view = views.get(runtime.key)
            if view is not None:
                usage = self.usage.setdefault(view.budget, _Usage())
                usage.executors += runtime.current_executors()
                usage.cost_per_hour += _price(runtime) * runtime.current_executors()

    def admit(self, runtime: AppRuntime, current: int, target: int) -> Admission:
        """The largest target up to ``target`` that keeps the budget (scale-downs pass)."""
        if target <= current:
            return Admission(target)
        if not self.synced:
            return Admission(current, "the ExecutorBudgets are not listed yet; scale-ups wait")
        view = self.views.get(runtime.key)
        if view is None:
            return Admission(target)
        usage = self.usage.get(view.budget, _Usage())
        room = target - current
        if view.limit.max_executors is not None:
            room = min(room, view.limit.max_executors - usage.executors)
        if view.limit.max_cost_per_hour is not None:
            spare = view.limit.max_cost_per_hour - usage.cost_per_hour
            room = min(room, math.floor(spare / _price(runtime) + 1e-9))
        admitted = current + max(room, 0)
        if admitted >= target:
            return Admission(target)
        left = max(room, 0)
        return Admission(
            admitted,
            f"{left} executors left in the budget ({view.limit.describe()}) until other "
            "applications' scale-downs are written",
            view.budget,
        )

    def applied(self, runtime: AppRuntime, current: int, target: int) -> None:
        """A scaling write went through: count it against the budget for the rest of the cycle."""
        view = self.views.get(runtime.key)
        if view is None:
            return
        usage = self.usage.setdefault(view.budget, _Usage())
        usage.executors += target - current
        usage.cost_per_hour += _price(runtime) * (target - current)


def _price(runtime: AppRuntime) -> float:
    return runtime.active_settings.cost_per_executor_hour
