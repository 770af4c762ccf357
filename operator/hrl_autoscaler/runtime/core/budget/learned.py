"""The Whittle index learned by two-timescale Q-learning (``learned-whittle``, seed 004).

:mod:`.value` computes the index from the cluster model directly. This policy learns it
instead (Avrachenkov & Borkar; arXiv 2409.04605), so that where the model is wrong about an
application (a mis-measured executor rate, a bursty source, a backlog it carries) the
violations it reports move the index, not just the forecast.

**Arm and state.** One application's ``n``-th executor is one two-action arm: *active*
grants it, *passive* does not. Its state is ``(n, cv, d, b)``: the level ``n``; the
forecast's relative spread ``cv`` (three buckets); ``d = n - need``, how far ``n`` lies above
the fractional number of executors the forecast load needs under the model's sustainable
load ``lambda*(n)`` (``-5..5`` in half-executor steps); and ``b``, whether it violated its SLO
in the last interval. ``b`` is what makes the bandit *restless* and the action matter for the
future: a violating application carries a backlog (:data:`BACKLOG_DRAIN` more to process),
so refusing an executor now also makes the next interval worse.

**Reward.** Lagrangian relaxation of the budget with unit priority and no executor price:
``-violation`` for both actions, ``- lambda`` (the subsidy, paid per active executor) for the
active one. The index ``lambda(s)`` is the price at which granting and refusing are equally
good. Priority multiplies every reward and the executor price ``alpha / 20`` is added to
``lambda``, so the index of an application is ``priority * lambda(s) - alpha / 20``: one
table for all priorities and weights (the same units as :func:`.value.value_table`).

**Learning.** The fast timescale is Q-learning of ``Q(s, a; k)`` for the subsidy of every
reference state ``k``; the slow one moves ``lambda(k) += beta * (Q(k, 1; k) - Q(k, 0; k))``.
(1) Offline, synchronously on every state of a one-arm simulator built from
:func:`.value.violation_probability` (the need random-walks; a violation is drawn from the
model's probability) so a fresh policy starts from a sensible table (cached per params,
fixed seed). (2) Online, each allocation turns every claim's ``violation_rate`` into the
reward of the previous interval's action at the two levels it observes: active at the
executors it held, passive at the next one (constant step sizes, so the index tracks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from hrl_autoscaler.config import MAX_EXECUTORS, SimParams
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.claims import Allocation, BudgetLimit, Claim
from hrl_autoscaler.runtime.core.budget.policies import greedy_caps
from hrl_autoscaler.runtime.core.budget.value import (
    MIN_RELATIVE_SD,
    concave_marginals,
    sustainable_load_eps,
    violation_probability,
)

#: ``d = n - need`` grid (executors): beyond five either way one more executor is worth ~0.
OFFSETS = np.arange(-5.0, 5.01, 0.5)
#: Relative forecast spread buckets (the floor of :mod:`.value`, typical, bursty).
CVS = np.array([MIN_RELATIVE_SD, 0.15, 0.4])
#: Share of an interval's load a violating application still owes the next one.
BACKLOG_DRAIN = 0.2
#: A ``violation_rate`` from which the application counts as carrying a backlog.
BACKLOG_RATE = 0.5
#: Discount per allocation interval: a backlog matters for a few intervals, not forever.
GAMMA = 0.8
#: Sd of the need's random walk per interval (executors) in the simulator.
NEED_STEP_SD = 0.75
#: Representative SLO of the simulator (the operator's default); ``d`` removes most of it.
SIM_SLO_MS = 2000.0
#: Constant online step sizes (fast Q, slow index): they keep tracking a drifting app.
ONLINE_ALPHA, ONLINE_BETA = 0.3, 0.05

_D, _C, _L = len(OFFSETS), len(CVS), MAX_EXECUTORS
#: States per (level, cv) slice: offset bucket x backlog flag (index ``2 * d + b``).
_S = 2 * _D


@dataclass(frozen=True)
class ArmModel:
    """The one-arm simulator's tables, per slice ``(n - 1) * 3 + cv`` and state ``2d + b``."""

    p_active: np.ndarray
    """P(violation) with ``n`` executors, shape ``(slices, states)``."""
    p_passive: np.ndarray
    """P(violation) with ``n - 1`` executors."""

    def model_index(self) -> np.ndarray:
        """The model's (myopic) Whittle index ``P(n-1) - P(n)``: what the learning should rank
        like (it adds what the backlog is worth)."""
        return np.asarray(self.p_passive - self.p_active)


