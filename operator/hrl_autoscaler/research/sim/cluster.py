"""The cluster model: executors, start-up delays, restarts, the backlog queue and latency.

It advances in continuous time, so the same model drives the Gymnasium environment (fixed
30 s steps) and the emulated Spark data plane (real time, any step length). Everything is plain
Python floats: one step must cost a few microseconds for training to be fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hrl_autoscaler.config import Actuation, SimParams
from hrl_autoscaler.runtime.core.latency import mean_wait_s, micro_batch_latency_s
from hrl_autoscaler.runtime.core.metrics import SystemMetrics


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What happened during one ``advance``; events are conserved:
    ``backlog_before + arrived == processed + backlog_after``."""

    arrived: float
    processed: float
    backlog_before: float
    backlog_after: float
    capacity_events: float
    latency_ms: float
    cpu_utilisation: float
    memory_utilisation: float
    cost_per_hour: float
    executors: int
    running_executors: int
    restarting: bool
    dt_s: float


class ClusterModel:
    """One Spark Structured Streaming application on a cluster of executors.

    ``set_target`` applies a new executor count with the semantics of the actuation mode;
    ``advance`` moves time forward under a given arrival rate.
    """

    def __init__(self, params: SimParams) -> None:
        self.params = params
        self.reset(params.min_executors)

    def reset(self, executors: int, backlog: float = 0.0, time_s: float = 0.0) -> None:
        n = self._clamp(executors)
        self.time_s = time_s
        self.target = n
        self.running = n
        self.pending: list[tuple[float, int]] = []  # (ready_at_s, count), in start order
        self.restart_until = -math.inf
        self.backlog = float(backlog)
        self.restarts = 0
        self.scaling_actions = 0
        self.last_input_rate = 0.0
        self.last_processing_rate = 0.0

    def _clamp(self, n: int) -> int:
        p = self.params
        return (
            p.min_executors
            if n < p.min_executors
            else p.max_executors
            if n > p.max_executors
            else n
        )

    @property
    def restarting(self) -> bool:
        return self.time_s < self.restart_until

    def restart(self) -> None:
        """The Spark Operator resubmits the application: nothing runs until it is back."""
        self.restarts += 1
        self.restart_until = self.time_s + self.params.restart_downtime_s
        self.running = 0
        self.pending = []

    def set_target(self, executors: int, actuation: Actuation | None = None) -> bool:
        """Request ``executors``; returns True when this changed the allocation.

        ``actuation`` overrides the parameters' mode for this change (the emulator restarts on
        a spec change but scales in place on an annotation change of the same application).
        """
        n = self._clamp(int(executors))
        if n == self.target:
            return False
        self.scaling_actions += 1
        if (actuation or self.params.actuation) == "restart":
            self.restart()
        elif n > self.target:
            self.pending.append((self.time_s + self.params.startup_delay_s, n - self.target))
        else:
            remove = self.target - n
            # Cancel executors still starting (newest first), then kill running idle ones.
            while remove > 0 and self.pending:
                ready_at, count = self.pending[-1]
                take = min(count, remove)
                remove -= take
                if take == count:
                    self.pending.pop()
                else:
                    self.pending[-1] = (ready_at, count - take)
            self.running -= remove
        self.target = n
        return True

    def _running_at_end_of(self, t_end: float) -> list[tuple[float, int]]:
        """Segments (start_s, running) of [time_s, t_end): running executors change at events."""
        segments: list[tuple[float, int]] = []
        t = self.time_s
        if t < self.restart_until:
            segments.append((t, 0))
            if self.restart_until > t_end:
                return segments
            t = self.restart_until
            self.running = self.target
        running = self.running
        while self.pending and self.pending[0][0] <= t_end:
            ready_at, count = self.pending.pop(0)
            if ready_at > t:
                segments.append((t, running))
                t = ready_at
            running += count
        segments.append((t, running))
        self.running = running
        return segments

    def advance(
        self, arrival_rate_eps: float, dt_s: float, capacity_factor: float = 1.0
    ) -> StepOutcome:
        """Run the application for ``dt_s`` seconds under a constant arrival rate."""
        p = self.params
        t_end = self.time_s + dt_s
        segments = self._running_at_end_of(t_end)
        capacity_events = 0.0
        for i, (start, running) in enumerate(segments):
            stop = segments[i + 1][0] if i + 1 < len(segments) else t_end
            if running > 0:
                capacity_events += p.capacity_eps(running) * capacity_factor * (stop - start)
        arrived = arrival_rate_eps * dt_s
        backlog_before = self.backlog
        available = backlog_before + arrived
        processed = available if available < capacity_events else capacity_events
        self.backlog = available - processed
        self.time_s = t_end
        restarting = self.time_s < self.restart_until
        running_now = 0 if restarting else self.running

        # Latency of an event arriving now: what Spark reports for the latest micro-batch.
        serving = self.target if restarting else max(running_now, 1)
        capacity_now = p.capacity_eps(serving) * capacity_factor
        utilisation = arrival_rate_eps / capacity_now
        latency_s = (
            micro_batch_latency_s(
                p, min(utilisation, 1.0), mean_wait_s(serving, utilisation, p.task_time_s)
            )
            + self.backlog / capacity_now
        )
        if restarting:
            latency_s += self.restart_until - self.time_s
        latency_ms = min(latency_s * 1000.0, p.latency_cap_ms)

        cpu = processed / capacity_events if capacity_events > 0 else 0.0
        backlog_pressure = self.backlog / (capacity_now * 120.0)
        memory = (
            p.memory_base + 0.3 * cpu + 0.45 * (backlog_pressure if backlog_pressure < 1 else 1.0)
        )
        self.last_input_rate = arrival_rate_eps
        self.last_processing_rate = processed / dt_s
        return StepOutcome(
            arrived=arrived,
            processed=processed,
            backlog_before=backlog_before,
            backlog_after=self.backlog,
            capacity_events=capacity_events,
            latency_ms=latency_ms,
            cpu_utilisation=cpu,
            memory_utilisation=memory if memory < 1.0 else 1.0,
            cost_per_hour=self.target * p.price_per_executor_hour,
            executors=self.target,
            running_executors=running_now,
            restarting=restarting,
            dt_s=dt_s,
        )

    def metrics(self, outcome: StepOutcome) -> SystemMetrics:
        """The controller's view of the last step (no hidden state)."""
        return SystemMetrics(
            input_rate_eps=outcome.arrived / outcome.dt_s,
            processing_rate_eps=outcome.processed / outcome.dt_s,
            backlog_events=outcome.backlog_after,
            cpu_utilisation=outcome.cpu_utilisation,
            memory_utilisation=outcome.memory_utilisation,
            latency_ms=outcome.latency_ms,
            executors=outcome.executors,
            running_executors=outcome.running_executors,
            restarting=outcome.restarting,
            time_s=self.time_s,
        )
