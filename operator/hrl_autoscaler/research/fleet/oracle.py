"""The oracle bound: the best caps for the next interval with every application's load known.

No deployed policy can do better than allocating with the future known, so this bounds how much
of the gap to "no budget" an arbitration policy could close. The oracle scores caps with the
same cluster model as the Whittle index (:mod:`~hrl_autoscaler.runtime.core.budget.value`) but
with the *true* load of every step of the next interval and an executor's start-up, and the true
executor rate, instead of a forecast: the value of ``n`` executors is::

    V(n) = priority * (share of those steps whose load n executors serve within the SLO)
           - alpha * n / max_executors

Then it maximises the summed value exactly: a multiple-choice knapsack (one level per
application, executors as the weight) solved by dynamic programming over applications x budget
units. The Whittle greedy is exact only on concave values; the DP is exact on any.

Caps are ceilings, not allocations: an executor the value model does not pay for costs nothing
while the application does not use it, and the fast loop needs headroom the model does not see
(start-up, backlog, its own steps). So, like the greedy policies, the oracle hands out the whole
budget: what the DP leaves first keeps every application at what it holds or asks for (a cap
below that forces a scale-down the fast loop must undo, late, when its load returns), then goes
one executor at a time to the application most at risk, the highest ``priority * peak future
load / load its cap serves within the SLO``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import ndtr

from hrl_autoscaler.config import MAX_EXECUTORS, SimParams
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.claims import Allocation, BudgetLimit, Claim
from hrl_autoscaler.runtime.core.budget.value import sustainable_load_eps

#: The true load is known; a little spread stands for the simulator's capacity noise (5%).
ORACLE_RELATIVE_SD = 0.02


def oracle_values(
    claims: Sequence[Claim],
    future_eps: Sequence[np.ndarray],
    params: SimParams,
) -> np.ndarray:
    """``V[i, n]`` for ``n = 0..20`` from each application's true future loads."""
    truthful = [replace(c, executor_rate_eps=params.executor_rate_eps) for c in claims]
    served = sustainable_load_eps(truthful, params)  # (apps, 21)
    met = np.zeros_like(served)
    for i, future in enumerate(future_eps):
        loads = np.asarray(future, dtype=float)
        if loads.size == 0:
            loads = np.array([claims[i].load_eps])
        sd = np.maximum(ORACLE_RELATIVE_SD * loads, 1e-6)
        z = (served[i][None, :] - loads[:, None]) / sd[:, None]
        met[i] = ndtr(z).mean(axis=0)
        met[i, 0] = 0.0 if loads.max() > 0 else 1.0
    priority = np.array([c.priority for c in claims], dtype=float)
    alpha = np.array([c.cost_weight for c in claims], dtype=float)
    n = np.arange(MAX_EXECUTORS + 1, dtype=float)
    value: np.ndarray = priority[:, None] * met - alpha[:, None] * n[None, :] / MAX_EXECUTORS
    return value


def knapsack_caps(
    value: np.ndarray, mins: Sequence[int], maxs: Sequence[int], budget: int
) -> list[int] | None:
    """The levels ``mins[i] <= n_i <= maxs[i]`` with ``sum(n_i) <= budget`` maximising
    ``sum(value[i, n_i])`` (None when the minimums alone do not fit)."""
    apps = len(mins)
    base = int(sum(mins))
    room = budget - base
    if room < 0:
        return None
    neg = -np.inf
    best = np.full(room + 1, neg)
    best[0] = 0.0
    choice = np.zeros((apps, room + 1), dtype=int)
    for i in range(apps):
        extra_max = min(int(maxs[i]) - int(mins[i]), room)
        nxt = np.full(room + 1, neg)
        for extra in range(extra_max + 1):
            gain = float(value[i, int(mins[i]) + extra])
            shifted = np.full(room + 1, neg)
            shifted[extra:] = best[: room + 1 - extra] + gain
            better = shifted > nxt
            nxt[better] = shifted[better]
            choice[i, better] = extra
        best = nxt
    used = int(np.argmax(best))
    caps = [0] * apps
    for i in range(apps - 1, -1, -1):
        extra = int(choice[i, used])
        caps[i] = int(mins[i]) + extra
        used -= extra
    return caps


@dataclass
class OraclePolicy:
    """An :class:`~hrl_autoscaler.runtime.core.budget.policies.ArbitrationPolicy` that reads the
    fleet's true loads: the simulator sets :attr:`step` (the index of the interval the next
    targets apply to) before every operator cycle."""

    loads: Mapping[AppKey, np.ndarray]
    params: SimParams
    horizon_steps: int
    """The interval plus an executor's start-up, in simulator steps."""
    name: str = "oracle"
    step: int = 0
    calls: int = field(default=0)

    def allocate(self, claims: Sequence[Claim], limit: BudgetLimit) -> Allocation:
        if not claims:
            return Allocation({})
        self.calls += 1
        future = [
            self.loads[c.key][self.step : self.step + self.horizon_steps]
            if c.key in self.loads
            else np.array([c.load_eps])
            for c in claims
        ]
        value = oracle_values(claims, future, self.params)
        mins = [c.min_executors for c in claims]
        maxs = [c.max_executors for c in claims]
        budget = limit.max_executors if limit.max_executors is not None else sum(maxs)
        caps = knapsack_caps(value, mins, maxs, budget)
        if caps is None:
            return Allocation({c.key: c.min_executors for c in claims}, feasible=False)
        _hand_out(caps, maxs, budget, claims, future, self.params)
        return Allocation({c.key: n for c, n in zip(claims, caps, strict=True)})


def _hand_out(
    caps: list[int],
    maxs: Sequence[int],
    budget: int,
    claims: Sequence[Claim],
    future: Sequence[np.ndarray],
    params: SimParams,
) -> None:
    """Give the executors the DP left unused to the applications most at risk, in place."""
    truthful = [replace(c, executor_rate_eps=params.executor_rate_eps) for c in claims]
    served = sustainable_load_eps(truthful, params)
    peak = np.array(
        [
            float(np.max(f)) if np.size(f) else c.load_eps
            for c, f in zip(claims, future, strict=True)
        ]
    )
    priority = np.array([c.priority for c in claims], dtype=float)
    held = [max(c.current, c.wanted) for c in claims]
    for _ in range(budget - sum(caps)):
        risk = np.array(
            [
                priority[i] * peak[i] / max(served[i, caps[i]], 1e-9)
                + (1e6 if caps[i] < held[i] else 0.0)
                if caps[i] < maxs[i]
                else -1
                for i in range(len(caps))
            ]
        )
        i = int(np.argmax(risk))
        if risk[i] < 0:
            return
        caps[i] += 1
