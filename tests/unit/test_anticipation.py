"""Anticipation: finding a period in the input, forecasting a start-up ahead, and where the
decision step applies it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.anticipation import (
    Anticipation,
    AnticipationSettings,
    executors_for,
    find_period,
    horizon_decisions,
)
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.decision import Decision, DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.fallrelease import FallReleaseSettings
from hrl_autoscaler.runtime.core.guardrails import GuardrailSettings
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.sizing import RateEstimate
from hrl_autoscaler.runtime.core.surge import SurgeSettings
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

SLO = 5000.0
ON = AnticipationSettings(enabled=True)


def bursts(
    steps: int, period: int, width: int = 5, low: float = 500.0, high: float = 8000.0, seed: int = 0
) -> np.ndarray:
    """A trickle with a burst of ``width`` decisions every ``period``, 3% noise."""
    rng = np.random.default_rng(seed)
    phase = np.arange(steps) % period
    wave = np.where(phase < width, high, low)
    return np.asarray(wave * np.exp(rng.normal(0.0, 0.03, steps)))


# -- the period ---------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [8, 15, 30, 60])
def test_finds_the_period_of_regular_bursts(period: int) -> None:
    found, correlation = find_period(bursts(2 * period + 40, period), ON)
    assert found == period
    assert correlation > 0.8


def test_a_multiple_of_the_period_is_not_taken_for_it() -> None:
    # 240 decisions hold 8 periods of 30: 60 and 90 correlate as well as 30 does.
    assert find_period(bursts(240, 30), ON)[0] == 30


@pytest.mark.parametrize(
    "rates",
    [
        np.full(240, 3000.0),  # flat
        np.linspace(1000.0, 9000.0, 240),  # a ramp has no period
        3000.0 * np.exp(np.random.default_rng(1).normal(0.0, 0.05, 240)),  # white noise
    ],
    ids=["flat", "ramp", "noise"],
)
def test_no_period_in_load_without_one(rates: np.ndarray) -> None:
    assert find_period(rates, ON)[0] is None


def test_smooth_random_load_is_not_periodic() -> None:
    """A slow AR(1) walk (the scenarios' sensor noise) correlates strongly at short lags but
    has no local maximum of its autocorrelation: no period."""
    rng = np.random.default_rng(7)
    walk = np.zeros(240)
    for i in range(1, 240):
        walk[i] = 0.97 * walk[i - 1] + rng.normal(0.0, 0.05)
    assert find_period(3000.0 * np.exp(walk), ON)[0] is None


def test_needs_min_cycles_periods_of_history() -> None:
    assert find_period(bursts(59, 30), ON)[0] is None  # under two periods
    assert find_period(bursts(61, 30), ON)[0] == 30


@settings(max_examples=40, deadline=None)
@given(period=st.integers(6, 100), seed=st.integers(0, 1000))
def test_any_period_in_range_is_found_once_twice_seen(period: int, seed: int) -> None:
    found, _ = find_period(bursts(min(240, 2 * period + 20), period, seed=seed), ON)
    assert found == period


# -- the forecast -------------------------------------------------------------------------------


def _fed(rates: np.ndarray, settings: AnticipationSettings = ON) -> Anticipation:
    a = Anticipation(settings)
    for r in rates:
        a.observe(float(r))
    return a


def test_forecasts_the_burst_a_start_up_before_it_comes() -> None:
    rates = bursts(30 * 4, 30)  # ends at phase 29: the next burst starts in one decision
    a = _fed(rates)
    assert a.period == 30
    ahead = a.forecast(horizon=3)
    assert ahead.rate_eps is not None
    assert ahead.rate_eps > 7000.0


def test_forecasts_the_trickle_between_bursts() -> None:
    a = _fed(bursts(30 * 4 + 10, 30))  # phase 9: the next burst is 20 decisions away
    ahead = a.forecast(horizon=3)
    assert ahead.rate_eps is not None
    assert ahead.rate_eps < 700.0


def _per_thousand(rate_eps: float) -> int:
    return int(np.ceil(rate_eps / 1000.0))


def test_the_floor_sizes_the_forecast_and_the_ceiling_the_current_load() -> None:
    a = _fed(bursts(30 * 4, 30))
    forecast = a.forecast(3).rate_eps
    assert forecast is not None
    bounds = a.bounds(3, 450.0, _per_thousand)
    assert bounds is not None
    assert bounds.floor == _per_thousand(forecast) == 9
    assert bounds.ceiling == 9  # the forecast's size is above the current load's (1)


@pytest.mark.parametrize(("window", "ceilings"), [(1, [4, 1, 1, 1, 1]), (4, [4, 4, 4, 4, 1])])
def test_the_ceiling_is_the_largest_size_of_the_load_over_the_release_window(
    window: int, ceilings: list[int]
) -> None:
    """The default (1) follows a burst's decay at once; a longer window holds its size."""
    settings = AnticipationSettings(enabled=True, release_window=window)
    a = _fed(bursts(30 * 4 + 10, 30), settings)  # mid-trickle: the forecast needs 1
    sizes = [a.bounds(3, r, _per_thousand) for r in (3500.0, 500.0, 500.0, 500.0, 500.0)]
    assert [b.ceiling for b in sizes if b is not None] == ceilings
    assert all(b is not None and b.floor == 1 for b in sizes)


def test_no_ceiling_with_release_off() -> None:
    a = _fed(bursts(30 * 4, 30), AnticipationSettings(enabled=True, release=False))
    bounds = a.bounds(3, 450.0, _per_thousand)
    assert bounds is not None
    assert bounds.ceiling is None


def test_no_bounds_without_a_period() -> None:
    a = _fed(np.full(240, 3000.0))
    assert a.forecast(3).rate_eps is None
    assert a.bounds(3, 3000.0, _per_thousand) is None


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(0.0, 40_000.0),
    single=st.floats(100.0, 5000.0),
    contention=st.floats(0.0, 0.2),
    utilisation=st.floats(0.3, 1.0),
)
def test_the_closed_form_sizing_is_the_simulators(
    rate: float, single: float, contention: float, utilisation: float
) -> None:
    params = SimParams(executor_rate_eps=single, scaling_contention=contention)
    expected = params.executors_for_rate(rate, utilisation)
    got = executors_for(rate, single, contention, utilisation, (1, 20))
    # equal, except where the rate sits within float rounding of a count's capacity
    boundary = abs(params.capacity_eps(got) * utilisation - rate) < 1e-6 * max(rate, 1.0)
    assert got == expected or boundary


