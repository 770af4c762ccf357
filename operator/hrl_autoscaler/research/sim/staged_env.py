"""The executor policy's environment with the operator's decision stages in the loop."""

from __future__ import annotations

import copy
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.research.sim.env import MIX, IoTSparkStreamingEnv
from hrl_autoscaler.research.sim.operator_step import (
    DEFAULT_SLO_MS,
    episode_slo_ms,
    operator_decision_step,
)
from hrl_autoscaler.runtime.core.decision import DecisionStep
from hrl_autoscaler.runtime.core.objectives import validate_objective
from hrl_autoscaler.runtime.core.observation import build_observation


class _Proposal:
    """The agent's action, handed to the decision step as its policy's answer."""

    def __init__(self) -> None:
        self.value = 1
        self.seen: np.ndarray | None = None
        """The observation the decision step showed the policy (None: it did not ask)."""

    def executors(self, obs: np.ndarray) -> int:
        self.seen = obs
        return self.value


class StagedExecutorEnv(gym.Env[np.ndarray, np.int64]):
    """:class:`~hrl_autoscaler.research.sim.env.IoTSparkStreamingEnv` whose action is the
    policy's proposal to the operator's decision step, not the executor count itself.

    ## Description
    The plain environment applies the action directly, so a policy trained there never sees
    what the deployed pipeline does with its answer: the DS2 fallback, the SLO guard, the margin
    trim, the raise cap, the anticipation, the surge response, the breach floor and the
    guardrails (cooldown, scale-down confirmations). Here every step runs
    :meth:`~hrl_autoscaler.runtime.core.decision.DecisionStep.decide` on the last interval's
    metrics with the action as the policy's proposal, under the operator's default settings
    for an application with the episode's SLO, and applies the decision's target. The policy
    learns the proposals that do best after the stages, which is what evaluation and the
    operator measure.

    ## Action Space
    ``Discrete(20)``: action ``a`` proposes ``a + 1`` executors (1..20).

    ## Observation Space
    The plain environment's ``Box(9,)``, scaled by the capacity the operator measures (its
    :class:`~hrl_autoscaler.runtime.core.sizing.RateEstimate`), as the deployed policy sees it.

    ``info["policy_observation"]`` is the observation the decision step showed the policy
    (None when the DS2 fallback decided or the application was restarting): the one this
    environment returned before the step.

    ## Rewards
    The plain environment's reward for the interval after the decision's target is applied.

    ## Starting State, Episode End
    As the plain environment. Reset options are the plain environment's plus
    ``latency_slo_ms`` (default: the scenario's SLO).

    ## Arguments
    ``params``, ``scenario``, ``episode_steps``, ``peak_jitter`` (as the plain environment),
    ``settings`` (the operator settings whose decision step runs; default: the defaults) and
    ``objective`` (the application's: ``slo`` or ``r_meta``; the margin trim and the raise cap
    act under ``slo`` only).
    """

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        params: SimParams | None = None,
        scenario: str = MIX,
        episode_steps: int = 240,
        peak_jitter: float = 0.0,
        settings: OperatorSettings | None = None,
        objective: str = "slo",
    ) -> None:
        self.lower = IoTSparkStreamingEnv(
            params=params, scenario=scenario, episode_steps=episode_steps, peak_jitter=peak_jitter
        )
        self.params = self.lower.params
        self.settings = settings or OperatorSettings.built_in()
        self.objective = validate_objective(objective)
        self.action_space = self.lower.action_space
        self.observation_space = self.lower.observation_space
        self._proposal = _Proposal()
        self.slo_ms = DEFAULT_SLO_MS
        self.step_: DecisionStep = self._fresh_step()

    def _fresh_step(self) -> DecisionStep:
        return operator_decision_step(
            self._proposal, self.params, self.settings, self.slo_ms, self.objective
        )

    def _observe(self) -> np.ndarray:
        """What the decision step will show the policy: the next decision observes the last
        interval's capacity before it builds the observation, so a copy does the same here."""
        metrics = self.lower.last_metrics
        assert metrics is not None
        rate = copy.copy(self.step_.rate)
        rate.observe(metrics)
        return build_observation(metrics, self.lower.weights, rate.scale())

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        slo_override = options.pop("latency_slo_ms", None)
        _, info = self.lower.reset(seed=seed, options=options)
        self.slo_ms = episode_slo_ms(self.lower.current_scenario, slo_override)
        self.step_ = self._fresh_step()
        return self._observe(), {**info, "latency_slo_ms": self.slo_ms}

    def step(
        self, action: np.int64 | int
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        metrics = self.lower.last_metrics
        assert metrics is not None
        self._proposal.value = int(action) + self.params.min_executors
        self._proposal.seen = None
        decision = self.step_.decide(
            metrics, self.lower.weights, self.slo_ms, objective=self.objective
        )
        _, reward, terminated, truncated, info = self.lower.step(
            decision.target - self.params.min_executors
        )
        seen = self._proposal.seen
        info = {**info, "decision": decision, "policy_observation": seen}
        return self._observe(), reward, terminated, truncated, info
