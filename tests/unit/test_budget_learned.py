"""The learned Whittle index (``learned-whittle``): pretraining, allocation, online updates."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.claims import BudgetLimit, Claim
from hrl_autoscaler.runtime.core.budget.learned import (
    LearnedWhittlePolicy,
    arm_model,
    pretrained,
)
from hrl_autoscaler.runtime.core.budget.policies import WhittlePolicy, policy_factory

PARAMS = SimParams()


def _claim(
    name: str,
    load: float,
    *,
    current: int = 2,
    priority: float = 1.0,
    violation_rate: float = 0.0,
    cv: float = 0.1,
    slo_ms: float = 2000.0,
    bounds: tuple[int, int] = (1, 20),
) -> Claim:
    return Claim(
        key=AppKey("ns", name),
        min_executors=bounds[0],
        max_executors=bounds[1],
        current=current,
        wanted=current,
        load_eps=load,
        load_sd_eps=cv * load,
        executor_rate_eps=1000.0,
        latency_slo_ms=slo_ms,
        priority=priority,
        violation_rate=violation_rate,
    )


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(float)


def test_pretrained_index_ranks_states_like_the_model() -> None:
    _, lam = pretrained(PARAMS)
    model = arm_model(PARAMS).model_index()
    rho = np.corrcoef(_ranks(lam.ravel()), _ranks(model.ravel()))[0, 1]
    assert rho > 0.8
    # Where the model says an executor matters, the learned index says so too.
    informative = model.ravel() > 0.2
    assert np.all(lam.ravel()[informative] > 0.05)


def test_pretraining_is_deterministic_given_the_seed() -> None:
    a_q, a_lam = pretrained.__wrapped__(PARAMS, 30, 7)
    b_q, b_lam = pretrained.__wrapped__(PARAMS, 30, 7)
    _, c_lam = pretrained.__wrapped__(PARAMS, 30, 8)
    assert np.array_equal(a_q, b_q)
    assert np.array_equal(a_lam, b_lam)
    assert not np.array_equal(a_lam, c_lam)


def test_the_overloaded_high_priority_app_gets_more_like_whittle() -> None:
    claims = [_claim("gold", 6000.0, priority=4.0), _claim("bronze", 6000.0, priority=1.0)]
    limit = BudgetLimit(max_executors=10)
    learned = LearnedWhittlePolicy(PARAMS).allocate(claims, limit)
    model = WhittlePolicy(PARAMS).allocate(claims, limit)
    gold, bronze = (c.key for c in claims)
    assert learned.caps[gold] > learned.caps[bronze]
    assert learned.caps == model.caps
    assert learned.total() == 10


def test_an_idle_app_yields_to_a_loaded_one() -> None:
    claims = [_claim("busy", 5000.0), _claim("idle", 300.0)]
    caps = LearnedWhittlePolicy(PARAMS).allocate(claims, BudgetLimit(max_executors=9)).caps
    assert caps[claims[0].key] >= 7
    assert caps[claims[1].key] <= 2


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[Claim], BudgetLimit]:
    n = draw(st.integers(1, 6))
    claims = []
    for i in range(n):
        low = draw(st.integers(0, 5))
        high = draw(st.integers(max(low, 1), 20))
        claims.append(
            _claim(
                f"app{i}",
                draw(st.floats(0.0, 30000.0)),
                current=draw(st.integers(0, 20)),
                priority=draw(st.sampled_from([0.5, 1.0, 4.0])),
                violation_rate=draw(st.floats(0.0, 1.0)),
                cv=draw(st.floats(0.0, 1.0)),
                slo_ms=draw(st.sampled_from([500.0, 2000.0, 10000.0])),
                bounds=(low, high),
            )
        )
    executors = draw(st.none() | st.integers(0, 60))
    cost = draw(st.none() | st.floats(0.0, 30.0))
    return claims, BudgetLimit(executors, cost)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases(), st.integers(1, 3))
def test_caps_respect_bounds_and_the_limit(
    case: tuple[list[Claim], BudgetLimit], rounds: int
) -> None:
    claims, limit = case
    policy = LearnedWhittlePolicy(PARAMS)
    for _ in range(rounds):  # later rounds run the online update on the same claims
        allocation = policy.allocate(claims, limit)
        caps = [allocation.caps[c.key] for c in claims]
        assert all(
            c.min_executors <= n <= c.max_executors for c, n in zip(claims, caps, strict=True)
        )
        cost = sum(n * c.price_per_hour for c, n in zip(claims, caps, strict=True))
        if allocation.feasible:
            assert limit.fits(sum(caps), cost)
        else:
            assert caps == [c.min_executors for c in claims]
    scores = policy.scores(claims)
    assert np.all(np.diff(scores, axis=1) <= 1e-12)
    assert np.all(np.isfinite(policy.indices(claims)))


def test_an_app_that_keeps_violating_learns_a_higher_index() -> None:
    """The model says five executors serve 3,000 ev/s; the app reports violations anyway
    (its rate is mis-measured, say): its sixth executor gains index, a sound app's does not."""
    policy, fresh = LearnedWhittlePolicy(PARAMS), LearnedWhittlePolicy(PARAMS)
    limit = BudgetLimit(max_executors=10)

    def claims(rate: float) -> list[Claim]:
        return [
            _claim("late", 3000.0, current=5, violation_rate=rate),
            _claim("fine", 3000.0, current=5),
        ]

    policy.allocate(claims(0.0), limit)
    for _ in range(15):
        policy.allocate(claims(1.0), limit)
    learned, prior = policy.indices(claims(1.0)), fresh.indices(claims(1.0))
    assert learned[0, 5] > prior[0, 5] + 0.1  # the first executor it was refused
    assert learned[1, 5] <= prior[1, 5] + 1e-9  # no violations: no more index
    # With one executor to spare it now goes to the violating app.
    spare = BudgetLimit(max_executors=11)
    caps = policy.allocate(claims(1.0), spare).caps
    assert caps[AppKey("ns", "late")] == 6


def test_online_learning_is_deterministic() -> None:
    def run() -> tuple[list[dict[AppKey, int]], np.ndarray]:
        policy = LearnedWhittlePolicy(PARAMS)
        rng = np.random.default_rng(3)
        out = []
        for _ in range(8):
            claims = [
                _claim(f"a{i}", float(rng.uniform(500, 9000)), violation_rate=float(rng.random()))
                for i in range(4)
            ]
            out.append(dict(policy.allocate(claims, BudgetLimit(max_executors=14)).caps))
        return out, policy.indices(claims)

    (caps_a, idx_a), (caps_b, idx_b) = run(), run()
    assert caps_a == caps_b
    assert np.array_equal(idx_a, idx_b)


def test_factory_and_empty_claims() -> None:
    policy = policy_factory(PARAMS)("learned-whittle")
    assert policy.name == "learned-whittle"
    assert policy.allocate([], BudgetLimit(max_executors=3)).caps == {}
