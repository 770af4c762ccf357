"""Frozen policy artifacts: integrity, numpy = stable-baselines3, bifurcation, meta actor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.cluster import ClusterModel
from hrl_autoscaler.runtime.core.meta import META_SIZE, action_to_weights
from hrl_autoscaler.runtime.core.observation import (
    OBS_HIGH,
    OBS_LOW,
    ObservationScale,
    build_observation,
)
from hrl_autoscaler.runtime.core.weights import Weights
from hrl_autoscaler.runtime.policies.artifacts import PolicyError, default_policies_dir
from hrl_autoscaler.runtime.policies.meta import NumpyMetaActor
from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy

POLICIES = default_policies_dir()
PPO_DIR = POLICIES / "ppo"
PARAMS = SimParams()


@pytest.fixture
def ppo_copy(tmp_path: Path) -> Path:
    target = tmp_path / "ppo"
    shutil.copytree(PPO_DIR, target)
    return target


def test_committed_artifacts_load_and_verify() -> None:
    NumpyPPOPolicy.load(PPO_DIR)
    for objective in ("r_meta", "slo"):
        actor = NumpyMetaActor.load(POLICIES / f"meta-{objective}")
        assert actor.objective == objective


def test_a_changed_file_is_refused_with_its_name(ppo_copy: Path) -> None:
    with (ppo_copy / "policy.npz").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(PolicyError, match=r"policy\.npz: sha256 .* does not match"):
        NumpyPPOPolicy.load(ppo_copy)


def test_a_missing_file_is_refused(ppo_copy: Path) -> None:
    (ppo_copy / "vecnormalize.pkl").unlink()
    with pytest.raises(
        PolicyError, match=r"vecnormalize\.pkl: listed in metadata\.json but missing"
    ):
        NumpyPPOPolicy.load(ppo_copy)


def test_another_schema_version_is_refused(ppo_copy: Path) -> None:
    meta_path = ppo_copy / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["schema_version"] = 999
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(PolicyError, match="schema version 999 does not match"):
        NumpyPPOPolicy.load(ppo_copy)


def test_the_wrong_kind_and_corrupt_metadata_are_refused(ppo_copy: Path) -> None:
    with pytest.raises(PolicyError, match="expected 'td3-meta-controller'"):
        NumpyMetaActor.load(ppo_copy)
    (ppo_copy / "metadata.json").write_text("{not json")
    with pytest.raises(PolicyError, match="unreadable metadata"):
        NumpyPPOPolicy.load(ppo_copy)
    with pytest.raises(PolicyError, match=r"missing; is .* a policy artifact directory"):
        NumpyPPOPolicy.load(ppo_copy.parent / "absent")


def test_numpy_runtime_picks_the_same_action_as_stable_baselines3_on_1000_observations() -> None:
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from hrl_autoscaler.research.sim.env import IoTSparkStreamingEnv
    from hrl_autoscaler.research.train.ppo import load_sb3

    model, _ = load_sb3(PPO_DIR)
    venv = DummyVecEnv([IoTSparkStreamingEnv])
    stats = VecNormalize.load(str(PPO_DIR / "vecnormalize.pkl"), venv)
    policy = NumpyPPOPolicy.load(PPO_DIR)
    rng = np.random.default_rng(0)
    obs = rng.uniform(OBS_LOW, OBS_HIGH, size=(1000, len(OBS_LOW))).astype(np.float32)
    obs[:, 6:9] = rng.dirichlet((1.0, 1.0, 1.0), size=1000)
    sb3_actions, _ = model.predict(stats.normalize_obs(obs), deterministic=True)
    numpy_actions = np.array([policy.action(o) for o in obs])
    np.testing.assert_array_equal(numpy_actions, sb3_actions)


def _settled_executors(policy: NumpyPPOPolicy, weights: Weights, load: float) -> int:
    scale = ObservationScale(PARAMS.rate_scale_eps, PARAMS.max_executors, PARAMS.max_latency_ms)
    cluster = ClusterModel(PARAMS)
    cluster.reset(5)
    outcome = cluster.advance(load, 30.0)
    for _ in range(20):
        n = policy.executors(build_observation(cluster.metrics(outcome), weights, scale))
        cluster.set_target(n)
        outcome = cluster.advance(load, 30.0)
    return n


@pytest.mark.parametrize("load", [3000.0, 6000.0, 9000.0])
def test_policy_bifurcates_on_its_context(load: float) -> None:
    """Section 6.1 of the seed: high beta scales out, high alpha scales in, at the same load."""
    policy = NumpyPPOPolicy.load(PPO_DIR)
    latency_first = _settled_executors(policy, Weights.of(0.05, 0.9, 0.05), load)
    cost_first = _settled_executors(policy, Weights.of(0.9, 0.05, 0.05), load)
    assert latency_first >= cost_first + 5, (latency_first, cost_first)


def test_meta_action_mapping_normalises_and_floors() -> None:
    w = action_to_weights(np.array([1.0, -1.0, -1.0]))
    assert w.alpha == pytest.approx(1 / 1.04)
    assert w.beta == pytest.approx(0.02 / 1.04)
    equal = action_to_weights(np.array([0.3, 0.3, 0.3]))
    assert equal.as_tuple() == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_meta_actor_outputs_valid_weights() -> None:
    actor = NumpyMetaActor.load(POLICIES / "meta-slo")
    rng = np.random.default_rng(1)
    for _ in range(50):
        w = actor.weights(rng.uniform(0, 1, size=META_SIZE))
        assert sum(w.as_tuple()) == pytest.approx(1.0)
        assert min(w.as_tuple()) > 0
