"""Every policy on the same fleets: one seed fixes the fleet, so policies are paired by seed.

Runs go to worker processes when more than one is asked for (a run is single-threaded numpy
and Python; 8 applications x 2,880 steps take a few seconds).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.fleet.composition import compose_fleet
from hrl_autoscaler.research.fleet.metrics import (
    FleetRow,
    FleetSummary,
    aggregate_fleet,
    summarise_fleet,
)
from hrl_autoscaler.research.fleet.simulator import (
    DEFAULT_INTERVAL_S,
    FAST_CONTROLLERS,
    OPERATOR_POLICIES,
    REFERENCE_POLICIES,
    FleetTrace,
    run_fleet,
)

ALL_POLICIES = (*OPERATOR_POLICIES, *REFERENCE_POLICIES)


def default_policies() -> tuple[str, ...]:
    return ALL_POLICIES


@dataclass(frozen=True)
class FleetSpec:
    policies: tuple[str, ...] = field(default_factory=default_policies)
    apps: int = 8
    budget_share: float = 0.6
    seeds: int = 10
    first_seed: int = 0
    steps: int = 2880
    fast: str = "hrl"
    interval_s: float = DEFAULT_INTERVAL_S
    params: SimParams = field(default_factory=SimParams)

    def __post_init__(self) -> None:
        unknown = [p for p in self.policies if p not in ALL_POLICIES]
        if unknown:
            raise ValueError(
                f"unknown policies {', '.join(unknown)}; accepted: {', '.join(ALL_POLICIES)}"
            )
        if self.fast not in FAST_CONTROLLERS:
            raise ValueError(f"unknown fast controller {self.fast!r}; accepted: hrl, ppo-fixed")
        for name, value, low in (
            ("apps", self.apps, 1),
            ("seeds", self.seeds, 1),
            ("steps", self.steps, 1),
        ):
            if value < low:
                raise ValueError(f"--{name} must be >= {low}, got {value}")
        if not self.budget_share > 0:
            raise ValueError(f"--budget-share must be above 0, got {self.budget_share}")
        if self.first_seed < 0:
            raise ValueError(f"--first-seed must be >= 0, got {self.first_seed}")

    @property
    def seed_range(self) -> range:
        return range(self.first_seed, self.first_seed + self.seeds)


@dataclass
class FleetResult:
    spec: FleetSpec
    rows: list[FleetRow]
    runs: list[FleetSummary]
    example_traces: dict[str, FleetTrace]
    """The first seed's trace of each policy, for the plot."""
    budgets: dict[int, int]
    """Seed -> the fleet's budget (executors)."""
    summed_peaks: dict[int, int]


def run_one(spec: FleetSpec, policy: str, seed: int) -> tuple[FleetSummary, FleetTrace]:
    fleet = compose_fleet(spec.apps, seed, spec.steps, spec.budget_share, spec.params)
    trace = run_fleet(fleet, policy, spec.params, spec.fast, spec.interval_s)
    return summarise_fleet(trace, spec.params, fleet.budget_executors), trace


def _job(args: tuple[FleetSpec, str, int]) -> tuple[FleetSummary, FleetTrace | None]:
    spec, policy, seed = args
    summary, trace = run_one(spec, policy, seed)
    return summary, trace if seed == spec.first_seed else None


def run_fleet_evaluation(
    spec: FleetSpec,
    workers: int = 1,
    on_run: Callable[[str, int], None] | None = None,
) -> FleetResult:
    """Every (policy, seed) pair; ``on_run`` after each (a progress bar)."""
    jobs = [(spec, policy, seed) for policy in spec.policies for seed in spec.seed_range]
    summaries: dict[str, list[FleetSummary]] = {p: [] for p in spec.policies}
    traces: dict[str, FleetTrace] = {}

    def collect(result: tuple[FleetSummary, FleetTrace | None]) -> None:
        summary, trace = result
        summaries[summary.policy].append(summary)
        if trace is not None:
            traces[summary.policy] = trace
        if on_run is not None:
            on_run(summary.policy, summary.seed)

    workers = max(1, min(workers, len(jobs), os.cpu_count() or 1))
    if workers == 1:
        for job in jobs:
            collect(_job(job))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(_job, jobs):
                collect(result)
    fleets = {
        s: compose_fleet(spec.apps, s, spec.steps, spec.budget_share, spec.params)
        for s in spec.seed_range
    }
    return FleetResult(
        spec=spec,
        rows=[aggregate_fleet(p, summaries[p]) for p in spec.policies],
        runs=[r for p in spec.policies for r in summaries[p]],
        example_traces=traces,
        budgets={s: f.budget_executors for s, f in fleets.items()},
        summed_peaks={s: f.summed_peaks for s, f in fleets.items()},
    )