def _representative(load: float, sd: float, params: SimParams) -> Claim:
    return Claim(
        key=AppKey("sim", "arm"),
        min_executors=0,
        max_executors=MAX_EXECUTORS,
        current=0,
        wanted=0,
        load_eps=load,
        load_sd_eps=sd,
        executor_rate_eps=params.executor_rate_eps,
        latency_slo_ms=SIM_SLO_MS,
    )


def fractional_need(load: np.ndarray, served: np.ndarray) -> np.ndarray:
    """Executors (fractional) at which ``lambda*`` reaches ``load``, row by row; past 20 the
    last step is extended (the need of an overloaded application keeps growing)."""
    levels = np.arange(served.shape[1], dtype=float)
    need = np.empty(len(load))
    for i, (x, raw) in enumerate(zip(load, served, strict=True)):
        row = np.maximum.accumulate(raw)  # np.interp needs it non-decreasing
        top, step = row[-1], max(row[-1] - row[-2], 1e-9)
        need[i] = np.interp(x, row, levels) if x <= top else levels[-1] + (x - top) / step
    return need


def _load_for_need(need: np.ndarray, served: np.ndarray) -> np.ndarray:
    levels = np.arange(len(served), dtype=float)
    step = served[-1] - served[-2]
    inside = np.interp(np.minimum(need, levels[-1]), levels, served)
    return np.asarray(np.where(need > levels[-1], served[-1] + (need - levels[-1]) * step, inside))


@lru_cache(maxsize=4)
def arm_model(params: SimParams) -> ArmModel:
    """Violation probabilities of every state, from :func:`.value.violation_probability` on a
    representative application placed at each state's need (with its backlog added)."""
    served = sustainable_load_eps([_representative(0.0, 0.0, params)], params)[0]
    n, cv, d, backlog = np.meshgrid(
        np.arange(1, _L + 1, dtype=float), CVS, OFFSETS, [1.0, 1.0 + BACKLOG_DRAIN], indexing="ij"
    )
    load = _load_for_need(np.maximum(n - d, 0.05).ravel(), served).reshape(n.shape) * backlog
    claims = [
        _representative(float(x), float(x * c), params)
        for x, c in zip(load.ravel(), cv.ravel(), strict=True)
    ]
    p = violation_probability(claims, params).reshape(*load.shape, _L + 1)
    levels = np.arange(_L)
    active = p[levels, :, :, :, levels + 1]
    passive = p[levels, :, :, :, levels]
    return ArmModel(active.reshape(_L * _C, _S), passive.reshape(_L * _C, _S))


