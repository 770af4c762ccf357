"""A fixed executor count: what most streaming jobs run with today."""

from __future__ import annotations

from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights


class StaticController:
    """Always ``executors`` (``None`` = the maximum allowed: over-provisioning)."""

    def __init__(self, executors: int | None) -> None:
        if executors is not None and executors < 1:
            raise ValueError(f"static executor count must be >= 1, got {executors}")
        self.executors = executors
        self.name = "static-max" if executors is None else f"static-{executors}"
        self._value = executors or 1

    def reset(self, ctx: ControlContext) -> None:
        self._value = ctx.clamp(self.executors if self.executors is not None else ctx.max_executors)

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        return self._value
