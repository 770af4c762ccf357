"""Train the contextual PPO executor policy and freeze it as an artifact.

One policy for every workload and every trade-off: weights are drawn per episode (the context
is in the observation) and scenarios are mixed, so the policy learns the family "high beta ->
scale out, high alpha -> scale in" instead of one fixed compromise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.env import IoTSparkStreamingEnv
from hrl_autoscaler.research.sim.staged_env import StagedExecutorEnv
from hrl_autoscaler.research.train.common import (
    LearningCurve,
    learn,
    library_versions,
    linear_layers,
    numpy_state,
    observation_schema,
    plot_curve,
    training_record,
)
from hrl_autoscaler.runtime.core.observation import OBS_FIELDS, OBS_SCHEMA_VERSION
from hrl_autoscaler.runtime.policies.artifacts import write_metadata
from hrl_autoscaler.runtime.policies.ppo import KIND

SB3_FILE, VECNORM_FILE, RUNTIME_FILE = "ppo.zip", "vecnormalize.pkl", "policy.npz"


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters: the seed's appendix where it gives them."""

    timesteps: int = 600_000
    """About 8 minutes on 2 cores; the return curve is flat well before (see learning_curve.png)."""
    n_envs: int = 4
    learning_rate: float = 3e-4
    n_steps: int = 2048
    batch_size: int = 128
    n_epochs: int = 10
    gamma: float = 0.99
    clip_range: float = 0.2
    ent_coef: float = 0.01
    episode_steps: int = 240
    """Two hours of 30 s decisions per episode, at a random time of day."""
    peak_jitter: float = 0.3
    """Scale each episode's peak by U(0.7, 1.3): the policy must read the rate, not memorise it."""
    net_arch: tuple[int, int] = (64, 64)
    seed: int = 0
    staged: bool = False
    """Train the proposal to the operator's decision stages (:mod:`.staged_env`) instead of
    the executor count itself. Off: the committed policy was trained without the stages; from
    scratch with them a policy learns to propose little and leave the sizing to the stages,
    and fine-tuned with them it did not beat the committed one on validation
    (docs/learned-controller-experiments.md, session 20)."""
    init_from: str | None = None
    """An artifact directory (``ppo.zip`` and ``vecnormalize.pkl``) to continue training from:
    fine-tuning, e.g. the committed policy with ``staged``. Its network is kept (``net_arch``
    is then the artifact's); the hyper-parameters above apply from the first update."""


def make_env(config: PPOConfig, params: SimParams) -> gym.Env[np.ndarray, np.int64]:
    if config.staged:
        return StagedExecutorEnv(
            params=params,
            scenario="mix",
            episode_steps=config.episode_steps,
            peak_jitter=config.peak_jitter,
        )
    return IoTSparkStreamingEnv(
        params=params,
        scenario="mix",
        episode_steps=config.episode_steps,
        peak_jitter=config.peak_jitter,
    )


def export_numpy(model: PPO, vecnorm: VecNormalize, path: Path) -> None:
    """The actor's weights and the observation statistics as a pickle-free ``.npz``."""
    state = numpy_state(model)
    obs_rms = cast(RunningMeanStd, vecnorm.obs_rms)  # a Box observation: one set of statistics
    np.savez(
        path,
        obs_mean=obs_rms.mean,
        obs_var=obs_rms.var,
        clip_obs=np.array(vecnorm.clip_obs),
        epsilon=np.array(vecnorm.epsilon),
        **linear_layers(
            state,
            {
                "pi0": "mlp_extractor.policy_net.0",
                "pi1": "mlp_extractor.policy_net.2",
                "action": "action_net",
            },
        ),
    )


def _start(config: PPOConfig, venv: VecEnv) -> tuple[PPO, VecNormalize]:
    """A new model on normalised observations, or ``config.init_from``'s model and statistics
    with this config's hyper-parameters."""
    hyper: dict[str, Any] = {
        "n_steps": config.n_steps,
        "batch_size": config.batch_size,
        "n_epochs": config.n_epochs,
        "gamma": config.gamma,
        "ent_coef": config.ent_coef,
    }
    if config.init_from is None:
        vecnorm = VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=config.gamma)
        model = PPO(
            "MlpPolicy",
            vecnorm,
            learning_rate=config.learning_rate,
            clip_range=config.clip_range,
            policy_kwargs={"net_arch": list(config.net_arch)},
            seed=config.seed,
            device="cpu",
            verbose=0,
            **hyper,
        )
        return model, vecnorm
    init = Path(config.init_from)
    vecnorm = VecNormalize.load(str(init / VECNORM_FILE), venv)
    vecnorm.training, vecnorm.gamma = True, config.gamma
    schedules = {"learning_rate": config.learning_rate, "clip_range": config.clip_range}
    model = PPO.load(
        init / SB3_FILE,
        env=vecnorm,
        device="cpu",
        custom_objects=schedules,
        seed=config.seed,
        **hyper,
    )
    return model, vecnorm


def train_ppo(
    config: PPOConfig, out: Path, params: SimParams | None = None, progress_bar: bool = True
) -> dict[str, Any]:
    """Train, save the SB3 files, the numpy export, the learning curve and ``metadata.json``."""
    if config.init_from is not None:  # before anything is written
        for name in (SB3_FILE, VECNORM_FILE):
            if not (Path(config.init_from) / name).is_file():
                raise FileNotFoundError(
                    f"init_from: {config.init_from} has no {name} (a `train ppo` artifact)"
                )
    params = params or SimParams()
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    venv = make_vec_env(lambda: make_env(config, params), n_envs=config.n_envs, seed=config.seed)
    model, vecnorm = _start(config, venv)
    curve = LearningCurve()
    seconds = learn(model, config.timesteps, curve, progress_bar)
    model.save(out / SB3_FILE)
    vecnorm.save(str(out / VECNORM_FILE))
    export_numpy(model, vecnorm, out / RUNTIME_FILE)
    plot_curve(
        curve,
        "PPO executor policy: mean episode return (20 episodes)",
        "return",
        out / "learning_curve.png",
    )
    meta = {
        "kind": KIND,
        "schema_version": OBS_SCHEMA_VERSION,
        "observation": {
            **observation_schema(OBS_FIELDS),
            "normalisation": "VecNormalize statistics in policy.npz (obs_mean, obs_var, clip_obs)",
        },
        "action": {
            "type": "Discrete",
            "n": params.max_executors - params.min_executors + 1,
            "min_executors": params.min_executors,
            "meaning": "executors = action + min_executors",
        },
        "runtime_file": RUNTIME_FILE,
        "training": training_record("PPO (stable-baselines3)", config, params, seconds, curve),
        "libraries": library_versions(),
        "evaluation": {},
    }
    return write_metadata(out, meta, [SB3_FILE, VECNORM_FILE, RUNTIME_FILE])


def load_sb3(directory: Path) -> tuple[PPO, dict[str, Any]]:
    """The stable-baselines3 model and the metadata (for tests comparing it with numpy)."""
    model = PPO.load(directory / SB3_FILE, device="cpu")
    meta = json.loads((directory / "metadata.json").read_text())
    return model, meta
