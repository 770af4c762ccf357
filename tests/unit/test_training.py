"""Training smoke runs (a few hundred steps) and the stable-baselines3 save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO

from hrl_autoscaler.research.sim.env import IoTSparkStreamingEnv
from hrl_autoscaler.research.sim.meta_env import MetaControllerEnv
from hrl_autoscaler.research.train.meta import MetaConfig, train_meta
from hrl_autoscaler.research.train.ppo import PPOConfig, load_sb3, train_ppo
from hrl_autoscaler.runtime.policies.meta import NumpyMetaActor
from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy


@pytest.fixture(scope="module")
def tiny_ppo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ppo")
    train_ppo(
        PPOConfig(timesteps=512, n_envs=2, n_steps=128, batch_size=64, n_epochs=1),
        out,
        progress_bar=False,
    )
    return out


def test_ppo_smoke_run_writes_a_loadable_artifact(tiny_ppo: Path) -> None:
    for name in (
        "ppo.zip",
        "vecnormalize.pkl",
        "policy.npz",
        "metadata.json",
        "learning_curve.png",
    ):
        assert (tiny_ppo / name).is_file(), name
    policy = NumpyPPOPolicy.load(tiny_ppo)
    assert 1 <= policy.executors(np.zeros(9, dtype=np.float32)) <= 20


def test_sb3_save_load_round_trip_predicts_the_same(tiny_ppo: Path, tmp_path: Path) -> None:
    model, meta = load_sb3(tiny_ppo)
    assert meta["training"]["timesteps"] == 512
    model.save(tmp_path / "again.zip")
    reloaded = PPO.load(tmp_path / "again.zip", device="cpu")
    obs = np.random.default_rng(0).uniform(-1, 1, size=(64, 9)).astype(np.float32)
    a, _ = model.predict(obs, deterministic=True)
    b, _ = reloaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a, b)


def test_meta_environment_passes_check_env(tiny_ppo: Path) -> None:
    env = MetaControllerEnv(NumpyPPOPolicy.load(tiny_ppo), "slo", lower_steps=5, meta_steps=4)
    check_env(env, skip_render_check=True)


def test_td3_smoke_run_writes_a_loadable_artifact(tiny_ppo: Path, tmp_path: Path) -> None:
    out = tmp_path / "meta"
    config = MetaConfig(objective="r_meta", timesteps=300, learning_starts=50, meta_steps=10)
    meta = train_meta(config, tiny_ppo, out, progress_bar=False)
    assert meta["objective"] == "r_meta"
    assert meta["ppo"]["policy_sha256"]
    actor = NumpyMetaActor.load(out)
    assert sum(actor.weights(np.zeros(10)).as_tuple()) == pytest.approx(1.0)


def test_meta_environment_is_registered_with_the_committed_policy() -> None:
    import gymnasium as gym

    from hrl_autoscaler.research.sim.registration import META_ENV_ID

    env = gym.make(META_ENV_ID, objective="r_meta", meta_steps=2)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (10,)
    _, reward, _, _, step_info = env.step(np.zeros(3, dtype=np.float32))
    assert np.isfinite(float(reward))
    assert step_info["weights"].as_tuple() == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_env_weights_can_be_changed_within_an_episode() -> None:
    env = IoTSparkStreamingEnv(scenario="steady", episode_steps=3)
    env.reset(seed=0, options={"weights": (1, 0, 0)})
    env.weights = env.weights.of(0, 1, 0)
    obs, *_ = env.step(4)
    np.testing.assert_allclose(obs[6:], [0, 1, 0])
