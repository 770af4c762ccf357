"""The SLO guard's counting, hysteresis and raising (pure logic)."""

from __future__ import annotations

import pytest

from hrl_autoscaler.runtime.core.sloguard import SloGuard, SloGuardSettings

SLO = 2000.0


def test_acts_only_after_the_configured_run_of_breaches() -> None:
    guard = SloGuard(SloGuardSettings(latency_factor=3.0, breach_cycles=3))
    assert [guard.observe(7000.0, SLO) for _ in range(3)] == [False, False, True]
    assert guard.apply(1, 6).executors == 6
    assert guard.apply(1, 6).raised


def test_never_lowers_a_proposal_and_waits_for_a_known_rate() -> None:
    guard = SloGuard(SloGuardSettings(breach_cycles=1))
    guard.observe(10_000.0, SLO)
    assert guard.apply(8, 5).executors == 8
    assert not guard.apply(8, 5).raised
    assert guard.apply(2, None).executors == 2


def test_latency_between_slo_and_factor_neither_counts_nor_resets() -> None:
    guard = SloGuard(SloGuardSettings(latency_factor=3.0, breach_cycles=2))
    guard.observe(7000.0, SLO)
    guard.observe(4000.0, SLO)  # above the SLO, below 3x: the run is kept
    assert guard.breaches == 1
    assert guard.observe(7000.0, SLO)
    assert guard.observe(4000.0, SLO)  # still active until latency is within the SLO
    assert not guard.observe(1500.0, SLO)
    assert guard.breaches == 0


def test_a_disabled_guard_never_raises() -> None:
    guard = SloGuard(SloGuardSettings(enabled=False, breach_cycles=1))
    guard.observe(60_000.0, SLO)
    assert not guard.active
    assert guard.apply(1, 10).executors == 1


# -- standing down when a raise did not buy latency -------------------------------------------


def _raised(gain: float = 0.1) -> SloGuard:
    """A guard that raised 2 -> 6 at 3000 ms (1.5 x SLO)."""
    guard = SloGuard(SloGuardSettings(breach_cycles=1, min_gain=gain))
    assert guard.observe(3000.0, SLO, running=2)
    assert guard.apply(2, 6).raised
    return guard


def test_it_stands_down_when_its_executors_run_and_latency_barely_moved() -> None:
    """A batch floor above the SLO: six executors cut 3000 ms to 2900 ms (-3%)."""
    guard = _raised()
    assert guard.observe(2950.0, SLO, running=4)  # still starting: not judged yet
    assert not guard.observe(2900.0, SLO, running=6)
    assert guard.stood_down
    assert not guard.apply(2, 6).raised


def test_it_keeps_raising_when_the_raise_helped_but_not_enough() -> None:
    guard = _raised()
    assert guard.observe(2500.0, SLO, running=6)  # -17%: executors do buy latency here
    assert guard.apply(2, 8).raised
    assert guard.observe(2300.0, SLO, running=6)  # the second raise's executors still start
    assert not guard.stood_down


def test_a_backlog_or_the_slo_met_rearms_it() -> None:
    guard = _raised()
    guard.observe(2900.0, SLO, running=6)
    assert guard.observe(3500.0, SLO, running=6, backlogged=True)  # capacity short again
    assert guard.apply(2, 7).raised
    guard.observe(3400.0, SLO, running=7)  # -3% of the new raise's 3500 ms
    assert guard.stood_down
    assert not guard.observe(1500.0, SLO, running=7)  # within the SLO: reset
    assert not guard.stood_down
    assert guard.observe(3000.0, SLO, running=2)
    assert guard.apply(2, 6).raised


def test_a_min_gain_of_zero_or_an_unknown_count_never_stands_down() -> None:
    guard = _raised(gain=0.0)
    assert guard.observe(3000.0, SLO, running=6)
    guard = _raised()
    assert guard.observe(3000.0, SLO)  # running unknown


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency_factor": 0.5}, "latency_factor must be >= 1"),
        ({"breach_cycles": 0}, "breach_cycles must be >= 1"),
        ({"min_gain": 1.0}, r"min_gain must be in \[0, 1\)"),
        ({"min_gain": -0.1}, r"min_gain must be in \[0, 1\)"),
        ({"target_utilisation": 0.0}, r"target_utilisation must be in \(0, 1\]"),
        ({"target_utilisation": 1.5}, r"target_utilisation must be in \(0, 1\]"),
        ({"catch_up_s": 0.0}, "catch_up_s must be > 0"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SloGuardSettings(**kwargs)  # type: ignore[arg-type]


def test_through_the_loop_a_raise_that_did_not_help_is_logged_and_not_repeated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1.5 x SLO with no backlog: the guard raises 1 -> 2, latency barely moves, it stands
    down and says why; the policy decides again."""
    from hrl_autoscaler.runtime.core.annotations import PREFIX
    from hrl_autoscaler.runtime.core.reporting import Reason, parse_message

    from .test_pipeline import KEY, make, sample

    h = make(
        {PREFIX + "actuation": "in-place", PREFIX + "weight-policy": "cost-first"},
        instances=1,
        wanted=1,
    )
    h.source.samples[KEY] = sample(
        input_eps=3000, processing_eps=3000, active=1, cores=1, running=1, latency_ms=3000
    )
    for _ in range(3):
        h.cycle()
    raised = parse_message(h.events.of(Reason.SCALING_DECISION)[-1].message)
    assert raised["controller"] == "ppo+slo-guard"
    h.source.samples[KEY] = sample(
        input_eps=3000, processing_eps=3000, active=1, cores=2, running=2, latency_ms=2950
    )
    with caplog.at_level("WARNING", logger="hrl_autoscaler.pipeline"):
        h.cycle()
    assert "the guard stands down" in caplog.text
    for _ in range(3):
        h.cycle()
    assert h.telemetry.decisions[-1].controller == "ppo"