@pytest.mark.parametrize(("delay_s", "expected"), [(45.0, 3), (30.0, 2), (90.0, 4), (0.0, 1)])
def test_horizon_is_the_delay_plus_one_interval(delay_s: float, expected: int) -> None:
    assert horizon_decisions(delay_s, 30.0) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_period": 1}, "min_period"),
        ({"min_period": 50, "max_period": 40}, "min_period"),
        ({"min_cycles": 1.5}, "min_cycles"),
        ({"history": 10}, "history"),
        ({"correlation": 0.0}, "correlation"),
        ({"peak_share": 1.5}, "peak_share"),
        ({"target_utilisation": 0.0}, "target_utilisation"),
        ({"seasons": 0}, "seasons"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnticipationSettings(**kwargs)  # type: ignore[arg-type]


def test_enabled_by_default_releasing_with_the_load() -> None:
    assert AnticipationSettings().enabled
    assert DecisionOptions().anticipation.enabled
    assert AnticipationSettings().release_window == 1


# -- the decision step --------------------------------------------------------------------------


class FixedPolicy:
    def executors(self, obs: np.ndarray) -> int:
        return 2


NO_SURGE = SurgeSettings(enabled=False)
"""The surge response off: its bursts would also trigger it (tests/unit/test_surge.py)."""


NO_FALL = FallReleaseSettings(enabled=False)
"""The fall release off: these tests watch the anticipation's own releases."""


def _step(
    anticipation: AnticipationSettings, actuation: str = "in-place", confirmations: int = 1
) -> DecisionStep:
    ctx = ControlContext(1, 20, 30.0, actuation)  # type: ignore[arg-type]
    return DecisionStep(
        FixedPolicy(),
        GuardrailSettings(scale_down_confirmations=confirmations),
        ctx,
        RateEstimate(1000.0, 0.2, SimParams()),
        DecisionOptions(
            fallback=False, anticipation=anticipation, surge=NO_SURGE, fall_release=NO_FALL
        ),
    )


def _run(step: DecisionStep, rates: np.ndarray, latency_ms: float = 1500.0) -> list[Decision]:
    # Two executors at a utilisation that says one does 1,000 events/s whatever the input.
    return [
        step.decide(
            SystemMetrics(r, r, 0.0, r / 2000.0, 0.3, latency_ms, 2, 2, time_s=30.0 * i),
            FIXED_BASELINE,
            SLO,
        )
        for i, r in enumerate(rates)
    ]


RAISE_ONLY = AnticipationSettings(enabled=True, release=False)


def test_decide_raises_the_proposal_before_a_periodic_burst_and_records_it() -> None:
    rates = bursts(30 * 4, 30, high=1900.0, low=200.0)  # one executor's rate is 1,000
    decisions = _run(_step(RAISE_ONLY), rates)
    last = decisions[-1]  # a decision before the next burst
    assert last.controller == "ppo+ahead"
    assert last.anticipated_from == 2
    assert last.proposed == 3  # ceil(~1,900 / 0.85 / 1,000)
    assert last.reasons[0] == "input period 30 decisions: the next 3 need 3"
    between = decisions[-15]  # mid-trickle: the policy's own count stands
    assert between.controller == "ppo"
    assert between.anticipated_from is None


def test_decide_releases_between_bursts_without_confirmations() -> None:
    """With the period known, a quiet trickle needs one executor: the policy's 2 come down to
    it at once, though the guardrails ask for 10 confirmations."""
    step = _step(ON, confirmations=10)
    decisions = _run(step, bursts(30 * 4, 30, high=1900.0, low=200.0))
    between = decisions[-15]
    assert between.controller == "ppo+ahead"
    assert (between.anticipated_from, between.proposed, between.target) == (2, 1, 1)
    assert between.reasons == ("input period 30 decisions: released, the next 3 need 1",)
    assert decisions[-1].proposed == 3  # and back up ahead of the next burst


def test_no_release_while_latency_is_near_the_slo() -> None:
    step = _step(ON, confirmations=10)
    rates = bursts(30 * 4, 30, high=1900.0, low=200.0)
    decisions = _run(step, rates, latency_ms=0.9 * SLO)
    between = decisions[-15]
    assert between.proposed == 2
    assert between.target == 2


def test_no_release_without_a_period() -> None:
    decisions = _run(_step(ON, confirmations=10), np.full(120, 200.0))
    assert all(d.controller == "ppo" and d.target == 2 for d in decisions)


def test_decide_is_unchanged_with_anticipation_disabled() -> None:
    rates = bursts(30 * 4, 30, high=1900.0, low=200.0)
    decisions = _run(_step(AnticipationSettings(enabled=False)), rates)
    assert all(d.controller == "ppo" and d.proposed == 2 for d in decisions)


def test_restart_actuation_looks_a_restart_ahead() -> None:
    rates = bursts(30 * 4 - 3, 30, high=1900.0, low=200.0)  # burst 4 decisions away
    restart = _run(_step(RAISE_ONLY, actuation="restart"), rates)[-1]
    assert restart.anticipated_from == 2  # 90 s downtime + 30 s: 4 ahead
    in_place = _run(_step(RAISE_ONLY), rates)[-1]
    assert in_place.anticipated_from is None  # a start-up (45 s) is only 3 ahead


# -- the evaluated controller on the simulator ---------------------------------------------------


def test_hrl_runs_the_stage_and_hrl_reactive_does_not() -> None:
    from hrl_autoscaler.research.baselines.registry import build_controller
    from hrl_autoscaler.research.evaluation.pipeline_controller import PipelineController

    hrl = build_controller("hrl", "slo", SLO)
    reactive = build_controller("hrl-reactive", "slo", SLO)
    assert isinstance(hrl, PipelineController)
    assert isinstance(reactive, PipelineController)
    assert hrl.settings.guardrails.anticipation.enabled
    assert reactive.name == "hrl-reactive"
    assert not reactive.settings.guardrails.anticipation.enabled
    assert reactive.settings.guardrails.margin_trim == hrl.settings.guardrails.margin_trim


def test_on_periodic_uploads_the_stage_is_cheaper_at_no_lower_attainment() -> None:
    """Four hours of smart metering (a burst every 15 minutes): with the period found, the
    burst's executors go between bursts and come back a start-up before the next one."""
    from hrl_autoscaler.research.evaluation.heldout import Case
    from hrl_autoscaler.research.evaluation.runner import run_on_load
    from hrl_autoscaler.research.sim.workloads import scenario

    sm = scenario("smart-metering")
    case = Case("sm", "scenario", sm.latency_slo_ms, sm.peak_rate_eps, scenarios=(sm.name,))
    load = case.load(300, 480, 30.0)
    params = SimParams()
    reactive, _ = run_on_load("hrl-reactive", load, params, "slo", sm.latency_slo_ms, 300)
    ahead, _ = run_on_load("hrl", load, params, "slo", sm.latency_slo_ms, 300)
    assert ahead.cost_per_hour < 0.75 * reactive.cost_per_hour
    assert ahead.attainment >= reactive.attainment - 0.005
    assert ahead.slo_score > reactive.slo_score
