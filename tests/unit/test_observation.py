"""The shared observation function and the reward weights."""

from __future__ import annotations

import numpy as np
import pytest

from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.objectives import episode_score, r_meta, slo_score, step_reward
from hrl_autoscaler.runtime.core.observation import (
    OBS_HIGH,
    OBS_LOW,
    OBS_NAMES,
    ObservationScale,
    build_observation,
    out_of_range_fields,
)
from hrl_autoscaler.runtime.core.weights import PRESETS, Weights, sample_weights

SCALE = ObservationScale(rate_scale_eps=10_000.0, max_executors=20, max_latency_ms=5000.0)


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


def test_observation_has_nine_named_features_in_order() -> None:
    obs = build_observation(_metrics(), Weights.of(1, 2, 1), SCALE)
    assert obs.dtype == np.float32
    assert OBS_NAMES[:6] == (
        "input_rate",
        "backlog",
        "cpu_utilisation",
        "memory_utilisation",
        "latency",
        "executors",
    )
    np.testing.assert_allclose(obs, [0.5, 0.0, 0.5, 0.4, 0.2, 0.5, 0.25, 0.5, 0.25], atol=1e-6)


def test_observation_is_clipped_to_its_bounds() -> None:
    obs = build_observation(
        _metrics(input_rate_eps=1e9, backlog_events=1e12, latency_ms=1e9),
        Weights.of(1, 0, 0),
        SCALE,
    )
    assert np.all(obs >= OBS_LOW)
    assert np.all(obs <= OBS_HIGH)
    assert obs[0] == 2.0
    assert obs[1] == 5.0
    assert obs[4] == 1.0


def test_out_of_range_fields_name_what_the_policy_never_saw() -> None:
    assert out_of_range_fields(_metrics(), Weights.of(1, 1, 1), SCALE) == []
    names = out_of_range_fields(
        _metrics(input_rate_eps=50_000.0, executors=40), Weights.of(1, 1, 1), SCALE
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


def test_step_reward_follows_the_seed_formula() -> None:
    w = Weights.of(0.5, 0.3, 0.2)
    assert step_reward(0.4, 0.5, 0.6, w) == pytest.approx(-0.2 - 0.15 + 0.12)


def test_r_meta_and_slo_score_formulas() -> None:
    assert r_meta(49.0, 9.8) == pytest.approx(1000 / 50 - 0.98)
    assert slo_score(4.9, 9.8, 1.0) == pytest.approx(0.5)
    assert slo_score(4.9, 9.8, 0.95) == pytest.approx(0.5 - 10 * 0.04)
    lat = np.array([100.0, 3000.0])
    cost = np.array([9.8, 9.8])
    assert episode_score("slo", lat, cost, 2000.0, 9.8) == pytest.approx(0.0 - 10 * 0.49)
    with pytest.raises(ValueError, match="r_meta, slo"):
        episode_score("nope", lat, cost, 2000.0, 9.8)
