"""The RL agents behind the common controller interface: ``ppo-fixed`` and ``hrl``.

``ppo-fixed`` is the seed's ablation baseline: the PPO policy under fixed weights (0.33 each).
``hrl`` adds the TD3 meta-controller, which retunes the weights every ``lower_steps`` decisions
from the window's statistics. Both pass the policy's proposal through the same SLO guard and
guardrails the operator applies, so evaluation scores what production would do.
"""

from __future__ import annotations

from pathlib import Path

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.baselines.ds2 import DS2Controller
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.guardrails import Guardrails, GuardrailSettings
from hrl_autoscaler.runtime.core.meta import WindowAccumulator, build_meta_observation
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.observation import ObservationScale, build_observation
from hrl_autoscaler.runtime.core.sloguard import SloGuard, SloGuardSettings
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE, Weights
from hrl_autoscaler.runtime.policies.artifacts import default_policies_dir
from hrl_autoscaler.runtime.policies.meta import NumpyMetaActor
from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy

PPO_DIR = "ppo"


def meta_dir(objective: str) -> str:
    return f"meta-{objective}"


class PPOController:
    """The frozen PPO executor policy under given weights, behind the SLO guard (when an SLO is
    given) and the guardrails."""

    name = "ppo-fixed"

    def __init__(
        self,
        policy: NumpyPPOPolicy,
        weights: Weights = FIXED_BASELINE,
        params: SimParams | None = None,
        guardrails: GuardrailSettings | None = None,
        latency_slo_ms: float | None = None,
        slo_guard: SloGuardSettings | None = None,
    ) -> None:
        self.policy = policy
        self.weights = weights
        self.initial_weights = weights
        self.params = params or SimParams()
        self.scale = ObservationScale(
            self.params.rate_scale_eps,
            self.params.max_executors,
            self.params.max_latency_ms,
            self.params.backlog_horizon_s,
        )
        self.guardrail_settings = guardrails
        self.guardrails = Guardrails(guardrails or GuardrailSettings())
        self.latency_slo_ms = latency_slo_ms
        self.slo_guard_settings = slo_guard or SloGuardSettings()
        self.slo_guard = SloGuard(self.slo_guard_settings)
        self.sizing = DS2Controller()

    def reset(self, ctx: ControlContext) -> None:
        self.weights = self.initial_weights
        self.slo_guard = SloGuard(self.slo_guard_settings)
        self.sizing.reset(ctx)
        settings = self.guardrail_settings or GuardrailSettings(
            min_executors=ctx.min_executors,
            max_executors=ctx.max_executors,
            cooldown_s=300.0 if ctx.actuation == "restart" else 0.0,
        )
        self.guardrails = Guardrails(settings)

    def propose(self, metrics: SystemMetrics) -> int:
        return self.policy.executors(build_observation(metrics, self.weights, self.scale))

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        if metrics.restarting:
            return metrics.executors
        proposed = self.propose(metrics)
        if self.latency_slo_ms is not None and self.slo_guard.observe(
            metrics.latency_ms, self.latency_slo_ms
        ):
            proposed = self.slo_guard.apply(
                proposed, self.sizing.required_executors(metrics)
            ).executors
        return self.guardrails.apply(proposed, metrics.executors, metrics.time_s).target


class HRLController(PPOController):
    """PPO plus the TD3 meta-controller that sets its weights every ``lower_steps`` decisions."""

    name = "hrl"

    def __init__(
        self,
        policy: NumpyPPOPolicy,
        actor: NumpyMetaActor,
        latency_slo_ms: float,
        params: SimParams | None = None,
        lower_steps: int = 20,
        guardrails: GuardrailSettings | None = None,
        slo_guard: SloGuardSettings | None = None,
    ) -> None:
        super().__init__(policy, FIXED_BASELINE, params, guardrails, latency_slo_ms, slo_guard)
        self.actor = actor
        self.latency_slo_ms: float = latency_slo_ms
        self.lower_steps = lower_steps
        self.window = WindowAccumulator(self.params.price_per_executor_hour, latency_slo_ms)

    def reset(self, ctx: ControlContext) -> None:
        super().reset(ctx)
        self.window.clear()

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        self.window.add(metrics)
        if len(self.window) >= self.lower_steps:
            obs = build_meta_observation(
                self.window.stats(),
                self.weights,
                self.params.rate_scale_eps,
                self.latency_slo_ms,
                self.params.max_cost_per_hour,
            )
            self.weights = self.actor.weights(obs)
            self.window.clear()
        return super().decide(metrics, weights)


def load_ppo_controller(
    root: Path | None = None,
    latency_slo_ms: float | None = None,
    slo_guard: SloGuardSettings | None = None,
) -> PPOController:
    root = root or default_policies_dir()
    return PPOController(
        NumpyPPOPolicy.load(root / PPO_DIR), latency_slo_ms=latency_slo_ms, slo_guard=slo_guard
    )


def load_hrl_controller(
    objective: str,
    latency_slo_ms: float,
    root: Path | None = None,
    slo_guard: SloGuardSettings | None = None,
) -> HRLController:
    root = root or default_policies_dir()
    return HRLController(
        NumpyPPOPolicy.load(root / PPO_DIR),
        NumpyMetaActor.load(root / meta_dir(objective)),
        latency_slo_ms,
        slo_guard=slo_guard,
    )
