"""``hrl-autoscaler bench budget``: one allocation for many applications, per policy."""

from __future__ import annotations

from hrl_autoscaler.tools.bench.budget import bench_budget, random_claims


def test_bench_budget_times_every_available_policy() -> None:
    result = bench_budget(apps=50, repeats=2)
    names = {t.policy for t in result.timings}
    assert {"whittle", "equal-share", "proportional", "first-come"} <= names
    assert all(t.max_ms >= t.p50_ms > 0 for t in result.timings)


def test_random_claims_are_valid() -> None:
    claims = random_claims(20)
    assert all(c.min_executors <= c.wanted <= c.max_executors for c in claims)
