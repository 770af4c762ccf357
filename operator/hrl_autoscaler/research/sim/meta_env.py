"""The upper agent's environment: choose reward weights, watch the frozen PPO policy follow them."""

from __future__ import annotations

from typing import Any, Protocol, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.env import MIX, IoTSparkStreamingEnv
from hrl_autoscaler.research.sim.workloads import SCENARIOS
from hrl_autoscaler.runtime.core.guardrails import Guardrails, GuardrailSettings
from hrl_autoscaler.runtime.core.meta import (
    META_HIGH,
    META_LOW,
    WindowAccumulator,
    action_to_weights,
    build_meta_observation,
)
from hrl_autoscaler.runtime.core.objectives import validate_objective
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE, Weights

DEFAULT_SLO_MS = 2000.0


class ExecutorPolicy(Protocol):
    def action(self, obs: np.ndarray) -> int: ...


class MetaControllerEnv(gym.Env[np.ndarray, np.ndarray]):
    """Set the lower policy's weights every ``lower_steps`` decisions (default 20 = 10 minutes).

    The lower level runs as in production: the frozen PPO policy's proposal passes through the
    same guardrails as the operator's (scale-down confirmations), so the meta-controller learns
    the weights of the pipeline it will steer.

    ## Action Space
    ``Box(-1, 1, (3,))``: mapped to weights by
    :func:`hrl_autoscaler.runtime.core.meta.action_to_weights` (``(a + 1) / 2``, floored at
    0.02, normalised to sum 1).

    ## Observation Space
    ``Box(10,)`` float32 from :func:`hrl_autoscaler.runtime.core.meta.build_meta_observation`:
    mean and standard deviation of the load, mean and p95 latency relative to the SLO, mean
    cost relative to the maximum, backlog trend, share of steps violating the SLO, and the
    weights in force.

    ## Rewards
    The objective over the window: ``r_meta`` (the seed's 1000/(latency+1) - 0.1*cost) or
    ``slo`` (1 - cost/max_cost - 10*max(0, 0.99 - attainment)).

    ## Episode End
    Truncates after ``meta_steps`` windows (default 72 = 12 hours).

    ## Arguments
    ``policy`` (anything with ``action(obs) -> int``; default: the committed ``policies/ppo``),
    ``objective``, ``params``, ``scenario`` (a name or ``"mix"``), ``lower_steps``,
    ``meta_steps``, ``peak_jitter``, ``guardrails``. Reset options: those of the lower
    environment plus ``latency_slo_ms`` (default: the scenario's SLO).
    """

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        policy: ExecutorPolicy | None = None,
        objective: str = "slo",
        params: SimParams | None = None,
        scenario: str = MIX,
        lower_steps: int = 20,
        meta_steps: int = 72,
        peak_jitter: float = 0.3,
        guardrails: GuardrailSettings | None = None,
    ) -> None:
        self.objective = validate_objective(objective)
        self.params = params or SimParams()
        if policy is None:  # the committed frozen policy, as ``gymnasium.make`` users expect
            from hrl_autoscaler.runtime.policies.artifacts import default_policies_dir
            from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy

            policy = NumpyPPOPolicy.load(default_policies_dir() / "ppo")
        self.policy = policy
        self.lower_steps = lower_steps
        self.guardrail_settings = guardrails or GuardrailSettings(
            min_executors=self.params.min_executors, max_executors=self.params.max_executors
        )
        self.guardrails = Guardrails(self.guardrail_settings)
        self.meta_steps = meta_steps
        self.lower = IoTSparkStreamingEnv(
            params=self.params,
            scenario=scenario,
            episode_steps=lower_steps * (meta_steps + 1),
            peak_jitter=peak_jitter,
        )
        self.action_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
        self.observation_space = spaces.Box(META_LOW, META_HIGH, dtype=np.float32)
        self.slo_ms = DEFAULT_SLO_MS
        self.weights: Weights = FIXED_BASELINE
        self.window = WindowAccumulator(self.params.price_per_executor_hour, self.slo_ms)
        self._obs = np.zeros(self.lower.observation_space.shape or (9,), dtype=np.float32)
        self.k = 0

    def _run_window(self) -> np.ndarray:
        self.window.clear()
        self.lower.weights = self.weights
        obs = self._obs.copy()
        obs[6:9] = self.weights.as_tuple()
        offset = self.params.min_executors
        for _ in range(self.lower_steps):
            metrics = self.lower.last_metrics
            assert metrics is not None
            target = self.guardrails.apply(
                self.policy.action(obs) + offset, metrics.executors, metrics.time_s
            ).target
            obs, _, _, _, info = self.lower.step(target - offset)
            self.window.add(info["metrics"])
        self._obs = obs
        stats = self.window.stats()
        self._last_stats = stats
        return build_meta_observation(
            stats,
            self.weights,
            self.params.rate_scale_eps,
            self.slo_ms,
            self.params.max_cost_per_hour,
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        slo_override = options.pop("latency_slo_ms", None)
        self._obs, _ = self.lower.reset(seed=int(self.np_random.integers(2**31)), options=options)
        name = self.lower.current_scenario
        default_slo = SCENARIOS[name].latency_slo_ms if name in SCENARIOS else DEFAULT_SLO_MS
        self.slo_ms = float(slo_override or default_slo)
        self.window = WindowAccumulator(self.params.price_per_executor_hour, self.slo_ms)
        self.weights = FIXED_BASELINE
        self.guardrails = Guardrails(self.guardrail_settings)
        self.k = 0
        return self._run_window(), {
            "scenario": self.lower.current_scenario,
            "latency_slo_ms": self.slo_ms,
        }

    def step(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        self.weights = action_to_weights(action)
        obs = self._run_window()
        self.k += 1
        reward = self._last_stats.objective(self.objective, self.params.max_cost_per_hour)
        info = {"weights": self.weights, "stats": self._last_stats}
        return obs, reward, False, self.k >= self.meta_steps, info
