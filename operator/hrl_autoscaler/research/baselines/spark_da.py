"""Spark dynamic allocation: exponential ramp-up on backlog, idle-timeout scale-down."""

from __future__ import annotations

import math

from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights


class SparkDynamicAllocationController:
    """Spark's ``ExecutorAllocationManager`` at the granularity of one decision interval.

    While tasks are backlogged it adds 1, 2, 4, ... executors per interval (the doubling of
    ``sustainedSchedulerBacklogTimeout``); once the backlog clears the increment resets to 1.
    Executors idle for ``idle_timeout_s`` (60 s) are removed. Idle executors are counted as if
    tasks were packed onto as few executors as possible, which is kinder to Spark than real
    micro-batch scheduling (tasks spread over all executors keep them all 'busy').
    """

    name = "spark-da"

    def __init__(self, idle_timeout_s: float = 60.0, backlog_batches: float = 2.0) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.backlog_batches = backlog_batches
        self._to_add = 1
        self._idle_since: float | None = None
        self._ctx: ControlContext | None = None

    def reset(self, ctx: ControlContext) -> None:
        self._ctx = ctx
        self._to_add = 1
        self._idle_since = None

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        assert self._ctx is not None, "reset() first"
        current = metrics.executors
        if metrics.restarting:
            return current
        # Pending tasks: more queued than a couple of micro-batches' worth of arrivals.
        backlogged = metrics.backlog_events > self.backlog_batches * max(
            metrics.input_rate_eps, 1.0
        )
        if backlogged:
            self._idle_since = None
            target = current + self._to_add
            self._to_add *= 2
            return self._ctx.clamp(target)
        self._to_add = 1
        busy = math.ceil(metrics.cpu_utilisation * metrics.running_executors - 1e-9)
        if metrics.running_executors > max(busy, 1):
            if self._idle_since is None:
                self._idle_since = metrics.time_s
            if metrics.time_s - self._idle_since >= self.idle_timeout_s:
                self._idle_since = None
                return self._ctx.clamp(max(busy, 1) + (current - metrics.running_executors))
        else:
            self._idle_since = None
        return current
