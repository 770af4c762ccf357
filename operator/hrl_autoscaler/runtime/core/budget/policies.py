"""Arbitration: claims -> caps that fit the budget.

Every policy scores each application's next executors and one greedy engine grants them in
score order: the minimums first, then executor by executor while both limits allow, so that the
caps always sum to at most the budget and the whole budget is handed out (caps are ceilings,
not allocations: an application below its cap takes what it needs and leaves the rest unused).

- ``whittle`` (default): the Whittle index of :mod:`.value` (restless bandits, Lagrangian
  relaxation: grant the executors whose marginal value clears the budget's shadow price);
- ``equal-share``: water-filling, everyone's cap as equal as the bounds allow;
- ``proportional``: caps in proportion to what each application's own step asks for;
- ``static-priority``: higher priority served up to its demand first, equal-share after;
- ``first-come``: the Flink operator's quota semantics: no caps, a scale-up that does not fit
  in what is left is blocked (the :mod:`.gate` does it);
- ``learned-whittle``: the two-timescale Q-learned index of :mod:`.learned`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hrl_autoscaler.config import MAX_EXECUTORS, SimParams
from hrl_autoscaler.runtime.core.budget.claims import Allocation, BudgetLimit, Claim
from hrl_autoscaler.runtime.core.budget.value import concave_marginals, value_table


class ArbitrationPolicy(Protocol):
    name: str

    def allocate(self, claims: Sequence[Claim], limit: BudgetLimit) -> Allocation:
        """Caps between each claim's minimum and maximum that fit ``limit``."""
        ...


def greedy_caps(claims: Sequence[Claim], limit: BudgetLimit, scores: np.ndarray) -> Allocation:
    """Grant executors above the minimums in decreasing ``scores[i, n - 1]`` (the score of
    application ``i``'s ``n``-th executor), never the ``n``-th before the ``(n-1)``-th.

    Rows should be non-increasing (the policies' scores are): then one sort of every
    candidate executor is the greedy order and the prefix rule holds by itself.
    """
    mins = np.array([c.min_executors for c in claims], dtype=int)
    maxs = np.array([c.max_executors for c in claims], dtype=int)
    prices = np.array([c.price_per_hour for c in claims], dtype=float)
    caps = mins.copy()
    used, cost = int(mins.sum()), float((mins * prices).sum())
    index = {c.key: float("nan") for c in claims}
    if not limit.fits(used, cost):
        return Allocation(
            {c.key: int(m) for c, m in zip(claims, mins, strict=True)}, index, None, False
        )
    levels = np.arange(1, MAX_EXECUTORS + 1)
    candidate = (levels[None, :] > mins[:, None]) & (levels[None, :] <= maxs[:, None])
    rows, cols = np.nonzero(candidate)
    if rows.size == 0:
        return Allocation({c.key: int(m) for c, m in zip(claims, mins, strict=True)}, index)
    order = np.lexsort((rows, cols, -scores[rows, cols]))
    blocked = np.zeros(len(claims), dtype=bool)
    budget_e = limit.max_executors if limit.max_executors is not None else np.iinfo(np.int64).max
    budget_c = limit.max_cost_per_hour if limit.max_cost_per_hour is not None else np.inf
    clearing: float | None = None
    for k in order:
        i = int(rows[k])
        if blocked[i] or caps[i] != cols[k]:  # a lower executor of this app was refused
            blocked[i] = True
            continue
        if used + 1 > budget_e:
            break
        if cost + prices[i] > budget_c + 1e-9:
            blocked[i] = True
            continue
        caps[i] += 1
        used += 1
        cost += float(prices[i])
        clearing = float(scores[i, cols[k]])
        index[claims[i].key] = clearing
    return Allocation({c.key: int(n) for c, n in zip(claims, caps, strict=True)}, index, clearing)


def _levels(claims: Sequence[Claim]) -> np.ndarray:
    return np.tile(np.arange(1, MAX_EXECUTORS + 1, dtype=float), (len(claims), 1))


