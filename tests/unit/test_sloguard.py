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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency_factor": 0.5}, "latency_factor must be >= 1"),
        ({"breach_cycles": 0}, "breach_cycles must be >= 1"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SloGuardSettings(**kwargs)  # type: ignore[arg-type]
