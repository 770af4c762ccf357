"""Arbitration policies, the value model, the forecast and the budget object's validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.claims import BudgetLimit, Claim
from hrl_autoscaler.runtime.core.budget.forecast import LoadHistory
from hrl_autoscaler.runtime.core.budget.policies import policy_factory
from hrl_autoscaler.runtime.core.budget.spec import parse_budget
from hrl_autoscaler.runtime.core.budget.value import (
    concave_marginals,
    value_table,
    violation_probability,
)

PARAMS = SimParams()
SIMPLE = ("whittle", "equal-share", "proportional", "static-priority")


def claim(
    name: str,
    load: float = 5000.0,
    priority: float = 1.0,
    lo: int = 1,
    hi: int = 20,
    wanted: int = 8,
    price: float = 0.49,
) -> Claim:
    return Claim(
        key=AppKey("ns", name),
        min_executors=lo,
        max_executors=hi,
        current=2,
        wanted=wanted,
        load_eps=load,
        load_sd_eps=0.1 * load,
        executor_rate_eps=1000.0,
        latency_slo_ms=2000.0,
        priority=priority,
        price_per_hour=price,
    )


claims_strategy = st.lists(
    st.builds(
        lambda i, load, pr, lo, span, wanted, price: claim(
            f"app-{i}", load, pr, lo, min(20, lo + span), wanted, price
        ),
        st.integers(0, 10_000),
        st.floats(0, 30_000),
        st.sampled_from([0.1, 1.0, 10.0]),
        st.integers(1, 5),
        st.integers(0, 15),
        st.integers(1, 20),
        st.sampled_from([0.49, 1.0, 2.5]),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda c: c.key,
)


@pytest.mark.parametrize("name", SIMPLE)
@settings(max_examples=40, deadline=None)
@given(claims=claims_strategy, budget=st.integers(1, 150), cost=st.none() | st.floats(0.5, 80))
def test_caps_stay_within_bounds_and_never_exceed_the_budget(
    name: str, claims: list[Claim], budget: int, cost: float | None
) -> None:
    limit = BudgetLimit(budget, cost)
    allocation = policy_factory(PARAMS)(name).allocate(claims, limit)
    by_key = {c.key: c for c in claims}
    assert set(allocation.caps) == set(by_key)
    for key, cap in allocation.caps.items():
        assert by_key[key].min_executors <= cap <= by_key[key].max_executors
    mins = sum(c.min_executors for c in claims)
    min_cost = sum(c.min_executors * c.price_per_hour for c in claims)
    if limit.fits(mins, min_cost):
        assert allocation.feasible
        total = allocation.total()
        spent = sum(allocation.caps[c.key] * c.price_per_hour for c in claims)
        assert limit.fits(total, spent)
        if cost is None:  # the whole budget is handed out (up to the maxima)
            assert total == min(budget, sum(c.max_executors for c in claims))
    else:
        assert not allocation.feasible
        assert all(allocation.caps[c.key] == c.min_executors for c in claims)


def test_whittle_gives_the_loaded_high_priority_application_what_it_needs() -> None:
    claims = [
        claim("critical", load=9000.0, priority=10.0),
        claim("standard", load=9000.0, priority=1.0),
        claim("idle", load=300.0, priority=1.0),
    ]
    caps = policy_factory(PARAMS)("whittle").allocate(claims, BudgetLimit(16)).caps
    assert caps[AppKey("ns", "critical")] >= 10
    assert caps[AppKey("ns", "idle")] <= 2
    assert caps[AppKey("ns", "critical")] > caps[AppKey("ns", "standard")]


def test_equal_share_and_proportional_follow_their_definitions() -> None:
    claims = [claim("a", wanted=12), claim("b", wanted=4), claim("c", wanted=8)]
    equal = policy_factory(PARAMS)("equal-share").allocate(claims, BudgetLimit(12)).caps
    assert sorted(equal.values()) == [4, 4, 4]
    share = policy_factory(PARAMS)("proportional").allocate(claims, BudgetLimit(12)).caps
    assert share[AppKey("ns", "a")] == 6
    assert share[AppKey("ns", "b")] == 2
    assert share[AppKey("ns", "c")] == 4


def test_first_come_does_not_cap_and_leaves_the_limit_to_the_gate() -> None:
    allocation = policy_factory(PARAMS)("first-come").allocate(
        [claim("a"), claim("b")], BudgetLimit(5)
    )
    assert allocation.gate_only
    assert set(allocation.caps.values()) == {20}


def test_violation_falls_with_executors_and_the_index_rows_do_not_increase() -> None:
    claims = [claim("a", load=6000.0), claim("b", load=100.0), claim("c", load=40_000.0)]
    p = violation_probability(claims, PARAMS)
    assert np.all(np.diff(p[:, 1:], axis=1) <= 1e-12)
    assert p[0, 3] > 0.99
    assert p[0, 12] < 0.01
    assert p[2, 20] > 0.99  # beyond the largest allocation: no executor count helps
    gains = concave_marginals(value_table(claims, PARAMS))
    assert np.all(np.diff(gains, axis=1) <= 1e-12)


def test_the_forecast_follows_a_ramp_ahead_and_does_not_extrapolate_a_fall() -> None:
    rising, falling = LoadHistory(), LoadHistory()
    for i in range(20):
        rising.add(30.0 * i, 1000.0 + 50.0 * i, True)
        falling.add(30.0 * i, 2000.0 - 50.0 * i, i % 2 == 0)
    now = 30.0 * 19
    up = rising.forecast(now, 165.0)
    down = falling.forecast(now, 165.0)
    assert up is not None
    assert down is not None
    assert up.mean_eps > 1950.0  # the level now, plus half the horizon's climb
    assert down.mean_eps == pytest.approx(1050.0, abs=1.0)
    assert down.violation_rate == pytest.approx(0.5)
    assert LoadHistory().forecast(now, 165.0) is None


@pytest.mark.parametrize(
    ("spec", "field", "accepted"),
    [
        ({"maxExecutors": 0}, "spec.maxExecutors", "an integer from 1 to"),
        ({"maxExecutors": "ten"}, "spec.maxExecutors", "an integer from 1 to"),
        ({"maxCostPerHour": -1}, "spec.maxCostPerHour", "a number above 0"),
        ({}, "spec", "maxExecutors and/or maxCostPerHour"),
        ({"maxExecutors": 4, "policy": "fifo"}, "spec.policy", "one of whittle"),
        ({"maxExecutors": 4, "intervalSeconds": 1}, "spec.intervalSeconds", "from 10"),
        ({"maxExecutors": 4, "limit": 3}, "spec.limit", "one of the fields"),
        (
            {"maxExecutors": 4, "selector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "spec.selector.matchExpressions.0",
            "a label selector",
        ),
        ("everything", "spec", "an object"),
    ],
)
def test_every_rejected_field_is_named_with_what_is_accepted(
    spec: Any, field: str, accepted: str
) -> None:
    parsed = parse_budget({"metadata": {"name": "b", "namespace": "ns"}, "spec": spec})
    assert parsed.spec is None
    assert [e.field for e in parsed.errors] == [field]
    assert accepted in parsed.errors[0].accepted


def test_a_selector_matches_like_kubernetes() -> None:
    parsed = parse_budget(
        {
            "metadata": {"name": "b", "namespace": "ns"},
            "spec": {
                "maxExecutors": 4,
                "namespaces": ["a", "b"],
                "selector": {
                    "matchLabels": {"team": "iot"},
                    "matchExpressions": [
                        {"key": "tier", "operator": "NotIn", "values": ["dev"]},
                        {"key": "legacy", "operator": "DoesNotExist"},
                    ],
                },
            },
        }
    )
    spec = parsed.spec
    assert spec is not None
    assert spec.selector.matches({"team": "iot"})
    assert spec.selector.matches({"team": "iot", "tier": "prod"})
    assert not spec.selector.matches({"team": "iot", "tier": "dev"})
    assert not spec.selector.matches({"team": "iot", "legacy": "yes"})
    assert not spec.selector.matches({"team": "web"})
    assert spec.covers_namespace("ns", "a")
    assert not spec.covers_namespace("ns", "ns")
