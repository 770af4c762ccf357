"""The restart hold (pure logic) and where the decision step applies it."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.config.stages import RestartHoldDefaults
from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings
from hrl_autoscaler.runtime.core.decision import Decision, DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.restarthold import (
    RestartHold,
    RestartHoldSettings,
    replay_size,
    restart_pays,
)
from hrl_autoscaler.runtime.core.surge import SurgeSettings
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

from .test_pipeline import KEY, make, sample
from .test_raise_cap import NO_TRIM, _step  # a fixed policy, one confirmation

SLO = 2000.0
P = SimParams()
BOUNDS = (1, 20)


# -- the module -------------------------------------------------------------------------------


def test_on_by_default_at_the_validated_setting() -> None:
    default = DecisionOptions().restart_hold
    assert default.enabled
    assert (default.window, default.latency_factor, default.min_drop) == (120, 0.6, 0.25)
    assert RestartHoldDefaults().model_dump() == {
        k: getattr(default, k) for k in RestartHoldDefaults.model_fields
    }


def test_replay_size_on_constant_load_is_the_fewest_that_carry_it_within_the_limit() -> None:
    inputs = np.full(100, 4000.0)
    n = replay_size(inputs, 500.0, P, SLO, BOUNDS)
    measured = P.with_overrides(executor_rate_eps=500.0)
    assert measured.capacity_eps(n) > 4000.0
    assert replay_size(inputs, 500.0, P, SLO, (1, n - 1)) == n - 1  # none below does: the top
    assert replay_size(inputs, 500.0, P, 0.5 * SLO, BOUNDS) >= n  # a tighter limit needs more


def test_a_short_burst_whose_backlog_drains_within_the_limit_needs_fewer_than_its_peak() -> None:
    """A one-minute burst at 9,000 eps over 1,000 eps: under a 30 s limit the backlog of a
    count below the peak's drains in time, so holding the peak rate's count would be the
    wrong price; a burst ten times longer needs more."""
    burst = np.array([1000.0] * 20 + [9000.0, 9000.0] + [1000.0] * 20)
    steady_peak = replay_size(np.full(42, 9000.0), 1000.0, P, 30_000.0, BOUNDS)
    short = replay_size(burst, 1000.0, P, 30_000.0, BOUNDS)
    assert short < steady_peak
    longer = np.array([1000.0] * 20 + [9000.0] * 20 + [1000.0] * 20)
    assert short < replay_size(longer, 1000.0, P, 30_000.0, BOUNDS) <= steady_peak
    # the same twenty decisions 3 s apart (an operator deciding every 3 s) are a short burst
    assert replay_size(longer, 1000.0, P, 30_000.0, BOUNDS, interval_s=3.0) < replay_size(
        longer, 1000.0, P, 30_000.0, BOUNDS
    )


def _full(settings: RestartHoldSettings, rate: float = 1000.0) -> RestartHold:
    hold = RestartHold(settings)
    for _ in range(settings.window):
        hold.observe(rate)
    return hold


def _apply(
    hold: RestartHold,
    proposed: int,
    current: int,
    need: int,
    carries: bool = True,
    forecast: bool = False,
) -> int:
    return hold.apply(proposed, current, lambda: need, lambda: carries, forecast)[0]


def test_a_small_scale_down_is_held_a_large_one_goes_to_what_the_window_needs() -> None:
    hold = _full(RestartHoldSettings(window=4))
    assert _apply(hold, 9, 10, need=8) == 10  # 20% < 25%
    assert _apply(hold, 3, 10, need=6) == 6  # not below the need
    assert _apply(hold, 3, 10, need=2) == 3


def test_no_scale_down_before_a_whole_window_was_seen() -> None:
    hold = RestartHold(RestartHoldSettings(window=4))
    for _ in range(3):
        hold.observe(1000.0)
    assert hold.apply(2, 10, lambda: 2, lambda: True, False) == (
        10,
        "restart hold: no scale-down before a whole window was seen",
    )
    hold.observe(1000.0)
    assert _apply(hold, 2, 10, need=2) == 2


def test_a_raise_goes_to_the_need_unless_the_count_carries_the_input() -> None:
    hold = _full(RestartHoldSettings(window=4))
    assert _apply(hold, 12, 10, need=15, carries=False) == 15
    assert _apply(hold, 18, 10, need=15, carries=False) == 18
    # the count carries the input: the backlog drains without another restart's downtime
    assert _apply(hold, 18, 10, need=15) == 10
    assert _apply(hold, 18, 10, need=15, forecast=True) == 18  # a forecast


def test_the_replay_runs_only_when_the_answer_depends_on_it() -> None:
    hold = _full(RestartHoldSettings(window=4))

    def never() -> int:
        raise AssertionError("replayed")

    assert hold.apply(10, 10, never, lambda: True, False) == (10, "")
    assert hold.apply(18, 10, never, lambda: True, False)[0] == 10


def test_a_restart_pays_when_the_larger_count_clears_the_backlog_sooner() -> None:
    # 60,000 events behind at 1,000 eps: 2,000 eps now clear it in 60 s; 4,000 eps after a
    # 90 s restart take 90 + 150,000 / 3,000 = 140 s
    assert not restart_pays(1000.0, 60_000.0, 2000.0, 4000.0, 90.0)
    # 1,100 eps now take 600 s
    assert restart_pays(1000.0, 60_000.0, 1100.0, 4000.0, 90.0)
    assert restart_pays(1000.0, 0.0, 900.0, 4000.0, 90.0)  # the count cannot keep up at all
    assert not restart_pays(1000.0, 60_000.0, 900.0, 950.0, 90.0)  # nor can the new one


def test_the_window_forgets_and_restores() -> None:
    hold = RestartHold(RestartHoldSettings(window=3))
    for rate in (9000.0, 1000.0, 1000.0, 1000.0):
        hold.observe(rate)
    assert list(hold.window_inputs()) == [1000.0] * 3
    hold.restore([5.0, 9000.0, 2.0, 3.0])
    assert list(hold.window_inputs()) == [9000.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 0}, "window must be >= 1"),
        ({"latency_factor": 0.0}, r"latency_factor must be in \(0, 1\]"),
        ({"min_drop": 1.0}, r"min_drop must be in \(0, 1\)"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RestartHoldSettings(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=next(iter(kwargs))):
        RestartHoldDefaults(**kwargs)  # type: ignore[arg-type]


# -- the decision step ------------------------------------------------------------------------


def _options(hold: RestartHoldSettings) -> DecisionOptions:
    return DecisionOptions(
        fallback=False,
        margin_trim=NO_TRIM,
        anticipation=AnticipationSettings(enabled=False),
        surge=SurgeSettings(enabled=False),
        restart_hold=hold,
    )


def _decide(
    step: DecisionStep, executors: int, time_s: float, latency_ms: float = 500.0
) -> Decision:
    # 1,000 eps at a CPU share that puts one busy executor at 500 eps; no backlog
    metrics = SystemMetrics(
        1000.0, 1000.0, 0.0, 2.0 / executors, 0.3, latency_ms, executors, executors, time_s=time_s
    )
    return step.decide(metrics, FIXED_BASELINE, SLO)


def test_under_restart_actuation_the_policys_small_scale_downs_are_held() -> None:
    """The policy asks for 8 of 10 executors on light load: one restart for 20% fewer is not
    worth it. It asks for 3: once a whole window was seen, one scale-down, to the 4 that keep
    the window's 1,000 eps (500 eps an executor) within 0.6 x SLO, not to the policy's 3."""
    step = _step(8, _options(RestartHoldSettings(window=4)), actuation="restart")
    held = _decide(step, 10, 0.0)
    assert held.target == 10
    assert held.controller == "ppo+restart-hold"
    assert held.restart_held_from == 8
    assert held.reasons[0].startswith("restart hold")
    step = _step(3, _options(RestartHoldSettings(window=4)), actuation="restart")
    decisions = [_decide(step, 10, 30.0 * i) for i in range(4)]
    assert [d.target for d in decisions] == [10, 10, 10, 4]  # the fourth completes the window
    assert decisions[-1].reasons[0] == "restart hold: the last 4 decisions' load needs 4"


def test_in_place_and_with_the_hold_off_nothing_is_held() -> None:
    in_place = _step(8, _options(RestartHoldSettings(window=1)))
    assert _decide(in_place, 10, 0.0).target == 8
    off = _step(8, _options(RestartHoldSettings(enabled=False)), actuation="restart")
    assert _decide(off, 10, 0.0).target == 8


def test_through_the_loop_a_restart_for_a_few_executors_is_held_and_recorded() -> None:
    """The operator's pipeline under restart actuation (the harness's): the policy's 8 of 10
    is not worth a restart; no patch, and the record names the hold."""
    h = make(instances=10, wanted=8, restart_hold=True)
    h.source.samples[KEY] = sample(running=10)
    for _ in range(3):
        h.cycle()
    assert h.cluster.spec_patches() == []
    record = h.telemetry.decisions[-1]
    assert (record.controller, record.proposed, record.target) == ("ppo+restart-hold", 10, 10)
