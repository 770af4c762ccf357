"""Kubernetes HPA v2 on CPU utilisation, as a platform team would first try it."""

from __future__ import annotations

import math
from collections import deque

from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights


class HPAController:
    """``desired = ceil(current * utilisation / target)`` with HPA's defaults.

    Tolerance 0.1 (no change while the ratio is within 10% of 1), scale-up limited to
    max(100%, +4 pods) per decision, and a 300 s scale-down stabilisation window in which
    the highest recommendation wins. Without a usable metric (restart in progress, no running
    executors) it holds, as HPA does not scale down on missing metrics.
    """

    name = "hpa"

    def __init__(
        self,
        target_utilisation: float = 0.7,
        tolerance: float = 0.1,
        stabilisation_s: float = 300.0,
    ) -> None:
        self.target = target_utilisation
        self.tolerance = tolerance
        self.stabilisation_s = stabilisation_s
        self._history: deque[tuple[float, int]] = deque()
        self._ctx: ControlContext | None = None

    def reset(self, ctx: ControlContext) -> None:
        self._ctx = ctx
        self._history.clear()

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        assert self._ctx is not None, "reset() first"
        current = metrics.executors
        if metrics.restarting or metrics.running_executors == 0:
            return current
        ratio = metrics.cpu_utilisation * metrics.running_executors / (current * self.target)
        desired = (
            current if abs(ratio - 1.0) <= self.tolerance else math.ceil(current * ratio - 1e-9)
        )
        desired = min(desired, max(2 * current, current + 4))
        desired = self._ctx.clamp(desired)
        now = metrics.time_s
        self._history.append((now, desired))
        while self._history and self._history[0][0] < now - self.stabilisation_s:
            self._history.popleft()
        if desired < current:
            desired = min(current, max(d for _, d in self._history))
        return desired
