"""Spark's streaming dynamic allocation (DStreams), the only streaming-aware allocator upstream.

Spark's ``org.apache.spark.streaming.scheduler.ExecutorAllocationManager`` (Spark 2.0 to 4.x,
``spark.streaming.dynamicAllocation.*``; Structured Streaming never got one, SPARK-24815 was not
merged). A timer fires every ``scalingInterval``; it takes the mean processing time of the
batches completed since the previous tick, divides it by the batch interval and

- at ``ratio >= scalingUpRatio`` requests ``max(round(ratio), 1)`` more executors than are
  registered;
- at ``ratio <= scalingDownRatio`` kills one executor (never below ``minExecutors``);
- with no completed batch in the interval (a restart), does nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights


@dataclass(frozen=True, slots=True)
class SparkStreamingSettings:
    """``spark.streaming.dynamicAllocation.*`` with Spark's defaults (``minExecutors`` and
    ``maxExecutors`` are the context's bounds)."""

    scaling_interval_s: float = 60.0
    """``scalingInterval``: seconds between two allocation decisions."""
    scaling_up_ratio: float = 0.9
    """``scalingUpRatio``: add executors when mean processing time / batch interval >= this."""
    scaling_down_ratio: float = 0.3
    """``scalingDownRatio``: remove one executor when the ratio is <= this."""


def batch_ratio(metrics: SystemMetrics) -> float | None:
    """Mean batch processing time / batch interval of the simulator's last decision interval.

    A DStreams batch holds the events of one batch interval and takes ``events / capacity`` to
    process, so the ratio is the demand over the capacity of the running executors:
    ``input rate / capacity``. The simulator reports capacity through the busy fraction:
    ``cpu_utilisation = processed / capacity``, so ``capacity = processing rate / busy`` and

        ratio = input rate x busy fraction / processing rate.

    Without a backlog the processing rate equals the input rate and the ratio is the busy
    fraction (busy fraction ~ processing time / interval); when overloaded (busy = 1) it is
    ``input / capacity`` > 1, as DStreams' batches then take longer than their interval; while a
    backlog drains it is below the busy fraction of 1, as each queued batch holds one interval's
    events. The simulator's fixed batch overhead (0.2 s) and the task queueing delay add to
    latency but consume no capacity there, so they are not counted as processing time: adding
    them would make every ratio at least 0.2 and keep Spark from ever scaling in at a 1 s trigger.
    None when no batch completed (restarting, nothing running or nothing processed).
    """
    if metrics.restarting or metrics.running_executors == 0:
        return None
    if metrics.processing_rate_eps <= 0.0:
        return None if metrics.input_rate_eps <= 0.0 else math.inf
    return metrics.input_rate_eps * metrics.cpu_utilisation / metrics.processing_rate_eps


class SparkStreamingAllocationController:
    """DStreams' streaming allocator at the simulator's 30 s decision interval.

    Ticks at ``scaling_interval_s``, 2 x 60 s, ... from the start of the run; the ratio is the
    mean of :func:`batch_ratio` over the decisions since the previous tick (each decision
    interval holds the same number of 1 s batches, so this is the mean over batches). Between
    ticks it holds. Scale-up adds to the registered (running) executors as Spark does, never
    requesting fewer than already requested; with a 45 s start-up and a 60 s tick the running
    executors are the requested ones at every tick anyway.
    """

    name = "spark-streaming-da"

    def __init__(self, settings: SparkStreamingSettings | None = None) -> None:
        self.settings = settings or SparkStreamingSettings()
        self._ctx: ControlContext | None = None
        self._ratios: list[float] = []
        self._next_tick_s = self.settings.scaling_interval_s

    def reset(self, ctx: ControlContext) -> None:
        self._ctx = ctx
        self._ratios = []
        self._next_tick_s = self.settings.scaling_interval_s

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        assert self._ctx is not None, "reset() first"
        current = metrics.executors
        ratio = batch_ratio(metrics)
        if ratio is not None:
            self._ratios.append(ratio)
        if metrics.time_s + 1e-9 < self._next_tick_s:
            return current
        while self._next_tick_s <= metrics.time_s + 1e-9:
            self._next_tick_s += self.settings.scaling_interval_s
        ratios, self._ratios = self._ratios, []
        if not ratios:
            return current
        mean = sum(ratios) / len(ratios)
        s = self.settings
        if mean >= s.scaling_up_ratio:
            add = max(math.floor(min(mean, 1e6) + 0.5), 1)  # Scala's math.round: half up
            return self._ctx.clamp(max(metrics.running_executors + add, current))
        if mean <= s.scaling_down_ratio and current > self._ctx.min_executors:
            return self._ctx.clamp(current - 1)
        return current
