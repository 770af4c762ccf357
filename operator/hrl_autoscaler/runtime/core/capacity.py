"""Per-executor capacity, measured DS2-style, and the observation scale it implies.

The policy sees the arrival rate as a fraction of what the largest allocation can process
(``rate_scale_eps``). The simulator knows that capacity; a real application's must be measured:
``true rate per executor = processing rate / (busy fraction x running executors)`` (DS2), what an
executor would do if it never idled. It is converted to a single executor's rate through the
same contention law the simulator trains with, so ``rate_scale_eps`` means the same thing in
training and in production.
"""

from __future__ import annotations

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.observation import ObservationScale

#: Fewer busy executors than this give a measurement dominated by noise: keep the estimate.
MIN_BUSY_EXECUTORS = 0.5


def measured_executor_rate(metrics: SystemMetrics, params: SimParams) -> float | None:
    """One executor's rate (events/s) implied by these metrics, or None when not measurable."""
    busy = metrics.cpu_utilisation * metrics.running_executors
    if busy < MIN_BUSY_EXECUTORS or metrics.processing_rate_eps <= 0 or metrics.restarting:
        return None
    per_busy_executor = metrics.processing_rate_eps / busy
    return per_busy_executor * (1.0 + params.scaling_contention * (metrics.running_executors - 1))


def smoothed(previous: float, measured: float | None, weight: float) -> float:
    """Exponential moving average; a missing measurement keeps the previous estimate."""
    if measured is None:
        return previous
    return (1.0 - weight) * previous + weight * measured


def observation_scale(executor_rate_eps: float, params: SimParams) -> ObservationScale:
    """The scale the policy was trained with, for an executor of the given rate."""
    scaled = params.with_overrides(executor_rate_eps=executor_rate_eps)
    return ObservationScale(
        scaled.rate_scale_eps,
        params.max_executors,
        params.max_latency_ms,
        params.backlog_horizon_s,
    )
