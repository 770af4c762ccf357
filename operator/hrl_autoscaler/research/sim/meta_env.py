"""The upper agent's environment: choose reward weights, watch the frozen PPO policy follow them.

The lower level is the operator's own decision step and the window the operator's own meta
step (:mod:`hrl_autoscaler.runtime.core.decision`, :mod:`hrl_autoscaler.runtime.core.meta`),
built from the operator's default settings, so the actor is trained on the pipeline it will
steer: the measured rate scale, the DS2 fallback, the SLO guard, the guardrails, and the
maximum cost of the policy's largest allocation.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.research.sim.env import MIX, IoTSparkStreamingEnv
from hrl_autoscaler.research.sim.operator_step import (
    DEFAULT_SLO_MS,
    episode_slo_ms,
    operator_decision_step,
)
from hrl_autoscaler.runtime.core.appruntime import meta_cadence
from hrl_autoscaler.runtime.core.decision import ExecutorPolicy
from hrl_autoscaler.runtime.core.meta import (
    META_HIGH,
    META_LOW,
    MetaInput,
    MetaStep,
    action_to_weights,
)
from hrl_autoscaler.runtime.core.objectives import validate_objective
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE, Weights


class MetaControllerEnv(gym.Env[np.ndarray, np.ndarray]):
    """Set the lower policy's weights every ``lower_steps`` decisions (default: the operator's
    ``meta_interval_s`` / decision interval = 20, 10 minutes).

    The lower level runs as in production: the operator's decision step (policy, DS2 fallback,
    SLO guard, guardrails) under the operator's default settings for an application with the
    episode's SLO and the simulator's price, so the meta-controller learns the weights of the
    pipeline it will steer.

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
    ``policy`` (anything with ``executors(obs) -> int``; default: the committed
    ``policies/ppo``), ``objective``, ``params``, ``scenario`` (a name or ``"mix"``),
    ``lower_steps`` (None: the operator's cadence), ``meta_steps``, ``peak_jitter``,
    ``settings`` (the operator settings whose decision step runs; default: the defaults).
    Reset options: those of the lower environment plus ``latency_slo_ms`` (default: the
    scenario's SLO) and ``lower_seed`` (the lower environment's seed; default: drawn).
    """

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        policy: ExecutorPolicy | None = None,
        objective: str = "slo",
        params: SimParams | None = None,
        scenario: str = MIX,
        lower_steps: int | None = None,
        meta_steps: int = 72,
        peak_jitter: float = 0.3,
        settings: OperatorSettings | None = None,
    ) -> None:
        self.objective = validate_objective(objective)
        self.params = params or SimParams()
        if policy is None:  # the committed frozen policy, as ``gymnasium.make`` users expect
            from hrl_autoscaler.runtime.policies.artifacts import PPO_DIR, default_policies_dir
            from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy

            policy = NumpyPPOPolicy.load(default_policies_dir() / PPO_DIR)
        self.policy = policy
        self.settings = settings or OperatorSettings.built_in()
        cadence = meta_cadence(self.settings).steps(self.params.decision_interval_s)
        self.lower_steps = lower_steps or cadence
        self.meta_steps = meta_steps
        self.lower = IoTSparkStreamingEnv(
            params=self.params,
            scenario=scenario,
            episode_steps=self.lower_steps * (meta_steps + 1),
            peak_jitter=peak_jitter,
        )
        self.action_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
        self.observation_space = spaces.Box(META_LOW, META_HIGH, dtype=np.float32)
        self.slo_ms = DEFAULT_SLO_MS
        self.weights: Weights = FIXED_BASELINE
        self._start(self.slo_ms)
        self.k = 0

    def _start(self, slo_ms: float) -> None:
        """A fresh application: its decision step and meta window, as the operator builds them
        for an application opted in with this SLO and the simulator's price."""
        p = self.params
        self.step_ = operator_decision_step(self.policy, p, self.settings, slo_ms, self.objective)
        self.meta = MetaStep(p.price_per_executor_hour, slo_ms, p.max_executors)

    def _run_window(self) -> MetaInput:
        self.lower.weights = self.weights
        self.targets: list[int] = []
        for _ in range(self.lower_steps):
            metrics = self.lower.last_metrics
            assert metrics is not None
            decision = self.step_.decide(
                metrics, self.weights, self.slo_ms, objective=self.objective
            )
            target = decision.target
            self.targets.append(target)
            _, _, _, _, info = self.lower.step(target - self.params.min_executors)
            self.meta.add(info["metrics"])
        closed = self.meta.close(
            self.weights, self.step_.rate.scale().rate_scale_eps, self.objective
        )
        self._last = closed
        return closed

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        slo_override = options.pop("latency_slo_ms", None)
        lower_seed = options.pop("lower_seed", None)
        if lower_seed is None:
            lower_seed = int(self.np_random.integers(2**31))
        self.lower.reset(seed=int(lower_seed), options=options)
        self.slo_ms = episode_slo_ms(self.lower.current_scenario, slo_override)
        self.weights = FIXED_BASELINE
        self._start(self.slo_ms)
        self.k = 0
        return self._run_window().observation, {
            "scenario": self.lower.current_scenario,
            "latency_slo_ms": self.slo_ms,
            "executors": list(self.targets),
        }

    def step(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        self.weights = action_to_weights(action)
        closed = self._run_window()
        self.k += 1
        info = {"weights": self.weights, "stats": closed.stats, "executors": list(self.targets)}
        return closed.observation, closed.score, False, self.k >= self.meta_steps, info
