"""The named IoT scenarios have the shapes their names promise."""

from __future__ import annotations

import numpy as np
import pytest

from hrl_autoscaler.research.sim.workloads import SCENARIOS, load_profile, scenario


def _day(name: str, seed: int = 0) -> np.ndarray:
    return load_profile(name, 2880, 30.0, np.random.default_rng(seed), start_s=0.0)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_profiles_are_positive_bounded_and_seeded(name: str) -> None:
    load = _day(name)
    assert load.shape == (2880,)
    assert np.all(load > 0)
    assert load.max() <= SCENARIOS[name].peak_rate_eps * 1.3
    np.testing.assert_array_equal(load, _day(name))
    assert not np.array_equal(load, _day(name, seed=1))


def test_smart_metering_repeats_every_fifteen_minutes() -> None:
    load = _day("smart-metering")
    x = load - load.mean()
    lag = 30  # 15 minutes of 30 s steps
    autocorrelation = float(np.dot(x[:-lag], x[lag:]) / np.dot(x, x))
    assert autocorrelation > 0.7


def test_traffic_sensors_peak_in_the_rush_hours_and_sleep_at_night() -> None:
    load = _day("traffic-sensors")
    hour = np.arange(2880) * 30.0 / 3600.0
    night = load[(hour > 1) & (hour < 4)].mean()
    morning = load[(hour > 7.5) & (hour < 8.5)].mean()
    assert morning > 5 * night


def test_flash_crowd_and_hospital_bursts_rise_far_above_the_base() -> None:
    for name in ("flash-crowd", "smart-hospital"):
        load = _day(name)
        assert load.max() > 2.5 * np.median(load)


def test_unknown_scenario_lists_the_accepted_names() -> None:
    with pytest.raises(ValueError, match="accepted values: flash-crowd, smart-hospital"):
        scenario("stadium")
