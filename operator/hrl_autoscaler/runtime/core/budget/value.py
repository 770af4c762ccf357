"""The value of one more executor to an application, from the cluster model.

With ``n`` executors of measured rate ``r`` an application meets its latency SLO while its
input rate stays below ``lambda*(n) = u*(n) * capacity(n)``, where ``u*(n)`` is the utilisation
at which the model's micro-batch latency (batch overhead + processing + Erlang-C queueing,
:mod:`~hrl_autoscaler.runtime.core.latency`) reaches the SLO. With the load forecast as a normal
distribution, ``P(violation | n) = P(load > lambda*(n))``, and the value of ``n`` executors over
the next interval is::

    V(n) = priority * (1 - P(violation | n)) - alpha * n / max_executors

(a violation weighted by the application's priority, an executor by its own cost weight in the
units the reward uses). The Whittle index of the ``n``-th executor is ``V(n) - V(n-1)``: the
drop in expected violation it buys minus its price. Everything is arrays over applications,
so 1,000 applications cost a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy.special import ndtr

from hrl_autoscaler.config import MAX_EXECUTORS, SimParams
from hrl_autoscaler.runtime.core.budget.claims import Claim
from hrl_autoscaler.runtime.core.latency import mean_wait_s_array, micro_batch_latency_s

#: Utilisation grid of the latency table (the queueing model saturates at 0.99).
_UTILISATION = np.linspace(0.0, 0.99, 199)
#: A forecast is never trusted to better than this share of its mean (noise, bursts).
MIN_RELATIVE_SD = 0.05


@lru_cache(maxsize=8)
def latency_table_s(params: SimParams) -> np.ndarray:
    """Latency (s) with an empty backlog for ``n = 1..20`` executors (rows) and the utilisation
    grid (columns); increasing along each row."""
    rows = [
        micro_batch_latency_s(
            params,
            np.minimum(_UTILISATION, 1.0),
            mean_wait_s_array(n, _UTILISATION, params.task_time_s),
        )
        for n in range(1, MAX_EXECUTORS + 1)
    ]
    return np.maximum.accumulate(np.asarray(rows), axis=1)


def capacity_units(params: SimParams) -> np.ndarray:
    """``capacity(n) / executor_rate`` for ``n = 0..20`` (the contention law)."""
    n = np.arange(MAX_EXECUTORS + 1, dtype=float)
    return np.where(n > 0, n / (1.0 + params.scaling_contention * np.maximum(n - 1, 0)), 0.0)


def sustainable_load_eps(claims: Sequence[Claim], params: SimParams) -> np.ndarray:
    """``lambda*[i, n]``: the largest input rate application ``i`` serves within its SLO with
    ``n = 0..20`` executors (0 for ``n = 0``)."""
    table = latency_table_s(params)
    slo_s = np.array([c.latency_slo_ms for c in claims], dtype=float) / 1000.0
    rate = np.array([c.executor_rate_eps for c in claims], dtype=float)
    units = capacity_units(params)
    out = np.zeros((len(claims), MAX_EXECUTORS + 1))
    for n in range(1, MAX_EXECUTORS + 1):
        row = table[n - 1]
        u_star = np.interp(slo_s, row, _UTILISATION, left=0.0, right=_UTILISATION[-1])
        out[:, n] = u_star * units[n] * rate
    return out


def violation_probability(claims: Sequence[Claim], params: SimParams) -> np.ndarray:
    """``P[i, n]``: the chance that application ``i``'s load exceeds what ``n`` executors serve
    within its SLO, under its forecast."""
    mean = np.array([max(c.load_eps, 0.0) for c in claims], dtype=float)
    sd = np.array([c.load_sd_eps for c in claims], dtype=float)
    sd = np.maximum(sd, MIN_RELATIVE_SD * mean + 1e-6)
    served = sustainable_load_eps(claims, params)
    p = 1.0 - ndtr((served - mean[:, None]) / sd[:, None])
    p[:, 0] = np.where(mean > 0, 1.0, 0.0)
    return np.asarray(p)


def value_table(claims: Sequence[Claim], params: SimParams) -> np.ndarray:
    """``V[i, n]`` for ``n = 0..20`` (see the module docstring)."""
    p = violation_probability(claims, params)
    priority = np.array([c.priority for c in claims], dtype=float)
    alpha = np.array([c.cost_weight for c in claims], dtype=float)
    n = np.arange(MAX_EXECUTORS + 1, dtype=float)
    value: np.ndarray = priority[:, None] * (1.0 - p) - alpha[:, None] * n[None, :] / MAX_EXECUTORS
    return value


def concave_marginals(value: np.ndarray) -> np.ndarray:
    """``G[i, n]`` (``n = 1..20`` in columns ``0..19``): the marginal value of the ``n``-th
    executor on the upper concave envelope of ``V[i, :]``, non-increasing along each row.

    The violation probability falls along an S-curve, so the first executor past an
    application's need is worth more than the one before it; the envelope credits every
    executor of that climb with the climb's average gain, which makes the greedy
    allocation take the whole climb or none of it (the standard fix for non-concave values).
    """
    levels = value.shape[1] - 1
    gains = np.full((value.shape[0], levels), -np.inf)
    for start in range(1, levels + 1):
        best = np.full(value.shape[0], -np.inf)
        for stop in range(start, levels + 1):
            average = (value[:, stop] - value[:, start - 1]) / (stop - start + 1)
            best = np.maximum(best, average)
        gains[:, start - 1] = best
    return np.minimum.accumulate(gains, axis=1)