def _demand(claims: Sequence[Claim]) -> np.ndarray:
    return np.array(
        [min(max(c.wanted, c.min_executors), c.max_executors) for c in claims], dtype=float
    )


@dataclass
class WhittlePolicy:
    """Executors to the applications whose Whittle index (:mod:`.value`) is highest.

    The executors the index does not pay for (index <= 0) are still handed out, as every
    policy hands the whole budget out, but not in index order: past the need, the index is just
    minus each application's cost weight, so the cheapest-minded application would take every
    spare executor up to its maximum while the others are cut below what they hold. Caps are
    ceilings, and a cap below what an application holds or asks for forces a scale-down its
    fast loop must undo late (its forecast misses bursts and backlog). So the spare executors
    go first up to what each holds or asks for, in proportion to it, then equally.
    """

    params: SimParams
    name: str = "whittle"

    def allocate(self, claims: Sequence[Claim], limit: BudgetLimit) -> Allocation:
        if not claims:
            return Allocation({})
        gains = concave_marginals(value_table(claims, self.params))
        held = np.array(
            [min(max(c.current, c.wanted, c.min_executors), c.max_executors) for c in claims],
            dtype=float,
        )
        levels = _levels(claims)
        spare = np.where(levels <= held[:, None], -1.0 - levels / held[:, None], -3.0 - levels)
        scores = np.where(gains > 0, gains, spare)
        return greedy_caps(claims, limit, np.minimum.accumulate(scores, axis=1))


@dataclass
class EqualSharePolicy:
    name: str = "equal-share"

    def allocate(self, claims: Sequence[Claim], limit: BudgetLimit) -> Allocation:
        return greedy_caps(claims, limit, -_levels(claims))


@dataclass
class ProportionalPolicy:
    """Water-filling on ``level / demand``: caps in proportion to each one's proposal."""

    name: str = "proportional"

    def allocate(self, claims: Sequence[Claim], limit: BudgetLimit) -> Allocation:
        demand = _demand(claims)
        return greedy_caps(claims, limit, -_levels(claims) / demand[:, None])


@dataclass
class StaticPriorityPolicy:
    """Demands in priority order, then equal-share of what is left."""

    name: str = "static-priority"

    def allocate(self, claims: Sequence[Claim], limit: BudgetLimit) -> Allocation:
        levels = _levels(claims)
        demand = _demand(claims)
        priority = np.array([c.priority for c in claims], dtype=float)
        within = levels <= demand[:, None]
        scores = np.where(within, 1e6 * priority[:, None] - levels, -levels)
        # Keep rows non-increasing: an executor past the demand never outranks one within it.
        return greedy_caps(claims, limit, np.minimum.accumulate(scores, axis=1))


@dataclass
class FirstComePolicy:
    """No arbitration: every cap is the maximum; the gate blocks what does not fit."""

    name: str = "first-come"

    def allocate(self, claims: Sequence[Claim], limit: BudgetLimit) -> Allocation:
        caps = {c.key: c.max_executors for c in claims}
        feasible = limit.fits(
            sum(c.min_executors for c in claims),
            sum(c.min_executors * c.price_per_hour for c in claims),
        )
        return Allocation(caps, {}, None, feasible, gate_only=True)


def policy_factory(params: SimParams) -> Callable[[str], ArbitrationPolicy]:
    """Name (``spec.policy``) -> a fresh policy (a learned index keeps state per budget)."""

    def make(name: str) -> ArbitrationPolicy:
        if name == "whittle":
            return WhittlePolicy(params)
        if name == "learned-whittle":
            from hrl_autoscaler.runtime.core.budget.learned import LearnedWhittlePolicy

            return LearnedWhittlePolicy(params)
        simple: dict[str, Callable[[], ArbitrationPolicy]] = {
            "equal-share": EqualSharePolicy,
            "proportional": ProportionalPolicy,
            "static-priority": StaticPriorityPolicy,
            "first-come": FirstComePolicy,
        }
        if name not in simple:
            raise ValueError(f"unknown budget policy {name!r}")
        return simple[name]()

    return make
