"""Training smoke runs (a few hundred steps) and the stable-baselines3 save/load round trip.

The smoke runs train for real and are marked ``slow`` (``make slow``, run by ``make test``);
``make unit`` skips them.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

import torch
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from hrl_autoscaler.research.sim.env import IoTSparkStreamingEnv
from hrl_autoscaler.research.sim.meta_env import MetaControllerEnv
from hrl_autoscaler.research.train.meta import MetaConfig, train_meta
from hrl_autoscaler.research.train.ppo import PPOConfig, load_sb3, train_ppo
from hrl_autoscaler.runtime.core.observation import OBS_HIGH, OBS_LOW, OBS_SCHEMA_VERSION
from hrl_autoscaler.runtime.policies.artifacts import METADATA_FILE, PolicyError, sha256_file
from hrl_autoscaler.runtime.policies.meta import NumpyMetaActor
from hrl_autoscaler.runtime.policies.ppo import KIND as PPO_KIND
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


@pytest.mark.slow
def test_ppo_smoke_run_writes_a_verified_artifact(tiny_ppo: Path, tmp_path: Path) -> None:
    """Every file is there and hashed in metadata.json under the runtime's observation schema,
    and the loader refuses the directory once the exported weights are changed."""
    for name in (
        "ppo.zip",
        "vecnormalize.pkl",
        "policy.npz",
        "metadata.json",
        "learning_curve.png",
    ):
        assert (tiny_ppo / name).is_file(), name
    meta = json.loads((tiny_ppo / METADATA_FILE).read_text())
    assert meta["kind"] == PPO_KIND
    assert meta["schema_version"] == OBS_SCHEMA_VERSION
    assert meta["runtime_file"] == "policy.npz"
    assert meta["files"] == {
        name: sha256_file(tiny_ppo / name) for name in ("ppo.zip", "vecnormalize.pkl", "policy.npz")
    }
    assert meta["action"]["min_executors"] == NumpyPPOPolicy.load(tiny_ppo).min_executors
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_ppo, tampered)
    with np.load(tampered / "policy.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["action_b"] = arrays["action_b"] + 1.0
    np.savez(tampered / "policy.npz", **arrays)
    with pytest.raises(PolicyError, match="sha256"):
        NumpyPPOPolicy.load(tampered)


@pytest.mark.slow
def test_a_staged_fine_tune_continues_an_artifact(tiny_ppo: Path, tmp_path: Path) -> None:
    """``init_from`` starts from the artifact's weights (at learning rate 0 they stay), trains
    in the staged environment and writes an artifact the runtime loads, with both settings in
    its training record."""
    config = PPOConfig(
        timesteps=256, n_envs=2, n_steps=128, batch_size=64, n_epochs=1, learning_rate=0.0
    )
    out = tmp_path / "fine-tuned"
    meta = train_ppo(replace(config, staged=True, init_from=str(tiny_ppo)), out, progress_bar=False)
    assert meta["training"]["config"]["staged"] is True
    assert meta["training"]["config"]["init_from"] == str(tiny_ppo)
    with np.load(tiny_ppo / "policy.npz") as before, np.load(out / "policy.npz") as after:
        for name in ("pi0_w", "action_w", "obs_mean"):
            assert before[name].shape == after[name].shape
        # learning rate 0: the actor's weights are the artifact's, unchanged
        np.testing.assert_array_equal(before["pi0_w"], after["pi0_w"])
    NumpyPPOPolicy.load(out)
    with pytest.raises(FileNotFoundError, match="init_from"):
        train_ppo(replace(config, init_from=str(tmp_path)), tmp_path / "x", progress_bar=False)


@pytest.mark.slow
def test_the_numpy_export_acts_exactly_as_the_trained_sb3_policy(tiny_ppo: Path) -> None:
    """The runtime's numpy policy reproduces the trained network: the same logits (so the same
    greedy actions) as stable-baselines3 on observations normalised by the saved VecNormalize,
    with the normalisation statistics training gathered, not the identity."""
    model, _ = load_sb3(tiny_ppo)
    stats = VecNormalize.load(
        str(tiny_ppo / "vecnormalize.pkl"), DummyVecEnv([IoTSparkStreamingEnv])
    )
    policy = NumpyPPOPolicy.load(tiny_ppo)
    obs_rms = stats.obs_rms
    assert isinstance(obs_rms, RunningMeanStd)
    np.testing.assert_allclose(policy.mean, obs_rms.mean)
    assert not np.allclose(obs_rms.var, 1.0), "VecNormalize gathered no statistics"
    rng = np.random.default_rng(0)
    obs = rng.uniform(OBS_LOW, OBS_HIGH, size=(500, len(OBS_LOW))).astype(np.float32)
    obs[:, 6:9] = rng.dirichlet((1.0, 1.0, 1.0), size=500)
    normalised = stats.normalize_obs(obs)
    with torch.no_grad():
        dist = model.policy.get_distribution(model.policy.obs_to_tensor(normalised)[0])
        torch_logits = dist.distribution.logits.numpy()
    numpy_logits = policy.logits(obs)
    # SB3's Categorical normalises logits (log-softmax); compare the same way
    numpy_logits = numpy_logits - np.logaddexp.reduce(numpy_logits, axis=1, keepdims=True)
    np.testing.assert_allclose(numpy_logits, torch_logits, atol=1e-4)
    sb3_actions, _ = model.predict(normalised, deterministic=True)
    np.testing.assert_array_equal(np.argmax(policy.logits(obs), axis=1), sb3_actions)
    assert len(set(sb3_actions.tolist())) > 1, "a constant policy would prove nothing here"


@pytest.mark.slow
def test_sb3_save_load_round_trip_predicts_the_same(tiny_ppo: Path, tmp_path: Path) -> None:
    model, meta = load_sb3(tiny_ppo)
    assert meta["training"]["timesteps"] == 512
    model.save(tmp_path / "again.zip")
    reloaded = PPO.load(tmp_path / "again.zip", device="cpu")
    obs = np.random.default_rng(0).uniform(-1, 1, size=(64, 9)).astype(np.float32)
    a, _ = model.predict(obs, deterministic=True)
    b, _ = reloaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_meta_environment_passes_check_env(tiny_ppo: Path) -> None:
    env = MetaControllerEnv(NumpyPPOPolicy.load(tiny_ppo), "slo", lower_steps=5, meta_steps=4)
    check_env(env, skip_render_check=True)


@pytest.mark.slow
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
