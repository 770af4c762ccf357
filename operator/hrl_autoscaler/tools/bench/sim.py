"""How fast the simulator steps on one core: the budget that makes training and evaluation fast."""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from hrl_autoscaler.research.sim.env import IoTSparkStreamingEnv
from hrl_autoscaler.research.sim.registration import IOT_ENV_ID


@dataclass(frozen=True)
class SimBenchResult:
    steps: int
    seconds: float
    steps_per_second: float
    steps_per_second_gym_make: float
    """Through ``gymnasium.make`` (order enforcing and passive checker wrappers), as SB3 sees it."""


def _time_steps(env: gym.Env[np.ndarray, np.int64], steps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 20, size=steps)
    env.reset(seed=seed)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(np.int64(a))
        if terminated or truncated:
            env.reset()
    return time.perf_counter() - start


def bench_sim(steps: int = 100_000, seed: int = 0) -> SimBenchResult:
    """Random actions over the scenario mix, episode resets included (as in training)."""
    raw = IoTSparkStreamingEnv(scenario="mix", episode_steps=240)
    _time_steps(raw, 2_000, seed)  # warm caches and imports
    seconds = _time_steps(raw, steps, seed)
    wrapped = gym.make(IOT_ENV_ID, scenario="mix", episode_steps=240)
    seconds_wrapped = _time_steps(wrapped, steps, seed)
    return SimBenchResult(
        steps=steps,
        seconds=seconds,
        steps_per_second=steps / seconds,
        steps_per_second_gym_make=steps / seconds_wrapped,
    )
