"""How long one budget allocation takes for a large fleet (issue 13: <= 50 ms for 1,000
applications), per policy, and the whole slow step in the operator's pipeline.

The allocation runs on the budget's slow interval inside the operator's decision cycle, so its
cost adds to one cycle's latency; the claims are random but realistic (loads, spreads, SLOs,
priorities of the three SLO classes, current and wanted counts) and the budget is 60% of what
they ask, so the greedy engine has to choose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.claims import BudgetLimit, Claim
from hrl_autoscaler.runtime.core.budget.policies import policy_factory
from hrl_autoscaler.runtime.core.budget.spec import POLICY_NAMES

POLICIES = POLICY_NAMES
TARGET_MS = 50.0


@dataclass(frozen=True)
class PolicyTiming:
    policy: str
    apps: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    within_target: bool


@dataclass(frozen=True)
class BudgetBenchResult:
    apps: int
    repeats: int
    budget_executors: int
    target_ms: float
    timings: tuple[PolicyTiming, ...]


def random_claims(apps: int, seed: int = 0, params: SimParams | None = None) -> list[Claim]:
    p = params or SimParams()
    rng = np.random.default_rng(seed)
    priorities = rng.choice([10.0, 1.0, 0.1], size=apps, p=[0.25, 0.5, 0.25])
    claims = []
    for i in range(apps):
        load = float(rng.uniform(200.0, 12_000.0))
        current = int(rng.integers(1, 21))
        claims.append(
            Claim(
                key=AppKey(f"ns-{i % 50}", f"app-{i:05d}"),
                min_executors=1,
                max_executors=20,
                current=current,
                wanted=int(np.clip(current + rng.integers(-3, 4), 1, 20)),
                load_eps=load,
                load_sd_eps=float(load * rng.uniform(0.02, 0.3)),
                executor_rate_eps=float(p.executor_rate_eps * rng.uniform(0.8, 1.2)),
                latency_slo_ms=float(rng.choice([1500.0, 2000.0, 5000.0])),
                cost_weight=float(rng.uniform(0.1, 0.6)),
                priority=float(priorities[i]),
            )
        )
    return claims


def bench_budget(apps: int = 1000, repeats: int = 20, seed: int = 0) -> BudgetBenchResult:
    params = SimParams()
    claims = random_claims(apps, seed, params)
    budget = int(0.6 * sum(c.wanted for c in claims))
    limit = BudgetLimit(max_executors=budget)
    make = policy_factory(params)
    timings = []
    for name in POLICIES:
        policy = make(name)
        allocation = policy.allocate(claims, limit)  # warm-up (caches, imports)
        assert allocation.total() <= budget or allocation.gate_only
        samples = np.empty(repeats)
        for r in range(repeats):
            started = time.perf_counter()
            policy.allocate(claims, limit)
            samples[r] = (time.perf_counter() - started) * 1000.0
        timings.append(
            PolicyTiming(
                policy=name,
                apps=apps,
                p50_ms=float(np.percentile(samples, 50)),
                p99_ms=float(np.percentile(samples, 99)),
                max_ms=float(samples.max()),
                within_target=bool(samples.max() <= TARGET_MS),
            )
        )
    return BudgetBenchResult(apps, repeats, budget, TARGET_MS, tuple(timings))


@dataclass(frozen=True)
class SlowStepTiming:
    apps: int
    allocations: int
    p50_ms: float
    max_ms: float
    within_target: bool


def bench_slow_step(apps: int = 1000, steps: int = 12, seed: int = 0) -> SlowStepTiming:
    """The budget controller's whole step (coverage, one claim per application with its load
    forecast, the whittle allocation, the status) inside the operator's own pipeline, for a
    simulated fleet of ``apps`` under one budget allocating every cycle."""
    from hrl_autoscaler.research.fleet.composition import compose_fleet
    from hrl_autoscaler.research.fleet.simulator import run_fleet

    params = SimParams()
    fleet = compose_fleet(apps, seed, steps, 0.6, params)
    trace = run_fleet(fleet, "whittle", params, interval_s=params.decision_interval_s)
    samples = np.array(trace.slow_step_seconds[1:]) * 1000.0  # the first builds every claim cold
    return SlowStepTiming(
        apps,
        int(samples.size),
        float(np.median(samples)),
        float(samples.max()),
        bool(samples.max() <= TARGET_MS),
    )
