"""The breach floor (pure logic) and where the decision step applies it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hrl_autoscaler.config.stages import BreachFloorDefaults
from hrl_autoscaler.runtime.core.breachfloor import BreachFloor, BreachFloorSettings
from hrl_autoscaler.runtime.core.decision import Decision, DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.sloguard import SloGuardSettings
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

from .test_raise_cap import NO_TRIM, _step  # a fixed policy, one confirmation, in place

SLO = 2000.0
ON = BreachFloorSettings()


# -- the module -------------------------------------------------------------------------------


def test_on_by_default_at_the_validated_setting() -> None:
    assert DecisionOptions().breach_floor == ON
    assert (ON.enabled, ON.margin, ON.input_tolerance, ON.hold_s) == (True, 1, 0.1, 7200.0)
    guard = SloGuardSettings()
    assert (guard.calm_target_utilisation, guard.calm_input_rise) == (0.7, 0.05)


def test_holds_a_scale_down_above_the_breached_count_while_the_load_stays() -> None:
    floor = BreachFloor(ON)
    floor.record(running=8, input_eps=5000.0, time_s=0.0)
    assert floor.floor(5000.0, 60.0) == 9
    assert floor.apply(proposed=8, current=11, input_eps=5000.0, time_s=60.0) == 9
    assert floor.apply(proposed=8, current=9, input_eps=4600.0, time_s=60.0) == 9  # -8%


def test_never_raises_a_count_by_itself() -> None:
    floor = BreachFloor(ON)
    floor.record(running=8, input_eps=5000.0, time_s=0.0)
    assert floor.apply(proposed=6, current=7, input_eps=5000.0, time_s=60.0) == 7
    assert floor.apply(proposed=12, current=7, input_eps=5000.0, time_s=60.0) == 12


def test_lifts_when_the_load_falls_or_the_breach_is_old() -> None:
    floor = BreachFloor(ON)
    floor.record(running=8, input_eps=5000.0, time_s=0.0)
    assert floor.apply(8, 11, input_eps=4400.0, time_s=60.0) == 8  # 12% less load
    assert floor.apply(8, 11, input_eps=5000.0, time_s=ON.hold_s + 1.0) == 8
    assert floor.apply(8, 11, input_eps=6000.0, time_s=ON.hold_s) == 9  # more load: it holds


def test_the_highest_live_breach_sets_the_floor_and_clear_forgets_them() -> None:
    floor = BreachFloor(BreachFloorSettings(enabled=True, margin=2))
    floor.record(8, 5000.0, 0.0)
    floor.record(12, 9000.0, 10.0)
    assert floor.floor(9000.0, 20.0) == 14
    assert floor.floor(5000.0, 20.0) == 10  # the 9,000 eps breach no longer applies
    floor.clear()
    assert floor.floor(9000.0, 20.0) is None


def test_a_disabled_floor_records_and_holds_nothing() -> None:
    floor = BreachFloor(BreachFloorSettings(enabled=False))
    floor.record(8, 5000.0, 0.0)
    assert floor.floor(5000.0, 0.0) is None
    assert floor.apply(2, 11, 5000.0, 0.0) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"margin": 0}, "margin must be >= 1"),
        ({"input_tolerance": 1.0}, r"input_tolerance must be in \[0, 1\)"),
        ({"hold_s": 0.0}, "hold_s must be > 0"),
        ({"memory": 0}, "memory must be >= 1"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BreachFloorSettings(**kwargs)  # type: ignore[arg-type]
    field = next(iter(kwargs))
    with pytest.raises(ValidationError, match=field):
        BreachFloorDefaults(**kwargs)  # type: ignore[arg-type]


# -- the decision step ------------------------------------------------------------------------


def _decide(
    step: DecisionStep,
    latency_ms: float,
    executors: int,
    time_s: float,
    input_eps: float = 1000.0,
) -> Decision:
    # 1,000 eps processed on ``executors`` at a busy fraction that puts one busy executor at
    # 500 eps
    busy = 2.0 / executors
    metrics = SystemMetrics(
        input_eps, 1000.0, 0.0, busy, 0.3, latency_ms, executors, executors, time_s=time_s
    )
    return step.decide(metrics, FIXED_BASELINE, SLO)


def test_after_a_breach_the_policy_may_not_go_back_to_the_count_that_breached() -> None:
    step = _step(2, DecisionOptions(fallback=False, margin_trim=NO_TRIM, breach_floor=ON))
    breach = _decide(step, 2500.0, executors=2, time_s=0.0)
    assert breach.controller == "ppo+slo-guard"
    assert breach.target > 2
    back = _decide(step, 1200.0, executors=breach.target, time_s=30.0)
    assert back.controller == "ppo+floor"
    assert (back.floored_from, back.target) == (2, 3)


def test_the_guard_sizes_a_calm_breach_at_its_calm_utilisation() -> None:
    """1,000 eps at 500 eps per busy executor: 4 at the rescue's 0.5, 3 at a calm 0.85."""
    guard = SloGuardSettings(calm_target_utilisation=0.85)
    options = DecisionOptions(fallback=False, margin_trim=NO_TRIM, slo_guard=guard)
    step = _step(2, options)
    _decide(step, 1200.0, executors=2, time_s=0.0)  # the input before: 1,000 eps
    calm = _decide(step, 2500.0, executors=2, time_s=30.0)
    assert (calm.controller, calm.required) == ("ppo+slo-guard", 3)
    rising = _step(2, options)
    _decide(rising, 1200.0, executors=2, time_s=0.0, input_eps=800.0)
    assert _decide(rising, 2500.0, executors=2, time_s=30.0).required == 4  # +25% input
    first = _step(2, options)  # no input seen before: not calm
    assert _decide(first, 2500.0, executors=2, time_s=0.0).required == 4
