"""The clairvoyant upper bound: a dynamic program over the known future load.

No online controller can know the future; this one does, so its score bounds what any
controller could reach on the same episode. It plans executor counts with a DP over
(previous count -> next count) using the steady-state latency model, lets scale-ups take
effect one interval late (start-up delay) and charges restarts in ``restart`` actuation.
Because the DP's model ignores backlog and noise, it plans a small family of candidates
(safety margins, lookahead, cost multipliers) and keeps the one that scores best when
actually simulated on the episode: still clairvoyant, and honest about the simulator's truth.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.rollout import rollout
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.latency import mean_wait_s_array, micro_batch_latency_s
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.objectives import episode_score, validate_objective
from hrl_autoscaler.runtime.core.weights import Weights

INFEASIBLE_UTILISATION = 0.97


def steady_latency_ms(params: SimParams, load_eps: np.ndarray) -> np.ndarray:
    """(T, N) latency of each load with n = min..max executors and an empty backlog."""
    counts = range(params.min_executors, params.max_executors + 1)
    out = np.empty((load_eps.size, len(counts)))
    for j, n in enumerate(counts):
        rho = load_eps / params.capacity_eps(n)
        latency_s = micro_batch_latency_s(
            params, np.minimum(rho, 1.0), mean_wait_s_array(n, rho, params.task_time_s)
        )
        out[:, j] = np.where(
            rho < INFEASIBLE_UTILISATION, latency_s * 1000.0, params.latency_cap_ms
        )
    return out


def _window_max(load: np.ndarray, lookahead: int) -> np.ndarray:
    out = load.copy()
    for k in range(1, lookahead + 1):
        out[:-k] = np.maximum(out[:-k], load[k:])
    return out


def plan(
    stage_cost: np.ndarray,
    switch_cost: float,
    actuation: str,
    initial_executors: int,
    min_executors: int,
) -> np.ndarray:
    """Minimise total cost over targets n_t given ``stage_cost[t, effective_n]``.

    In ``in-place`` actuation added executors are not ready within the interval they are
    requested in, so the interval is served by min(previous, new); in ``restart`` actuation any
    change pays ``switch_cost``. Returns the executor count per step.
    """
    steps, n = stage_cost.shape
    idx = np.arange(n)
    prev, new = np.meshgrid(idx, idx, indexing="ij")  # [previous, new]
    effective = np.minimum(prev, new) if actuation == "in-place" else new
    switching = np.where(prev != new, switch_cost, 0.0)
    value = np.zeros(n)
    choice = np.empty((steps, n), dtype=np.int16)
    for t in range(steps - 1, -1, -1):
        total = stage_cost[t][effective] + switching + value[None, :]
        best = np.argmin(total, axis=1)
        choice[t] = best
        value = total[idx, best]
    out = np.empty(steps, dtype=int)
    state = initial_executors - min_executors
    for t in range(steps):
        state = int(choice[t, state])
        out[t] = state + min_executors
    return out


def advance_scale_ups(targets: np.ndarray, steps: int) -> np.ndarray:
    """Request every scale-up ``steps`` intervals earlier (scale-downs stay where planned), so
    executors whose start-up spans more than one interval are ready when the plan needs them."""
    out = targets.copy()
    for k in range(1, steps + 1):
        out[:-k] = np.maximum(out[:-k], targets[k:])
    return out


@dataclass(frozen=True)
class OracleCandidate:
    lookahead: int
    advance: int
    """Intervals by which scale-ups are requested ahead of the plan."""
    knob: float
    """Load safety margin against noise (``slo``: plan for load x (1 + knob)) or the price of a
    dollar-hour in latency-ms (``r_meta``)."""


class OracleController:
    """Replays the best clairvoyant plan; :meth:`prepare` must see the episode first."""

    name = "oracle"

    def __init__(self, objective: str = "slo", latency_slo_ms: float = 2000.0) -> None:
        self.objective = validate_objective(objective)
        self.latency_slo_ms = latency_slo_ms
        self._plan: np.ndarray | None = None
        self._t = 0
        self.chosen = ""

    def candidates(self) -> list[OracleCandidate]:
        knobs = (0.05, 0.1, 0.15) if self.objective == "slo" else (30.0, 50.0, 80.0, 120.0, 180.0)
        return [OracleCandidate(k, a, m) for k, a, m in itertools.product((1, 3), (0, 1), knobs)]

    def stage_costs(
        self, params: SimParams, load_eps: np.ndarray, c: OracleCandidate
    ) -> tuple[np.ndarray, float]:
        executors = np.arange(params.min_executors, params.max_executors + 1)
        restart_steps = params.restart_downtime_s / params.decision_interval_s + 1
        restart = params.actuation == "restart"
        if self.objective == "slo":
            planned_load = _window_max(load_eps, c.lookahead) * (1 + c.knob)
            latency = steady_latency_ms(params, planned_load)
            cost = executors / params.max_executors
            # A violating step costs the SLO penalty, more the worse it is (utilisation keeps
            # growing where latency saturates), so that where no count meets the SLO the plan
            # still picks the least bad one.
            capacity = np.array([params.capacity_eps(int(n)) for n in executors])
            utilisation = planned_load[:, None] / capacity[None, :]
            over = latency > self.latency_slo_ms
            violation = np.where(
                over, 1.0 + np.minimum(latency / self.latency_slo_ms, 10.0) + utilisation, 0.0
            )
            return cost[None, :] + 10.0 * violation, 20.0 * restart_steps if restart else 1e-3
        latency = steady_latency_ms(params, _window_max(load_eps, c.lookahead))
        cost_ms = executors * params.price_per_executor_hour * c.knob
        restart_ms = restart_steps * params.restart_downtime_s * 1000.0 / 2
        return latency + cost_ms[None, :], restart_ms if restart else 1e-3

    def prepare(
        self,
        load_eps: np.ndarray,
        params: SimParams,
        weights: Weights,
        seed: int,
        initial_executors: int,
    ) -> None:
        best: tuple[float, np.ndarray, str] | None = None
        for label, targets in self._plans(load_eps, params, initial_executors):
            trace = rollout(_Replay(targets), load_eps, params, weights, seed, initial_executors)
            score = episode_score(
                self.objective,
                trace.latency_ms,
                trace.cost_per_hour,
                self.latency_slo_ms,
                params.max_cost_per_hour,
            )
            if best is None or score > best[0]:
                best = (score, targets, label)
        assert best is not None
        self._plan, self.chosen = best[1], best[2]

    def _plans(
        self, load_eps: np.ndarray, params: SimParams, initial_executors: int
    ) -> list[tuple[str, np.ndarray]]:
        """The DP plan of every candidate, and every constant count (where the load barely
        moves, holding still beats a plan that chases the model's small errors)."""
        plans = []
        for c in self.candidates():
            stage, switch = self.stage_costs(params, load_eps, c)
            targets = plan(stage, switch, params.actuation, initial_executors, params.min_executors)
            if c.advance and params.actuation == "in-place":
                targets = advance_scale_ups(targets, c.advance)
            plans.append((str(c), targets))
        for n in range(params.min_executors, params.max_executors + 1):
            plans.append((f"constant {n}", np.full(load_eps.size, n)))
        return plans

    def reset(self, ctx: ControlContext) -> None:
        if self._plan is None:
            raise RuntimeError("the oracle must see the episode first: call prepare()")
        self._t = 0

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        assert self._plan is not None
        target = int(self._plan[min(self._t, self._plan.size - 1)])
        self._t += 1
        return target


class _Replay:
    """Plays a fixed sequence of executor counts."""

    name = "replay"

    def __init__(self, targets: np.ndarray) -> None:
        self.targets = targets
        self._t = 0

    def reset(self, ctx: ControlContext) -> None:
        self._t = 0

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        target = int(self.targets[min(self._t, self.targets.size - 1)])
        self._t += 1
        return target
