"""What ``evaluate`` compares: the controller interface, and the context every decision knows.

The baselines implement :class:`Controller` directly; ``hrl`` and ``ppo-fixed`` implement it by
running the operator's whole pipeline on the simulated cluster. :class:`ControlContext` is also
what the operator's decision step and DS2 sizing are built with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hrl_autoscaler.config import Actuation
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights


@dataclass(frozen=True, slots=True)
class ControlContext:
    """What a controller knows about the application before its first decision."""

    min_executors: int
    max_executors: int
    decision_interval_s: float
    actuation: Actuation
    restart_downtime_s: float = 90.0

    @property
    def bounds(self) -> tuple[int, int]:
        """(min_executors, max_executors)."""
        return self.min_executors, self.max_executors

    def clamp(self, executors: int) -> int:
        lo, hi = self.bounds
        return lo if executors < lo else hi if executors > hi else executors


@runtime_checkable
class Controller(Protocol):
    """Decides an executor count from the metrics of the last interval.

    ``decide`` must return a count within the context's bounds. Controllers keep whatever
    history they need themselves (HPA's stabilisation window, Spark's ramp-up counter).
    """

    name: str

    def reset(self, ctx: ControlContext) -> None: ...

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int: ...
