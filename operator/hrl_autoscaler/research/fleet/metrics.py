"""What a fleet run scores: SLO met where it matters most, what it cost, how fairly it shared.

- **fleet SLO score**: the project's ``slo`` score of each application
  (:func:`~hrl_autoscaler.runtime.core.objectives.slo_score`: cheapest while 99% of its decision
  intervals meet its latency SLO), averaged with its priority as the weight (a latency-critical
  application weighs 100 times a best-effort one, as in the budget's own value model);
- **attainment**: each application's share of decision steps within its latency SLO,
  priority-weighted the same way (near 1 for every policy: the score above is where they differ);
- **violations**: steps above the SLO, per application and in total;
- **cost**: executor-hours of the written targets;
- **utilisation**: the written targets' sum over the budget, averaged over steps;
- **Jain fairness** of allocation over demand, where an application's demand at a step is
  DS2's sizing of its true load and its satisfaction ``min(target / demand, 1)`` (an
  application holding more than it needs is satisfied, not "more fairly treated");
- **exceedances**: steps with the written targets above the budget (must be 0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hrl_autoscaler.config import EVALUATION, SimParams
from hrl_autoscaler.research.evaluation.metrics import ci95
from hrl_autoscaler.research.fleet.simulator import FleetTrace
from hrl_autoscaler.runtime.core.objectives import slo_score


@dataclass(frozen=True)
class FleetSummary:
    policy: str
    seed: int
    steps: int
    apps: int
    budget: int | None
    attainment: float
    fleet_slo_score: float
    violations: int
    violations_by_app: tuple[int, ...]
    executor_hours: float
    utilisation: float
    jain_fairness: float
    exceedances: int
    model_exceedances: int
    allocation_ms: float
    seconds: float


def demand_executors(load_eps: np.ndarray, params: SimParams) -> np.ndarray:
    """DS2's sizing of every step's true load (what each application needs then), >= 1."""
    need = np.empty(load_eps.shape, dtype=float)
    for idx, rate in np.ndenumerate(load_eps):
        need[idx] = params.executors_for_rate(float(rate), EVALUATION.target_utilisation)
    return np.maximum(need, 1.0)


def jain_index(x: np.ndarray) -> np.ndarray:
    """Jain's index of each row: 1 when all equal, 1/n when one has everything."""
    total = x.sum(axis=1)
    squares = (x**2).sum(axis=1)
    out: np.ndarray = np.where(squares > 0, total**2 / (x.shape[1] * squares), 1.0)
    return out


def summarise_fleet(trace: FleetTrace, params: SimParams, budget: int) -> FleetSummary:
    """One run's numbers; ``budget`` is the fleet's limit (utilisation is against it even for
    the unconstrained reference, to show how far above it that run goes)."""
    apps = trace.fleet.apps
    slo = np.array([a.latency_slo_ms for a in apps])
    priority = np.array([a.priority for a in apps])
    met = trace.latency_ms <= slo[None, :]
    attainment = met.mean(axis=0)
    fleet_score = float((priority * attainment).sum() / priority.sum())
    hours = params.decision_interval_s / 3600.0
    cost = trace.written.astype(float) * params.price_per_executor_hour
    per_app_slo = np.array(
        [
            slo_score(float(cost[:, i].mean()), params.max_cost_per_hour, float(attainment[i]))
            for i in range(len(apps))
        ]
    )
    satisfied = np.minimum(trace.written / demand_executors(trace.load_eps, params), 1.0)
    violations = (~met).sum(axis=0)
    return FleetSummary(
        policy=trace.policy,
        seed=trace.fleet.seed,
        steps=trace.steps,
        apps=len(apps),
        budget=trace.budget,
        attainment=fleet_score,
        fleet_slo_score=float((priority * per_app_slo).sum() / priority.sum()),
        violations=int(violations.sum()),
        violations_by_app=tuple(int(v) for v in violations),
        executor_hours=float(trace.written.sum() * hours),
        utilisation=float(trace.written.sum(axis=1).mean() / budget),
        jain_fairness=float(jain_index(satisfied).mean()),
        exceedances=trace.exceedances,
        model_exceedances=trace.model_exceedances,
        allocation_ms=1000.0 * trace.allocation_seconds / max(trace.allocations, 1),
        seconds=trace.seconds,
    )


@dataclass(frozen=True)
class FleetRow:
    """One policy over seeds: means with 95% t-intervals (half-widths)."""

    policy: str
    seeds: int
    attainment: float
    attainment_ci95: float
    fleet_slo_score: float
    fleet_slo_score_ci95: float
    violations: float
    violations_ci95: float
    executor_hours: float
    executor_hours_ci95: float
    utilisation: float
    jain_fairness: float
    exceedances: int
    """Summed over every seed (a count, not a mean: the target is 0 in every run)."""
    fleet_steps: int
    allocation_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def aggregate_fleet(policy: str, runs: list[FleetSummary]) -> FleetRow:
    def values(attr: str) -> list[float]:
        return [float(getattr(r, attr)) for r in runs]

    def mean(attr: str) -> float:
        return float(np.mean(values(attr)))

    return FleetRow(
        policy=policy,
        seeds=len(runs),
        attainment=mean("attainment"),
        attainment_ci95=ci95(values("attainment")),
        fleet_slo_score=mean("fleet_slo_score"),
        fleet_slo_score_ci95=ci95(values("fleet_slo_score")),
        violations=mean("violations"),
        violations_ci95=ci95(values("violations")),
        executor_hours=mean("executor_hours"),
        executor_hours_ci95=ci95(values("executor_hours")),
        utilisation=mean("utilisation"),
        jain_fairness=mean("jain_fairness"),
        exceedances=sum(r.exceedances + r.model_exceedances for r in runs),
        fleet_steps=sum(r.steps for r in runs),
        allocation_ms=mean("allocation_ms"),
    )
