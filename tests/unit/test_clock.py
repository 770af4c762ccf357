"""The operator's clock: Unix time that a wall-clock step (NTP, a VM resumed, a hand-set
date) does not move within one process, so cooldowns neither stall nor vanish."""

from __future__ import annotations

import pytest

from hrl_autoscaler.runtime.core import ports
from hrl_autoscaler.runtime.core.ports import SystemClock


class FakeTime:
    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 500.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    clock = FakeTime()
    monkeypatch.setattr(ports.time, "time", clock.time)
    monkeypatch.setattr(ports.time, "monotonic", clock.monotonic)
    return clock


@pytest.mark.parametrize("step_s", [-3600.0, 3600.0, -86400.0 * 365])
def test_a_wall_clock_step_does_not_move_the_operators_time(fake: FakeTime, step_s: float) -> None:
    clock = SystemClock()
    start = clock.now()
    assert start == fake.wall
    fake.advance(30.0)
    fake.wall += step_s  # the step: wall clock only
    fake.advance(30.0)
    assert clock.now() == pytest.approx(start + 60.0)


def test_a_restarted_operator_reads_the_wall_clock_afresh(fake: FakeTime) -> None:
    SystemClock()
    fake.wall += 3600.0
    assert SystemClock().now() == fake.wall
