"""The fall release (pure logic) and where the decision step applies it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.config.stages import FallReleaseDefaults
from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings
from hrl_autoscaler.runtime.core.decision import Decision, DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.fallrelease import (
    FallRelease,
    FallReleaseSettings,
    release_size,
)
from hrl_autoscaler.runtime.core.latency import mean_wait_s, micro_batch_latency_s
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.surge import SurgeSettings
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

from .test_raise_cap import NO_TRIM, _step  # a fixed policy, one confirmation, in place

SLO = 2000.0
ON = FallReleaseSettings(enabled=True)


# -- the module -------------------------------------------------------------------------------


def test_on_by_default_at_the_validated_setting() -> None:
    """On since session 22 with the recurrence guard (docs/fall-release.md), in place only."""
    default = DecisionOptions().fall_release
    assert default.enabled
    assert (default.min_fall, default.window, default.recur_window) == (0.2, 20, 60)
    assert (default.target_utilisation, default.latency_factor) == (0.85, 0.8)
    assert default.skip_confirmations
    assert not default.restart_actuation
    assert FallReleaseDefaults().model_dump() == {
        k: getattr(default, k) for k in FallReleaseDefaults.model_fields
    }


def test_a_fall_below_the_recent_peak_sizes_for_the_last_two_inputs() -> None:
    release = FallRelease(ON)
    assert release.observe(9000.0) is None  # one input: nothing to fall from
    assert release.observe(7500.0) is None  # 17% below the peak
    assert release.observe(7000.0) == 7500.0  # 22% below: the larger of the last two
    assert release.observe(6000.0) == 7000.0


def test_the_peak_leaves_the_window() -> None:
    release = FallRelease(FallReleaseSettings(window=3))
    for rate in (9000.0, 5000.0, 5000.0):
        release.observe(rate)
    assert release.observe(5000.0) is None  # 9,000 is four inputs back


def _burst(release: FallRelease, peak: float, base: float, quiet: int) -> list[float | None]:
    """One burst at ``peak`` after ``quiet`` decisions at ``base``; the release's answers
    over its decay."""
    for _ in range(quiet):
        release.observe(base)
    release.observe(peak)
    return [release.observe(r) for r in (0.6 * peak, 0.3 * peak, base)]


@pytest.mark.parametrize(("quiet", "released"), [(25, False), (60, True)])
def test_a_burst_that_recurs_within_the_recur_window_is_not_released(
    quiet: int, released: bool
) -> None:
    """Bursts 30 decisions apart (uploads whose period the anticipation has not confirmed)
    need the executors a release gives back; one long after the last is released."""
    release = FallRelease(FallReleaseSettings(enabled=True, recur_window=40))
    first = _burst(release, 9000.0, 1000.0, 25)
    assert first == [9000.0, 5400.0, 2700.0]  # the first fall: nothing before it
    again = _burst(release, 9000.0, 1000.0, quiet)
    assert (again == first) is released
    assert released or again == [None, None, None]


def test_without_a_recur_window_every_fall_is_released() -> None:
    release = FallRelease(FallReleaseSettings(enabled=True, recur_window=0))
    assert _burst(release, 9000.0, 1000.0, 25) == _burst(release, 9000.0, 1000.0, 10)


def test_the_release_size_keeps_latency_within_the_limit() -> None:
    """Under a tight limit the size is set by latency, not by the utilisation."""
    p = SimParams()
    loose = release_size(4000.0, 500.0, p, 0.85, 10_000.0, (1, 20))
    tight = release_size(4000.0, 500.0, p, 0.85, 1500.0, (1, 20))
    assert tight > loose
    capacity = 500.0 * tight / (1 + p.scaling_contention * (tight - 1))
    u = 4000.0 / capacity
    assert micro_batch_latency_s(p, u, mean_wait_s(tight, u, p.task_time_s)) <= 1.5
    assert release_size(4000.0, 500.0, p, 0.85, 1200.0, (1, 20)) == 20  # none does: the top


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_fall": 1.0}, r"min_fall must be in \(0, 1\)"),
        ({"window": 1}, "window must be >= 2"),
        ({"target_utilisation": 0.0}, r"target_utilisation must be in \(0, 1\]"),
        ({"latency_factor": 1.5}, r"latency_factor must be in \(0, 1\]"),
        ({"recur_window": -1}, "recur_window must be >= 0"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FallReleaseSettings(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=next(iter(kwargs))):
        FallReleaseDefaults(**kwargs)  # type: ignore[arg-type]


# -- the decision step ------------------------------------------------------------------------

QUIET = (
    AnticipationSettings(enabled=False),
    SurgeSettings(enabled=False),
)


def _options(release: FallReleaseSettings) -> DecisionOptions:
    anticipation, surge = QUIET
    return DecisionOptions(
        fallback=False,
        margin_trim=NO_TRIM,
        anticipation=anticipation,
        surge=surge,
        fall_release=release,
    )


def _decide(
    step: DecisionStep, input_eps: float, time_s: float, latency_ms: float = 1000.0
) -> Decision:
    # 18 executors at a CPU share that puts one busy executor at 500 eps; no backlog
    metrics = SystemMetrics(
        input_eps, input_eps, 0.0, input_eps / 9000.0, 0.3, latency_ms, 18, 18, time_s=time_s
    )
    return step.decide(metrics, FIXED_BASELINE, SLO)


def test_decide_gives_back_a_bursts_executors_as_the_input_falls() -> None:
    """The policy holds 18; once the input is 20% below its peak the proposal comes down to
    what the last two inputs need, past the scale-down confirmations."""
    step = _step(18, _options(ON))
    assert _decide(step, 8000.0, 0.0).target == 18
    assert _decide(step, 6000.0, 30.0).target == 18  # the last two inputs hold the peak
    decision = _decide(step, 5000.0, 60.0)  # sized for 6,000 eps
    assert decision.controller == "ppo+fall"
    assert decision.released_from == 18
    assert decision.target == decision.proposed < 18


def test_decide_does_not_release_near_the_slo_nor_with_the_release_off() -> None:
    step = _step(18, _options(ON))
    _decide(step, 8000.0, 0.0)
    near = _decide(step, 5000.0, 30.0, latency_ms=1700.0)  # 0.85 x SLO
    assert (near.controller, near.target) == ("ppo", 18)
    off = _step(18, _options(FallReleaseSettings(enabled=False)))
    _decide(off, 8000.0, 0.0)
    assert _decide(off, 5000.0, 30.0).target == 18


@pytest.mark.parametrize(("restart_actuation", "released"), [(False, False), (True, True)])
def test_under_restart_actuation_the_release_acts_only_when_asked(
    restart_actuation: bool, released: bool
) -> None:
    """Each release would be a restart there: off unless ``restart_actuation``."""
    settings = FallReleaseSettings(enabled=True, restart_actuation=restart_actuation)
    step = _step(18, _options(settings), actuation="restart")
    for rate, t in ((8000.0, 0.0), (6000.0, 30.0)):
        _decide(step, rate, t)
    assert (_decide(step, 5000.0, 60.0).released_from is not None) is released


def test_under_the_r_meta_objective_the_release_does_not_act() -> None:
    step = _step(18, _options(ON))
    metrics = SystemMetrics(8000.0, 8000.0, 0.0, 8 / 9, 0.3, 1000.0, 18, 18, time_s=0.0)
    step.decide(metrics, FIXED_BASELINE, SLO, objective="r_meta")
    metrics = SystemMetrics(5000.0, 5000.0, 0.0, 5 / 9, 0.3, 1000.0, 18, 18, time_s=30.0)
    assert step.decide(metrics, FIXED_BASELINE, SLO, objective="r_meta").target == 18
