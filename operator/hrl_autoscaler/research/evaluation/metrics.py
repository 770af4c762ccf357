"""Episode summaries and their aggregation over seeds with 95% confidence intervals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from hrl_autoscaler.config import SimParams, hours
from hrl_autoscaler.research.sim.rollout import Trace
from hrl_autoscaler.runtime.core.objectives import r_meta, slo_score


@dataclass(frozen=True)
class EpisodeSummary:
    r_meta: float
    slo_score: float
    attainment: float
    mean_latency_ms: float
    p95_latency_ms: float
    cost_per_hour: float
    scaling_actions_per_hour: float
    restarts_per_hour: float


def summarise(trace: Trace, params: SimParams, latency_slo_ms: float) -> EpisodeSummary:
    mean_latency = float(np.mean(trace.latency_ms))
    mean_cost = float(np.mean(trace.cost_per_hour))
    attainment = float(np.mean(trace.latency_ms <= latency_slo_ms))
    duration_h = hours(trace.steps, params)
    return EpisodeSummary(
        r_meta=r_meta(mean_latency, mean_cost),
        slo_score=slo_score(mean_cost, params.max_cost_per_hour, attainment),
        attainment=attainment,
        mean_latency_ms=mean_latency,
        p95_latency_ms=float(np.percentile(trace.latency_ms, 95)),
        cost_per_hour=mean_cost,
        scaling_actions_per_hour=float(np.sum(trace.scaled)) / duration_h,
        restarts_per_hour=trace.restarts / duration_h,
    )


def ci95(values: list[float]) -> float:
    """Half-width of the t-based 95% confidence interval of the mean (0 for one value)."""
    if len(values) < 2:
        return 0.0
    sem = float(np.std(values, ddof=1)) / np.sqrt(len(values))
    return float(stats.t.ppf(0.975, len(values) - 1) * sem)


@dataclass(frozen=True)
class ResultRow:
    """One line of ``evaluate``'s JSON: a controller on a scenario, over seeds."""

    controller: str
    scenario: str
    seeds: int
    r_meta_mean: float
    r_meta_ci95: float
    slo_score_mean: float
    slo_score_ci95: float
    p95_latency_ms: float
    mean_latency_ms: float
    slo_violation_pct: float
    cost_per_hour: float
    scaling_actions_per_hour: float
    restarts_per_hour: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def aggregate(controller: str, scenario: str, episodes: list[EpisodeSummary]) -> ResultRow:
    def mean(attr: str) -> float:
        return float(np.mean([getattr(e, attr) for e in episodes]))

    return ResultRow(
        controller=controller,
        scenario=scenario,
        seeds=len(episodes),
        r_meta_mean=mean("r_meta"),
        r_meta_ci95=ci95([e.r_meta for e in episodes]),
        slo_score_mean=mean("slo_score"),
        slo_score_ci95=ci95([e.slo_score for e in episodes]),
        p95_latency_ms=mean("p95_latency_ms"),
        mean_latency_ms=mean("mean_latency_ms"),
        slo_violation_pct=100.0 * (1.0 - mean("attainment")),
        cost_per_hour=mean("cost_per_hour"),
        scaling_actions_per_hour=mean("scaling_actions_per_hour"),
        restarts_per_hour=mean("restarts_per_hour"),
    )