def _next_states(model: ArmModel, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One sampled transition of every (slice, state), for both actions with common random
    numbers (the same need step and the same uniform for the violation draw), so that the
    difference between the actions, which is all the index depends on, has little noise."""
    slices = model.p_active.shape[0]
    d = np.arange(_S) // 2
    step = rng.normal(0.0, NEED_STEP_SD / 0.5, size=(slices, _S))
    d_next = np.clip(np.rint(d[None, :] - step), 0, _D - 1).astype(int)
    u = rng.random((slices, _S))
    viol = np.stack([u < model.p_passive, u < model.p_active], axis=-1)
    return 2 * d_next[..., None] + viol, viol.astype(float)


@lru_cache(maxsize=4)
def pretrained(params: SimParams, iterations: int = 300, seed: int = 4) -> tuple[np.ndarray, ...]:
    """``(Q, lambda)`` after offline two-timescale Q-learning on the one-arm simulator.

    ``Q[slice, k, s, a]`` is learned for the subsidy ``lambda[slice, k]`` of reference state
    ``k``; every (slice, k, s, a) is updated each iteration (synchronous Q-learning), the
    index once per iteration with a step that decays faster than Q's (two timescales).
    Returns read-only arrays: a policy copies them before it learns online.
    """
    model = arm_model(params)
    rng = np.random.default_rng(seed)
    slices = model.p_active.shape[0]
    q = np.zeros((slices, _S, _S, 2))
    lam = np.zeros((slices, _S))
    rows = np.arange(slices)[:, None, None]
    refs = np.arange(_S)
    for t in range(iterations):
        alpha = 0.5 / (1.0 + t / 50.0) ** 0.6
        beta = 0.5 / (1.0 + t / 10.0)
        nxt, viol = _next_states(model, rng)
        best = np.maximum(q[..., 0], q[..., 1])  # (slice, k, next state); max() is 40x slower
        for a in (0, 1):
            future = best[rows, refs[None, :, None], nxt[:, None, :, a]]
            target = -viol[:, None, :, a] - a * lam[:, :, None] + GAMMA * future
            q[..., a] += alpha * (target - q[..., a])
        lam += beta * (q[:, refs, refs, 1] - q[:, refs, refs, 0])
    q.flags.writeable = False
    lam.flags.writeable = False
    return q, lam


@dataclass(frozen=True)
class _Seen:
    """What the policy saw of one application at the last allocation (its state)."""

    cv: int
    offsets: np.ndarray
    """Nearest offset bucket at every level ``n = 1..20``."""
    backlog: int


@dataclass
class _Arm:
    """One application's own index, copied from the pretrained table at its first online
    update: a violation it reports moves its index, not the others' (arms differ where the
    model is wrong about them, e.g. a mis-measured executor rate)."""

    index: np.ndarray
    q: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    """``(slice, reference state k) -> Q(., .; k)`` for the references it has visited."""


@dataclass
class LearnedWhittlePolicy:
    """Executors to the applications whose *learned* Whittle index is highest."""

    params: SimParams
    name: str = "learned-whittle"
    prior_q: np.ndarray = field(init=False, repr=False)
    prior_index: np.ndarray = field(init=False, repr=False)
    """``lambda[slice, state]`` after pretraining (unit priority, no executor price)."""
    arms: dict[AppKey, _Arm] = field(init=False, repr=False, default_factory=dict)
    _seen: dict[AppKey, _Seen] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.prior_q, self.prior_index = pretrained(self.params)

    def states(self, claims: Sequence[Claim]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each claim's cv bucket, offset position (grid units, continuous) at every level,
        and backlog flag."""
        mean = np.array([max(c.load_eps, 0.0) for c in claims], dtype=float)
        sd = np.array([c.load_sd_eps for c in claims], dtype=float)
        cv = np.maximum(sd, MIN_RELATIVE_SD * mean + 1e-9) / np.maximum(mean, 1e-9)
        cv_idx = np.abs(np.log(cv[:, None]) - np.log(CVS)[None, :]).argmin(axis=1)
        need = fractional_need(mean, sustainable_load_eps(claims, self.params))
        offset = np.arange(1, _L + 1, dtype=float)[None, :] - need[:, None]
        position = np.clip((offset - OFFSETS[0]) / 0.5, 0.0, _D - 1.0)
        backlog = np.array([c.violation_rate >= BACKLOG_RATE for c in claims], dtype=int)
        return cv_idx, position, backlog

    def indices(self, claims: Sequence[Claim]) -> np.ndarray:
        """``lambda`` of every claim's ``n = 1..20`` executor, interpolated along the offset
        grid (the need is continuous), from its own table once it has one."""
        cv_idx, position, backlog = self.states(claims)
        slices = np.arange(_L)[None, :] * _C + cv_idx[:, None]
        lo = np.minimum(np.floor(position).astype(int), _D - 2)
        w = position - lo
        s_lo, s_hi = 2 * lo + backlog[:, None], 2 * (lo + 1) + backlog[:, None]
        lam = (1 - w) * self.prior_index[slices, s_lo] + w * self.prior_index[slices, s_hi]
        for i, claim in enumerate(claims):
            arm = self.arms.get(claim.key)
            if arm is not None:
                table = arm.index
                lam[i] = (1 - w[i]) * table[slices[i], s_lo[i]] + w[i] * table[slices[i], s_hi[i]]
        return np.asarray(lam)

    def scores(self, claims: Sequence[Claim]) -> np.ndarray:
        """``priority * lambda(s) - alpha / 20`` for every claim's ``n = 1..20`` executor, made
        non-increasing along each row by the concave envelope of its running sum (a violation
        climb's executors are each worth little until the climb is complete, as in the model:
        see :func:`.value.concave_marginals`; ``np.minimum.accumulate`` would cap a whole row
        by its first, nearly worthless, executor)."""
        priority = np.array([c.priority for c in claims], dtype=float)
        alpha = np.array([c.cost_weight for c in claims], dtype=float)
        gains = priority[:, None] * self.indices(claims) - alpha[:, None] / MAX_EXECUTORS
        value = np.concatenate([np.zeros((len(claims), 1)), np.cumsum(gains, axis=1)], axis=1)
        return concave_marginals(value)

    def observe(self, claims: Sequence[Claim]) -> None:
        """Online two-timescale step from each claim's ``violation_rate``: the reward of the
        previous interval's action, for the applications seen at the last allocation.

        With ``h`` executors held (``current``), the interval is a sample of *active* at level
        ``h`` and of *passive* at level ``h + 1``, from the state seen then to the state now;
        the other levels' counterfactuals are not observed. Q is updated for every reference
        the application has visited in that slice, then the visited state's index.
        """
        _, position, backlog = self.states(claims)
        for i, claim in enumerate(claims):
            seen = self._seen.get(claim.key)
            if seen is None:
                continue
            arm = self.arms.setdefault(claim.key, _Arm(self.prior_index.copy()))
            held = min(max(claim.current, 0), _L)
            for level, action in ((held, 1), (held + 1, 0)):
                if not 1 <= level <= _L:
                    continue
                sl = (level - 1) * _C + seen.cv
                s = 2 * int(seen.offsets[level - 1]) + seen.backlog
                nxt = 2 * int(np.rint(position[i, level - 1])) + int(backlog[i])
                if (sl, s) not in arm.q:
                    arm.q[sl, s] = self.prior_q[sl, s].copy()
                for (slc, k), qk in arm.q.items():
                    if slc == sl:
                        target = (
                            -claim.violation_rate
                            - action * arm.index[sl, k]
                            + GAMMA * qk[nxt].max()
                        )
                        qk[s, action] += ONLINE_ALPHA * (target - qk[s, action])
                q_s = arm.q[sl, s]
                arm.index[sl, s] += ONLINE_BETA * (q_s[s, 1] - q_s[s, 0])

    def remember(self, claims: Sequence[Claim]) -> None:
        """Keep each claim's state for the next observation; forget applications that left."""
        cv_idx, position, backlog = self.states(claims)
        self._seen = {
            c.key: _Seen(int(cv_idx[i]), np.rint(position[i]).astype(int), int(backlog[i]))
            for i, c in enumerate(claims)
        }
        self.arms = {k: a for k, a in self.arms.items() if k in self._seen}

    def allocate(self, claims: Sequence[Claim], limit: BudgetLimit) -> Allocation:
        if not claims:
            return Allocation({})
        self.observe(claims)
        self.remember(claims)
        return greedy_caps(claims, limit, self.scores(claims))
