"""Step reward of the lower agent and the global objectives of the upper agent and evaluation."""

from __future__ import annotations

import numpy as np

from hrl_autoscaler.config import EVALUATION
from hrl_autoscaler.runtime.core.weights import Weights

OBJECTIVES = ("r_meta", "slo")


SLO_ONSET = 0.8
"""Latency below this fraction of the SLO costs nothing in the step reward: a policy paid for
every millisecond keeps executors a latency SLO does not need (version 1 held 3 where 1 met
it; an onset at half the SLO still held 18 of 20 on steady load)."""
SWITCH_COST = 0.1
"""Reward lost per change of the executor count: twice one executor's cost for one decision at
alpha = 1, so a one-interval blip is not worth a scaling. 0.3 was tried: the policy then held
all 20 executors (docs/learned-controller.md)."""


def step_reward(
    cost_norm: float,
    latency_slo_ratio: float,
    throughput_norm: float,
    w: Weights,
    changed: bool = False,
) -> float:
    """The lower agent's reward (version 2)::

        -alpha*cost_norm - beta*slo_penalty*pressure + gamma*throughput_norm - switch_cost*changed

    ``pressure`` rises linearly from 0 at ``SLO_ONSET`` x SLO to 1 at the SLO and stays 1
    beyond; ``slo_penalty`` (10) is the ``slo`` objective's, so with equal weights the reward
    is that objective per step. The seed's version charged latency / 5 s instead, which pays
    for latency no SLO asks for.
    """
    pressure = (latency_slo_ratio - SLO_ONSET) / (1.0 - SLO_ONSET)
    pressure = 0.0 if pressure < 0.0 else 1.0 if pressure > 1.0 else pressure
    return (
        -w.alpha * cost_norm
        - w.beta * EVALUATION.slo_penalty * pressure
        + w.gamma * throughput_norm
        - (SWITCH_COST if changed else 0.0)
    )


def r_meta(mean_latency_ms: float, mean_cost_per_hour: float) -> float:
    """The seed's 'global user satisfaction': ``1000/(mean latency ms + 1) - 0.1 * mean cost/h``."""
    return (
        EVALUATION.r_meta_latency_numerator / (mean_latency_ms + 1.0)
        - EVALUATION.r_meta_cost_weight * mean_cost_per_hour
    )


def slo_score(mean_cost_per_hour: float, max_cost_per_hour: float, attainment: float) -> float:
    """``1 - cost/max_cost - 10*max(0, 0.99 - attainment)``: run cheaply while 99% meet the SLO."""
    shortfall = max(0.0, EVALUATION.slo_attainment_target - attainment)
    return 1.0 - mean_cost_per_hour / max_cost_per_hour - EVALUATION.slo_penalty * shortfall


def validate_objective(name: str) -> str:
    if name not in OBJECTIVES:
        raise ValueError(f"objective {name!r} is not one of {', '.join(OBJECTIVES)}")
    return name


def episode_score(
    objective: str,
    latency_ms: np.ndarray,
    cost_per_hour: np.ndarray,
    latency_slo_ms: float,
    max_cost_per_hour: float,
) -> float:
    """The objective's value for one episode's per-step latencies and costs."""
    if objective == "r_meta":
        return r_meta(float(np.mean(latency_ms)), float(np.mean(cost_per_hour)))
    validate_objective(objective)
    attainment = float(np.mean(latency_ms <= latency_slo_ms))
    return slo_score(float(np.mean(cost_per_hour)), max_cost_per_hour, attainment)
