"""The fleet simulator: one operator Autoscaler, one ExecutorBudget, the limit at every step."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from hrl_autoscaler.cli import main
from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.fleet.composition import compose_fleet, initial_executors
from hrl_autoscaler.research.fleet.metrics import jain_index, summarise_fleet
from hrl_autoscaler.research.fleet.oracle import OraclePolicy, knapsack_caps, oracle_values
from hrl_autoscaler.research.fleet.runner import FleetSpec, run_fleet_evaluation
from hrl_autoscaler.research.fleet.simulator import run_fleet
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.claims import BudgetLimit, Claim
from hrl_autoscaler.runtime.core.budget.policies import WhittlePolicy

BUDGETED = ("whittle", "equal-share", "proportional", "static-priority", "first-come", "oracle")


@pytest.fixture(scope="module")
def tight_fleet():  # type: ignore[no-untyped-def]
    """Four applications, 80 steps, a budget of 35% of their peaks: they must compete."""
    return compose_fleet(4, seed=300, steps=80, budget_share=0.35)


def test_fleet_is_fixed_by_its_seed_and_fits_its_budget_from_the_start() -> None:
    a = compose_fleet(6, seed=301, steps=50, budget_share=0.6)
    b = compose_fleet(6, seed=301, steps=50, budget_share=0.6)
    assert [x.key for x in a.apps] == [x.key for x in b.apps]
    assert all(np.array_equal(x.load_eps, y.load_eps) for x, y in zip(a.apps, b.apps, strict=False))
    assert len({x.scenario for x in a.apps}) == 5  # mixed: every scenario in a fleet of 6
    assert a.budget_executors == round(0.6 * a.summed_peaks)
    assert sum(initial_executors(a, SimParams())) <= a.budget_executors


@pytest.mark.parametrize("policy", BUDGETED)
def test_every_policy_keeps_the_written_targets_within_the_budget(tight_fleet, policy) -> None:  # type: ignore[no-untyped-def]
    trace = run_fleet(tight_fleet, policy)
    assert trace.exceedances == 0
    assert trace.model_exceedances == 0
    assert trace.written.sum(axis=1).max() <= tight_fleet.budget_executors
    assert trace.allocations > 0


def test_the_check_would_fail_if_the_budget_were_ignored(tight_fleet) -> None:  # type: ignore[no-untyped-def]
    """Without the budget the same fleet goes above the limit: the zero above is earned."""
    free = run_fleet(tight_fleet, "none")
    assert free.written.sum(axis=1).max() > tight_fleet.budget_executors
    capped = run_fleet(tight_fleet, "whittle")
    assert capped.written.sum(axis=1).max() <= tight_fleet.budget_executors
    assert capped.written.sum() < free.written.sum()


def test_summary_counts_violations_cost_and_fairness(tight_fleet) -> None:  # type: ignore[no-untyped-def]
    trace = run_fleet(tight_fleet, "equal-share")
    s = summarise_fleet(trace, SimParams(), tight_fleet.budget_executors)
    assert 0.0 <= s.attainment <= 1.0
    assert s.violations == sum(s.violations_by_app)
    assert s.executor_hours == pytest.approx(trace.written.sum() * 30 / 3600)
    assert 0.0 < s.utilisation <= 1.0
    assert 1 / 4 <= s.jain_fairness <= 1.0


def test_jain_index_bounds() -> None:
    assert jain_index(np.array([[1.0, 1.0, 1.0]]))[0] == pytest.approx(1.0)
    assert jain_index(np.array([[1.0, 0.0, 0.0, 0.0]]))[0] == pytest.approx(0.25)


def _claims(loads: list[float], priorities: list[float]) -> list[Claim]:
    return [
        Claim(
            key=AppKey("t", f"a{i}"),
            min_executors=1,
            max_executors=20,
            current=1,
            wanted=1,
            load_eps=load,
            load_sd_eps=0.01 * load,
            executor_rate_eps=1000.0,
            latency_slo_ms=2000.0,
            priority=p,
        )
        for i, (load, p) in enumerate(zip(loads, priorities, strict=True))
    ]


def test_knapsack_is_exact_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    value = np.cumsum(rng.normal(0.0, 1.0, size=(3, 21)), axis=1)
    mins, maxs, budget = [1, 2, 1], [6, 5, 7], 10
    caps = knapsack_caps(value, mins, maxs, budget)
    assert caps is not None
    assert sum(caps) <= budget
    best = max(
        sum(value[i, n] for i, n in enumerate(combo))
        for combo in itertools.product(
            *(range(lo, hi + 1) for lo, hi in zip(mins, maxs, strict=True))
        )
        if sum(combo) <= budget
    )
    assert sum(value[i, n] for i, n in enumerate(caps)) == pytest.approx(best)
    assert knapsack_caps(value, [5, 5, 5], maxs, 10) is None


def test_oracle_value_is_at_least_whittle_and_equal_share_on_a_tiny_case() -> None:
    """With the future known the DP's caps are worth at least any other caps' worth."""
    params = SimParams()
    claims = _claims([3000.0, 7000.0, 1500.0], [10.0, 1.0, 0.1])
    future = [np.full(6, c.load_eps) for c in claims]
    value = oracle_values(claims, future, params)
    limit = BudgetLimit(max_executors=12)
    loads = {c.key: f for c, f in zip(claims, future, strict=True)}
    oracle = OraclePolicy(loads, params, horizon_steps=6).allocate(claims, limit)
    assert oracle.total() == 12  # hands the whole budget out
    whittle = WhittlePolicy(params).allocate(claims, limit)
    caps = knapsack_caps(value, [1, 1, 1], [20, 20, 20], 12)
    assert caps is not None

    def worth(allocation_caps: list[int]) -> float:
        return float(sum(value[i, n] for i, n in enumerate(allocation_caps)))

    equal = [4, 4, 4]
    assert worth(caps) >= worth([whittle.caps[c.key] for c in claims]) - 1e-9
    assert worth(caps) >= worth(equal) - 1e-9
    assert oracle.caps[claims[0].key] >= caps[0]  # the latency-critical one keeps its share


def test_runner_aggregates_paired_seeds() -> None:
    spec = FleetSpec(policies=("whittle", "none"), apps=3, seeds=2, first_seed=300, steps=30)
    result = run_fleet_evaluation(spec)
    assert [r.policy for r in result.rows] == ["whittle", "none"]
    assert all(r.seeds == 2 and r.fleet_steps == 60 for r in result.rows)
    assert result.rows[0].exceedances == 0
    assert set(result.example_traces) == {"whittle", "none"}


def test_spec_rejects_unknown_policies() -> None:
    with pytest.raises(ValueError, match="unknown policies"):
        FleetSpec(policies=("whittle", "round-robin"))


def test_cli_runs_and_writes_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "evaluate-fleet",
            "--apps",
            "3",
            "--seeds",
            "2",
            "--first-seed",
            "300",
            "--steps",
            "30",
            "--policies",
            "whittle,equal-share,oracle,none",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "budget exceedances: 0" in text
    for name in ("fleet.md", "fleet.csv", "fleet-runs.csv", "fleet-allocations.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert main(["evaluate-fleet", "--policies", "nope", "--steps", "5"]) == 2


def test_cli_help_explains(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate-fleet", "--help"])
    text = capsys.readouterr().out
    assert "ExecutorBudget" in text
    assert "--budget-share" in text
    assert "oracle" in text
