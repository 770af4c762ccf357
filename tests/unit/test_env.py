"""The Gymnasium environment: API conformance, determinism, options."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hrl_autoscaler  # noqa: F401  (registers the environments)
from hrl_autoscaler.research.sim.env import IoTSparkStreamingEnv
from hrl_autoscaler.research.sim.registration import IOT_ENV_ID
from hrl_autoscaler.research.sim.staged_env import StagedExecutorEnv
from hrl_autoscaler.runtime.core.observation import OBS_SIZE
from hrl_autoscaler.runtime.core.weights import Weights


def test_passes_gymnasium_check_env() -> None:
    check_env(IoTSparkStreamingEnv(), skip_render_check=True)


def test_the_staged_environment_passes_gymnasium_check_env() -> None:
    check_env(StagedExecutorEnv(peak_jitter=0.3), skip_render_check=True)


def test_registered_id_makes_the_environment() -> None:
    env = gym.make(IOT_ENV_ID, scenario="steady", episode_steps=10)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (OBS_SIZE,)
    assert env.action_space.n == 20


def _rollout(seed: int, steps: int = 200) -> tuple[np.ndarray, np.ndarray]:
    env = IoTSparkStreamingEnv(scenario="mix", episode_steps=steps)
    obs, _ = env.reset(seed=seed)
    actions = np.random.default_rng(99).integers(0, 20, size=steps)
    observations, rewards = [obs], []
    for a in actions:
        obs, reward, _, _, _ = env.step(int(a))
        observations.append(obs)
        rewards.append(float(reward))
    return np.array(observations), np.array(rewards)


def test_same_seed_gives_the_same_rollout() -> None:
    obs_a, rew_a = _rollout(7)
    obs_b, rew_b = _rollout(7)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)


def test_different_seeds_give_different_rollouts() -> None:
    obs_a, _ = _rollout(7)
    obs_b, _ = _rollout(8)
    assert not np.array_equal(obs_a, obs_b)


def test_observations_stay_within_the_declared_space() -> None:
    env = IoTSparkStreamingEnv(scenario="flash-crowd", episode_steps=300)
    obs, _ = env.reset(seed=3)
    for a in np.random.default_rng(0).integers(0, 20, size=300):
        assert env.observation_space.contains(obs)
        obs, *_ = env.step(int(a))


def test_episode_truncates_after_episode_steps() -> None:
    env = IoTSparkStreamingEnv(scenario="steady", episode_steps=5)
    env.reset(seed=0)
    flags = [env.step(3)[3] for _ in range(5)]
    assert flags == [False, False, False, False, True]


def test_weights_from_reset_options_are_normalised_into_the_observation() -> None:
    env = IoTSparkStreamingEnv(scenario="steady", episode_steps=5)
    obs, _ = env.reset(seed=0, options={"weights": (9, 1, 0)})
    np.testing.assert_allclose(obs[6:], [0.9, 0.1, 0.0], atol=1e-6)
    assert env.weights == Weights.of(9, 1, 0)


def test_weights_are_drawn_per_episode_when_not_given() -> None:
    env = IoTSparkStreamingEnv(scenario="steady", episode_steps=5)
    drawn = {tuple(np.round(env.reset(seed=s)[0][6:], 4)) for s in range(20)}
    assert len(drawn) > 5
    for w in drawn:
        assert sum(w) == pytest.approx(1.0, abs=1e-3)


def test_load_option_replays_exactly_and_sets_the_horizon() -> None:
    env = IoTSparkStreamingEnv()
    load = np.array([1000.0, 2000.0, 3000.0])
    env.reset(seed=0, options={"load": load, "initial_executors": 5})
    seen = []
    for _ in range(3):
        _, _, _, truncated, info = env.step(4)
        seen.append(info["metrics"].input_rate_eps)
    assert seen == pytest.approx(load.tolist())
    assert truncated


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "nope"}, "accepted values"),
        ({"episode_steps": 0}, "episode_steps"),
        ({"peak_jitter": 1.5}, "peak_jitter"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IoTSparkStreamingEnv(**kwargs)  # type: ignore[arg-type]


def test_bad_load_option_is_refused() -> None:
    env = IoTSparkStreamingEnv()
    with pytest.raises(ValueError, match="load"):
        env.reset(seed=0, options={"load": np.array([1.0, -5.0])})
