"""The shared observation function and the reward weights."""

from __future__ import annotations

import numpy as np
import pytest

from hrl_autoscaler.runtime.core.anticipation import Anticipation
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.objectives import episode_score, r_meta, slo_score, step_reward
from hrl_autoscaler.runtime.core.observation import (
    OBS_HIGH,
    OBS_LOW,
    OBS_NAMES,
    ObservationContext,
    ObservationScale,
    build_observation,
    out_of_range_fields,
)
from hrl_autoscaler.runtime.core.weights import PRESETS, Weights, sample_weights

SCALE = ObservationScale(rate_scale_eps=10_000.0, max_executors=20, max_latency_ms=5000.0)
CTX = ObservationContext(latency_slo_ms=2000.0)


def _metrics(**overrides: float) -> SystemMetrics:
    values: dict[str, float] = {
        "input_rate_eps": 5000.0,
        "processing_rate_eps": 5000.0,
        "backlog_events": 0.0,
        "cpu_utilisation": 0.5,
        "memory_utilisation": 0.4,
        "latency_ms": 1000.0,
        "executors": 10,
        "running_executors": 10,
    }
    values.update(overrides)
    return SystemMetrics(**values)  # type: ignore[arg-type]


def test_observation_has_fifteen_named_features_in_order() -> None:
    ahead = Anticipation(trend_eps=6000.0, seasonal_eps=9000.0, period_steps=30)
    ctx = ObservationContext(
        latency_slo_ms=2000.0, restart=True, anticipation=ahead, true_rate_eps=1000.0
    )
    obs = build_observation(_metrics(running_executors=8), Weights.of(1, 2, 1), SCALE, ctx)
    assert obs.dtype == np.float32
    assert OBS_NAMES == (
        "input_rate",
        "backlog",
        "cpu_utilisation",
        "memory_utilisation",
        "latency",
        "executors",
        "starting",
        "needed",
        "forecast_trend",
        "forecast_seasonal",
        "slo",
        "restart",
        "alpha",
        "beta",
        "gamma",
    )
    # needed: 5,000 events/s at 1,000 per busy executor = 5 of 20
    expected = [0.5, 0.0, 0.5, 0.4, 0.5, 0.5, 0.1, 0.25, 0.6, 0.9, 0.4, 1.0, 0.25, 0.5, 0.25]
    np.testing.assert_allclose(obs, expected, atol=1e-6)


def test_without_a_forecast_the_load_now_stands_for_it() -> None:
    obs = build_observation(_metrics(), Weights.of(1, 1, 1), SCALE, CTX)
    assert obs[OBS_NAMES.index("forecast_trend")] == obs[0]
    assert obs[OBS_NAMES.index("forecast_seasonal")] == obs[0]
    assert obs[OBS_NAMES.index("restart")] == 0.0
    # Before a measurement the scale's average executor (10,000 / 20) stands in: 10 of 20.
    assert obs[OBS_NAMES.index("needed")] == pytest.approx(0.5)


def test_latency_is_measured_against_the_applications_slo() -> None:
    i = OBS_NAMES.index("latency")
    tight = build_observation(_metrics(), Weights.of(1, 1, 1), SCALE, ObservationContext(500.0))
    loose = build_observation(_metrics(), Weights.of(1, 1, 1), SCALE, ObservationContext(4000.0))
    assert (tight[i], loose[i]) == (2.0, 0.25)
    with pytest.raises(ValueError, match="latency_slo_ms"):
        ObservationContext(0.0)


def test_observation_is_clipped_to_its_bounds() -> None:
    obs = build_observation(
        _metrics(input_rate_eps=1e9, backlog_events=1e12, latency_ms=1e9),
        Weights.of(1, 0, 0),
        SCALE,
        CTX,
    )
    assert np.all(obs >= OBS_LOW)
    assert np.all(obs <= OBS_HIGH)
    assert obs[0] == 2.0
    assert obs[1] == 5.0
    assert obs[4] == 3.0


def test_out_of_range_fields_name_what_the_policy_never_saw() -> None:
    assert out_of_range_fields(_metrics(), Weights.of(1, 1, 1), SCALE, CTX) == []
    names = out_of_range_fields(
        _metrics(input_rate_eps=50_000.0, executors=40), Weights.of(1, 1, 1), SCALE, CTX
    )
    assert names == ["input_rate", "executors"]


def test_weights_normalise_and_reject_bad_values() -> None:
    assert Weights.of(2, 2, 4).as_tuple() == (0.25, 0.25, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        Weights(-1.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="all be 0"):
        Weights.of(0, 0, 0)


def test_sampled_weights_cover_the_simplex_and_the_presets() -> None:
    rng = np.random.default_rng(0)
    drawn = [sample_weights(rng) for _ in range(400)]
    assert any(w in PRESETS.values() for w in drawn)
    assert max(w.alpha for w in drawn) > 0.85
    assert max(w.beta for w in drawn) > 0.85
    assert all(abs(sum(w.as_tuple()) - 1) < 1e-9 for w in drawn)


def test_step_reward_charges_latency_only_as_it_nears_the_slo() -> None:
    w = Weights.of(0.5, 0.3, 0.2)
    calm = -0.2 + 0.12
    assert step_reward(0.4, 0.0, 0.6, w) == pytest.approx(calm)
    assert step_reward(0.4, 0.8, 0.6, w) == pytest.approx(calm)
    assert step_reward(0.4, 0.9, 0.6, w) == pytest.approx(calm - 0.3 * 10 * 0.5)
    assert step_reward(0.4, 1.0, 0.6, w) == pytest.approx(calm - 0.3 * 10)
    assert step_reward(0.4, 9.0, 0.6, w) == pytest.approx(calm - 0.3 * 10)


def test_step_reward_charges_every_change_of_the_count() -> None:
    w = Weights.of(1, 1, 1)
    assert step_reward(0.2, 0.1, 0.5, w) - step_reward(0.2, 0.1, 0.5, w, changed=True) == (
        pytest.approx(0.1)
    )


def test_equal_weights_make_the_step_reward_the_slo_objective_per_step() -> None:
    """alpha = beta: one violated step costs 10x the whole cost range, as in slo_score."""
    w = Weights.of(1, 1, 0)
    assert step_reward(0.0, 1.0, 0.0, w) / step_reward(1.0, 0.0, 0.0, w) == pytest.approx(10)


def test_r_meta_and_slo_score_formulas() -> None:
    assert r_meta(49.0, 9.8) == pytest.approx(1000 / 50 - 0.98)
    assert slo_score(4.9, 9.8, 1.0) == pytest.approx(0.5)
    assert slo_score(4.9, 9.8, 0.95) == pytest.approx(0.5 - 10 * 0.04)
    lat = np.array([100.0, 3000.0])
    cost = np.array([9.8, 9.8])
    assert episode_score("slo", lat, cost, 2000.0, 9.8) == pytest.approx(0.0 - 10 * 0.49)
    with pytest.raises(ValueError, match="r_meta, slo"):
        episode_score("nope", lat, cost, 2000.0, 9.8)
