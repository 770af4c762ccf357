"""The surge response (pure logic) and where the decision step applies it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.config.stages import SurgeDefaults
from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings, executors_for
from hrl_autoscaler.runtime.core.decision import Decision, DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.fallrelease import FallReleaseSettings
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.surge import Surge, SurgeSettings
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

from .test_raise_cap import NO_TRIM, _step  # a fixed policy, one confirmation, in place

SLO = 2000.0
ON = SurgeSettings()


# -- the module -------------------------------------------------------------------------------


def test_on_by_default_at_the_validated_setting() -> None:
    assert DecisionOptions().surge == ON
    assert (ON.enabled, ON.min_rise, ON.target_utilisation, ON.reach) == (True, 0.2, 0.85, 4.0)
    assert (ON.peak_memory_s, ON.defer_to_period) == (86400.0, True)


def test_a_steep_rise_is_carried_a_start_up_horizon_ahead() -> None:
    surge = Surge(SurgeSettings(reach=1.0))
    assert surge.forecast(9000.0, 0.0, 75.0) is None  # the first input: no slope yet
    assert surge.forecast(3000.0, 30.0, 75.0) is None  # falling
    # +1,200 eps in 30 s = 40 eps/s, carried 75 s: 4,200 + 3,000
    assert surge.forecast(4200.0, 60.0, 75.0) == pytest.approx(7200.0)


def test_the_forecast_never_passes_the_highest_input_seen() -> None:
    surge = Surge(ON)  # reach 4: 300 s of a 40 eps/s slope would be 16,200
    surge.forecast(9000.0, 0.0, 75.0)
    surge.forecast(3000.0, 30.0, 75.0)
    assert surge.forecast(4200.0, 60.0, 75.0) == 9000.0
    fresh = Surge(ON)  # a first rise is sized for itself
    fresh.forecast(3000.0, 0.0, 75.0)
    assert fresh.forecast(4200.0, 30.0, 75.0) == 4200.0


def test_a_rise_below_min_rise_is_not_a_surge() -> None:
    surge = Surge(ON)
    surge.forecast(9000.0, 0.0, 75.0)
    surge.forecast(3000.0, 30.0, 75.0)
    assert surge.forecast(3500.0, 60.0, 75.0) is None  # +17%
    assert surge.forecast(4200.0, 90.0, 75.0) == 9000.0  # +20%


def test_an_old_peak_is_forgotten() -> None:
    surge = Surge(SurgeSettings(peak_memory_s=600.0))
    surge.forecast(9000.0, 0.0, 75.0)
    surge.forecast(3000.0, 30.0, 75.0)
    surge.forecast(3000.0, 630.0, 75.0)  # the 9,000 eps peak is now 630 s old
    assert surge.forecast(4200.0, 660.0, 75.0) == 4200.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_rise": 0.0}, "min_rise must be > 0"),
        ({"target_utilisation": 1.5}, r"target_utilisation must be in \(0, 1\]"),
        ({"reach": 0.0}, "reach must be > 0"),
        ({"peak_memory_s": -1.0}, "peak_memory_s must be > 0"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SurgeSettings(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=next(iter(kwargs))):
        SurgeDefaults(**kwargs)  # type: ignore[arg-type]


# -- the decision step ------------------------------------------------------------------------

NO_PERIOD = AnticipationSettings(enabled=False)


def _decide(step: DecisionStep, input_eps: float, time_s: float) -> Decision:
    # 4 executors at 50% CPU process 1,000 eps: one busy executor does 500 eps; latency well
    # within the SLO, no backlog (neither the SLO guard nor the raise cap's pressure)
    metrics = SystemMetrics(input_eps, 1000.0, 0.0, 0.5, 0.3, 1000.0, 4, 4, time_s=time_s)
    return step.decide(metrics, FIXED_BASELINE, SLO)


def _options(
    surge: SurgeSettings, anticipation: AnticipationSettings = NO_PERIOD
) -> DecisionOptions:
    return DecisionOptions(
        fallback=False,
        margin_trim=NO_TRIM,
        anticipation=anticipation,
        surge=surge,
        fall_release=FallReleaseSettings(enabled=False),  # it would lower the flat load's 4
    )


def test_decide_raises_the_proposal_to_the_surges_size_and_records_it() -> None:
    step = _step(4, _options(ON))
    _decide(step, 4000.0, 0.0)
    _decide(step, 1000.0, 30.0)
    decision = _decide(step, 1500.0, 60.0)  # +50%: sized for the 4,000 eps peak
    single = step.rate.executor_rate_eps  # the smoothed estimate, near 500 eps
    expected = executors_for(4000.0, single, SimParams().scaling_contention, 0.85, (1, 20))
    assert expected > 4
    assert decision.controller == "ppo+surge"
    assert (decision.surged_from, decision.proposed, decision.target) == (4, expected, expected)
    assert decision.reasons[0].startswith("input rising steeply (1500 events/s): sized for 4000")


def test_decide_leaves_flat_load_and_a_disabled_surge_alone() -> None:
    step = _step(4, _options(ON))
    _decide(step, 4000.0, 0.0)
    _decide(step, 1000.0, 30.0)
    flat = _decide(step, 1100.0, 60.0)  # +10%
    assert (flat.controller, flat.surged_from, flat.target) == ("ppo", None, 4)
    off = _step(4, _options(SurgeSettings(enabled=False)))
    _decide(off, 4000.0, 0.0)
    _decide(off, 1000.0, 30.0)
    assert _decide(off, 1500.0, 60.0).controller == "ppo"


def test_the_surge_never_lowers_a_proposal() -> None:
    step = _step(18, _options(ON))
    _decide(step, 1000.0, 0.0)
    decision = _decide(step, 1500.0, 30.0)  # sized for 1,500 eps: far below 18
    assert decision.surged_from is None
    assert "+surge" not in decision.controller


def test_the_surge_defers_to_a_period_the_anticipation_acts_on() -> None:
    """Periodic bursts are the anticipation's: its forecast knows their height and timing."""
    for defer, expected in ((True, "ppo"), (False, "ppo+surge")):
        settings = SurgeSettings(defer_to_period=defer)
        step = _step(4, _options(settings, AnticipationSettings(enabled=True, release=False)))
        _decide(step, 4000.0, 0.0)
        _decide(step, 1000.0, 30.0)
        step.anticipation.period = 30  # as if found and confirmed on the history
        assert _decide(step, 1500.0, 60.0).controller == expected
