"""The cluster model's latency law: Erlang-C (M/M/c) waiting and a micro-batch's latency.

Pure arithmetic shared by the simulator (``research/sim/cluster``), the oracle's planning model
and the budget's value model (``runtime/core/budget``): whoever predicts latency predicts it
with the physics the policies were trained on.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from hrl_autoscaler.config import SimParams

LatencyT = TypeVar("LatencyT", float, np.ndarray)


def micro_batch_latency_s(
    params: SimParams, busy_fraction: LatencyT, queue_wait_s: LatencyT
) -> LatencyT:
    """Latency of a micro-batch with an empty backlog: half a trigger interval of waiting,
    the batch overhead, the processing of one interval's events (``busy_fraction`` of it, at
    most 1) and the Erlang-C queueing delay. One formula for floats and arrays."""
    latency: LatencyT = (
        params.batch_interval_s / 2.0
        + params.batch_overhead_s
        + busy_fraction * params.batch_interval_s
        + queue_wait_s
    )
    return latency


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that a job waits in an M/M/c queue with ``servers`` and load ``a`` Erlangs.

    Computed through the Erlang-B recursion, which is numerically stable for any c; returns 1.0
    at or beyond saturation (a >= c).
    """
    if servers <= 0 or offered_load >= servers:
        return 1.0
    if offered_load <= 0.0:
        return 0.0
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    rho = offered_load / servers
    return b / (1.0 - rho + rho * b)


def mean_wait_s(servers: int, utilisation: float, service_time_s: float) -> float:
    """Mean queueing delay ``Wq = C(c, a) * s / (c * (1 - rho))`` in seconds (rho < 1)."""
    if servers <= 0:
        return float("inf")
    rho = min(max(utilisation, 0.0), 0.99)
    return erlang_c(servers, rho * servers) * service_time_s / (servers * (1.0 - rho))


def mean_wait_s_array(servers: int, utilisation: np.ndarray, service_time_s: float) -> np.ndarray:
    """Vectorised :func:`mean_wait_s` for one server count and many utilisations."""
    rho = np.clip(utilisation, 0.0, 0.99)
    a = rho * servers
    b = np.ones_like(a)
    for k in range(1, servers + 1):
        b = a * b / (k + a * b)
    c = b / (1.0 - rho + rho * b)
    return np.asarray(c * service_time_s / (servers * (1.0 - rho)))


def fluid_backlog(
    inputs_eps: np.ndarray, capacity_eps: np.ndarray | float, dt_s: float
) -> np.ndarray:
    """The backlog (events) after each interval of ``inputs_eps``, ``dt_s`` long, served at
    ``capacity_eps`` (one for all, or one per interval), from an empty queue: the Lindley
    recursion ``b = max(0, b + (input - capacity) dt)``, vectorised."""
    surplus = np.cumsum((inputs_eps - capacity_eps) * dt_s)
    return np.asarray(surplus - np.minimum.accumulate(np.minimum(surplus, 0.0)))
