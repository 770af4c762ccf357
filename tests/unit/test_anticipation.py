"""The load forecasts the executor policy anticipates with."""

from __future__ import annotations

import numpy as np
import pytest

from hrl_autoscaler.research.sim.workloads import load_profile
from hrl_autoscaler.runtime.core.anticipation import ForecastSettings, LoadForecaster


def _feed(rates: np.ndarray, interval_s: float = 30.0) -> list:
    f = LoadForecaster()
    return [f.observe(float(r), interval_s) for r in rates]


def test_a_repeating_load_is_found_and_forecast_one_period_ahead() -> None:
    load = load_profile("smart-metering", 600, 30.0, np.random.default_rng(3), start_s=0.0)
    seen = _feed(load)
    late = seen[200:]
    assert all(a.period_steps is not None and a.period_steps % 30 == 0 for a in late)
    # 90 s ahead of each wave (three decisions), the seasonal forecast already sees it.
    waves = [i for i in range(200, 590) if load[i + 1] > 3 * load[i]]
    assert waves
    for i in waves:
        assert seen[i].seasonal_eps > 0.7 * load[i + 1] > 2 * load[i]


def test_a_time_compressed_period_is_found_too() -> None:
    t = np.arange(600) * 30.0
    load = 1000.0 + 4000.0 * (np.mod(t, 450.0) < 60.0)
    assert _feed(load)[-1].period_steps == 15


@pytest.mark.parametrize("scenario", ["steady", "traffic-sensors", "flash-crowd"])
def test_drifting_or_bursty_load_gets_no_period(scenario: str) -> None:
    load = load_profile(scenario, 700, 30.0, np.random.default_rng(1), start_s=0.0)
    seen = _feed(load)
    assert sum(a.period_steps is not None for a in seen) < 0.02 * len(seen)
    assert all(a.seasonal_eps == pytest.approx(r) for a, r in zip(seen, load, strict=True))


def test_the_trend_extrapolates_a_ramp_over_the_horizon() -> None:
    ramp = 1000.0 + 100.0 * np.arange(10)
    last = _feed(ramp)[-1]
    # 90 s at 30 s = 3 decisions past the newest rate of 1,900.
    assert last.trend_eps == pytest.approx(2200.0)
    falling = _feed(ramp[::-1])[-1]
    assert falling.trend_eps == pytest.approx(700.0)
    assert _feed(np.array([5000.0, 5000.0, 100.0, 0.0, 0.0]))[-1].trend_eps >= 0.0


def test_garbage_rates_are_skipped_and_an_empty_history_forecasts_nothing() -> None:
    f = LoadForecaster()
    assert f.observe(float("nan"), 30.0).trend_eps == 0.0
    assert len(f) == 0
    f.observe(500.0, 30.0)
    assert f.observe(-1.0, 30.0).seasonal_eps == 500.0
    assert len(f) == 1


def test_settings_reject_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="horizon_s"):
        ForecastSettings(horizon_s=0)
    with pytest.raises(ValueError, match="min_confidence"):
        ForecastSettings(min_confidence=1.0)
    with pytest.raises(ValueError, match="history"):
        ForecastSettings(history=8)
