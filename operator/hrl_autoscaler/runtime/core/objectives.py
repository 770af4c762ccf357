"""Step reward of the lower agent and the global objectives of the upper agent and evaluation."""

from __future__ import annotations

import numpy as np

from hrl_autoscaler.config import EVALUATION
from hrl_autoscaler.runtime.core.weights import Weights

OBJECTIVES = ("r_meta", "slo")


def step_reward(cost_norm: float, latency_norm: float, throughput_norm: float, w: Weights) -> float:
    """The seed's lower reward: ``-alpha*cost_norm - beta*latency_norm + gamma*throughput_norm``."""
    return -w.alpha * cost_norm - w.beta * latency_norm + w.gamma * throughput_norm


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
