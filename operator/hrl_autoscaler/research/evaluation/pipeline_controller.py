"""``hrl`` and ``ppo-fixed``: the operator's own pipeline, cycle by cycle, on the simulator.

There is no second copy of the HRL decision for evaluation. Each episode builds an
:class:`~hrl_autoscaler.runtime.core.pipeline.Autoscaler` with the operator's default settings
and the committed policies, wired to the simulated-cluster adapters of
:mod:`hrl_autoscaler.research.sim.adapters`, and opts one SparkApplication in with annotations
as a user would: ``weight-policy: meta`` (``hrl``) or ``fixed`` at 1/3 each (``ppo-fixed``, the
seed's ablation baseline). Every decision therefore goes through what production runs: holds
while the application restarts, the capacity estimate, the DS2 fallback, the SLO guard, the
guardrails and cooldowns, the meta interval and its minimum window, and the weights written
to the annotations and read back.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.config.stages import (
    AnticipationDefaults,
    BreachFloorDefaults,
    CalmRuleDefaults,
    FallReleaseDefaults,
    HeadroomDefaults,
    MarginTrimDefaults,
    RaiseCapDefaults,
    RestartHoldDefaults,
    SurgeDefaults,
)
from hrl_autoscaler.research.sim.adapters import (
    CountingEvents,
    MemoryStateStore,
    NullTelemetry,
    SimulatedActuator,
    SimulatedApplication,
    SimulatedClock,
    SimulatedMetrics,
)
from hrl_autoscaler.runtime.core.annotations import PREFIX, AppSettings
from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.breachfloor import BreachFloorSettings
from hrl_autoscaler.runtime.core.calmrule import CalmRuleSettings
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.fallrelease import FallReleaseSettings
from hrl_autoscaler.runtime.core.headroom import HeadroomSettings
from hrl_autoscaler.runtime.core.margintrim import MarginTrimSettings
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.pipeline import Autoscaler
from hrl_autoscaler.runtime.core.ports import MetaActor
from hrl_autoscaler.runtime.core.raisecap import RaiseCapSettings
from hrl_autoscaler.runtime.core.restarthold import RestartHoldSettings
from hrl_autoscaler.runtime.core.surge import SurgeSettings
from hrl_autoscaler.runtime.core.weights import Weights
from hrl_autoscaler.runtime.policies.artifacts import PPO_DIR, default_policies_dir, meta_dir
from hrl_autoscaler.runtime.policies.meta import NumpyMetaActor
from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy

KEY = AppKey("evaluation", "iot-app")

UNTRIMMED = MarginTrimSettings(enabled=False)
"""The margin trim off: ``hrl-unstaged``/``ppo-unstaged`` (docs/stages-default.md)."""

UNCAPPED = RaiseCapSettings(enabled=False)
"""The raise cap off: ``hrl-unstaged``/``ppo-unstaged``, ``hrl-uncapped``/``ppo-uncapped``
(docs/raise-cap.md)."""

UNFLOORED = BreachFloorSettings(enabled=False)
"""The breach floor off: every era before session 16 (docs/breach-floor.md)."""

UNFLOORED_GUARD: dict[str, float | None] = {"slo_guard_calm_target_utilisation": None}
"""The SLO guard of every era before session 16: one rescue sizing, calm breach or not."""

UNFLOORED_CAP = RaiseCapSettings(target_utilisation=0.85)
"""The raise cap of ``hrl-unfloored``/``ppo-unfloored`` (session 15): sized at 0.85."""

UNCAPPED_GUARD = {
    "slo_guard_target_utilisation": 0.7,
    "slo_guard_catch_up_s": 300.0,
    **UNFLOORED_GUARD,
}
"""The SLO guard's rescue of ``hrl-uncapped``/``ppo-uncapped``: DS2's own sizing, the default
until session 15 (docs/raise-cap.md)."""

UNSURGED = SurgeSettings(enabled=False)
"""The surge response off: every era before session 17 (docs/surge.md)."""

UNRELEASED = FallReleaseSettings(enabled=False)
"""The fall release off: every era before session 22 (docs/fall-release.md)."""

UNHELD = RestartHoldSettings(enabled=False)
"""The restart hold off: every era before session 23 (docs/restart-hold.md)."""

UNPADDED = HeadroomSettings(enabled=False)
"""The headroom floor off: every era before session 24 (docs/headroom.md)."""

REACTIVE = AnticipationSettings(enabled=False)
"""``hrl-reactive``/``ppo-reactive``: the anticipation off, the policy reacting alone (what
``hrl`` and ``ppo-fixed`` were before it; docs/anticipation.md)."""

UNSTAGED_GUARD = {
    "slo_guard_latency_factor": 3.0,
    "slo_guard_cycles": 3,
    "slo_guard_min_gain": 0.0,
    **UNCAPPED_GUARD,
}
"""The SLO guard of ``hrl-unstaged``/``ppo-unstaged``: the operator's default until session 14
(3 decisions above 3 x SLO, never standing down, rescuing to DS2's own sizing;
docs/stages-default.md, docs/raise-cap.md)."""

UNRULED = CalmRuleSettings(enabled=False)
"""The calm rule off: every era before session 21 (docs/calm-rule.md)."""

LAGGED = AnticipationSettings(release_window=4)
"""The anticipation's release sized for the largest load of the last 4 decisions: every era
before session 22 (docs/anticipation.md)."""

ERAS: dict[str, dict[str, Any]] = {
    "reactive": {
        "anticipation": REACTIVE,
        "surge": UNSURGED,
        "calm_rule": UNRULED,
        "restart_hold": UNHELD,
        "headroom": UNPADDED,
    },
    "unstaged": {
        "anticipation": LAGGED,
        "fall_release": UNRELEASED,
        "restart_hold": UNHELD,
        "headroom": UNPADDED,
        "calm_rule": UNRULED,
        "trim": UNTRIMMED,
        "slo_guard": UNSTAGED_GUARD,
        "raise_cap": UNCAPPED,
        "breach_floor": UNFLOORED,
        "surge": UNSURGED,
    },
    "uncapped": {
        "anticipation": LAGGED,
        "fall_release": UNRELEASED,
        "restart_hold": UNHELD,
        "headroom": UNPADDED,
        "calm_rule": UNRULED,
        "slo_guard": UNCAPPED_GUARD,
        "raise_cap": UNCAPPED,
        "breach_floor": UNFLOORED,
        "surge": UNSURGED,
    },
    "unfloored": {
        "anticipation": LAGGED,
        "fall_release": UNRELEASED,
        "restart_hold": UNHELD,
        "headroom": UNPADDED,
        "calm_rule": UNRULED,
        "slo_guard": UNFLOORED_GUARD,
        "raise_cap": UNFLOORED_CAP,
        "breach_floor": UNFLOORED,
        "surge": UNSURGED,
    },
    "unsurged": {
        "surge": UNSURGED,
        "calm_rule": UNRULED,
        "anticipation": LAGGED,
        "fall_release": UNRELEASED,
        "restart_hold": UNHELD,
        "headroom": UNPADDED,
    },
    "unruled": {
        "calm_rule": UNRULED,
        "anticipation": LAGGED,
        "fall_release": UNRELEASED,
        "restart_hold": UNHELD,
        "headroom": UNPADDED,
    },
    "lagged": {
        "anticipation": LAGGED,
        "fall_release": UNRELEASED,
        "restart_hold": UNHELD,
        "headroom": UNPADDED,
    },
    "unreleased": {"fall_release": UNRELEASED, "restart_hold": UNHELD, "headroom": UNPADDED},
    "unheld": {"restart_hold": UNHELD, "headroom": UNPADDED},
    "unpadded": {"headroom": UNPADDED},
}
"""Earlier defaults of the decision step, kept measurable as ``hrl-<era>``/``ppo-<era>``:
``reactive`` both forecasts (the anticipation and the surge response) off; ``unstaged`` session
13's (no trim, cap or floor, the old guard); ``uncapped`` session 14's; ``unfloored`` session
15's (no breach floor or calm rescue, the cap at 0.85); ``unsurged`` session 16's (no surge
response); ``unruled`` session 20's (no calm rule); ``lagged`` session 21's (the
anticipation's release sized over 4 decisions, no fall release); ``unreleased`` session 22's
with the fall release off; ``unheld`` session 23's with the restart hold off; ``unpadded``
today's with the headroom floor off (session 23's defaults). Each maps to :func:`with_stages`
arguments."""


@dataclass(frozen=True)
class PipelineSpec:
    """How the simulated application is opted in."""

    name: str
    weight_policy: str
    objective: str
    latency_slo_ms: float
    cost_per_executor_hour: float = SimParams().price_per_executor_hour

    def annotations(self, ctx: ControlContext) -> dict[str, str]:
        values = {
            "weight-policy": self.weight_policy,
            "objective": self.objective,
            "mode": "auto",
            "actuation": ctx.actuation,
            "min-executors": str(ctx.min_executors),
            "max-executors": str(ctx.max_executors),
            "latency-slo-ms": f"{self.latency_slo_ms:g}",
            "cost-per-executor-hour": f"{self.cost_per_executor_hour:g}",
        }
        if self.weight_policy == "fixed":
            values.update(alpha="1", beta="1", gamma="1")
        return {PREFIX + k: v for k, v in values.items()}


@lru_cache(maxsize=4)
def _policy(root: Path) -> NumpyPPOPolicy:
    return NumpyPPOPolicy.load(root / PPO_DIR)


@lru_cache(maxsize=8)
def _actor(root: Path, objective: str) -> NumpyMetaActor:
    return NumpyMetaActor.load(root / meta_dir(objective))


class PipelineController:
    """The :class:`~hrl_autoscaler.runtime.core.controller.Controller` face of the pipeline."""

    def __init__(
        self,
        spec: PipelineSpec,
        policy: NumpyPPOPolicy,
        meta_actors: dict[str, MetaActor],
        settings: OperatorSettings | None = None,
        params: SimParams | None = None,
    ) -> None:
        self.name = spec.name
        self.spec = spec
        self.policy = policy
        self.meta_actors = meta_actors
        self.settings = settings or OperatorSettings.built_in()
        self.params = params or SimParams()
        """The policy's training parameters, as the operator has them (not the simulated
        cluster's, which the operator cannot know: it measures the executor rate)."""
        self.autoscaler: Autoscaler | None = None

    def reset(self, ctx: ControlContext) -> None:
        # The executor count is in the first metrics; the application is created at it.
        self._ctx = ctx
        self.autoscaler = None

    def _build(self, executors: int) -> Autoscaler:
        # The operator's log lines are for whoever runs it; here the events are counted instead.
        logging.getLogger("hrl_autoscaler.pipeline").setLevel(logging.ERROR)
        self.app = SimulatedApplication(KEY, self.spec.annotations(self._ctx), executors)
        self.source = SimulatedMetrics(KEY)
        self.actuator = SimulatedActuator(self.app)
        self.clock = SimulatedClock()
        self.events = CountingEvents()
        self.store = MemoryStateStore()
        autoscaler = Autoscaler(
            self.settings,
            self.policy,
            self.meta_actors,
            self.source,
            self.actuator,
            self.store,
            self.events,
            NullTelemetry(),
            clock=self.clock,
            params=self.params,
        )
        autoscaler.upsert(self.app.snapshot())
        return autoscaler

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        """One operator cycle on the interval that just ended; the executor count the
        application now asks for (the environment applies it as the data plane would)."""
        if self.autoscaler is None:
            self.autoscaler = self._build(metrics.executors)
        self.clock.time_s = metrics.time_s
        self.source.metrics = metrics
        self.app.set_running(not metrics.restarting)
        self.autoscaler.upsert(self.app.snapshot())  # the watch delivers the object
        self.autoscaler.run_cycle()
        return self.app.requested_executors(self.settings_in_force())

    def settings_in_force(self) -> AppSettings:
        runtime = self.autoscaler.runtime(KEY) if self.autoscaler else None
        assert runtime is not None
        return runtime.active_settings

    def weights_in_force(self) -> Weights | None:
        runtime = self.autoscaler.runtime(KEY) if self.autoscaler else None
        return runtime.weights() if runtime is not None and runtime.settings else None


def pipeline_controller(
    kind: str,
    objective: str,
    latency_slo_ms: float,
    root: Path | None = None,
    settings: OperatorSettings | None = None,
    weight_policy: str | None = None,
    name: str | None = None,
) -> PipelineController:
    """``hrl`` (meta-learned weights for ``objective``) or ``ppo-fixed`` (1/3 each, or the
    preset ``weight_policy``); ``settings`` replaces the operator's defaults (the benchmarks
    switch single features off by name)."""
    root = (root or default_policies_dir()).resolve()
    actors: dict[str, MetaActor] = {}
    if kind == "hrl":
        policy_name = "meta"
        actors[objective] = _actor(root, objective)
    elif kind == "ppo-fixed":
        policy_name = weight_policy or "fixed"
    else:
        raise ValueError(f"unknown pipeline controller {kind!r}; accepted values: hrl, ppo-fixed")
    spec = PipelineSpec(name or kind, policy_name, objective, latency_slo_ms)
    return PipelineController(spec, _policy(root), actors, settings)


def with_stages(
    trim: MarginTrimSettings | None = None,
    anticipation: AnticipationSettings | None = None,
    settings: OperatorSettings | None = None,
    slo_guard: dict[str, float | None] | None = None,
    raise_cap: RaiseCapSettings | None = None,
    breach_floor: BreachFloorSettings | None = None,
    surge: SurgeSettings | None = None,
    fall_release: FallReleaseSettings | None = None,
    calm_rule: CalmRuleSettings | None = None,
    restart_hold: RestartHoldSettings | None = None,
    headroom: HeadroomSettings | None = None,
) -> OperatorSettings:
    """``settings`` (the operator's defaults) with the margin trim, the anticipation, the raise
    cap, the breach floor, the surge response, the fall release, the calm rule, the restart
    hold, the headroom floor and the SLO guard's settings (``guardrails`` field names, e.g.
    ``slo_guard_latency_factor``) set to the values given (None: left as they are)."""
    s = settings or OperatorSettings.built_in()
    update: dict[str, object] = dict(slo_guard or {})
    if trim is not None:
        update["margin_trim"] = MarginTrimDefaults(**asdict(trim))
    if raise_cap is not None:
        update["raise_cap"] = RaiseCapDefaults(**asdict(raise_cap))
    if breach_floor is not None:
        update["breach_floor"] = BreachFloorDefaults(**asdict(breach_floor))
    if surge is not None:
        update["surge"] = SurgeDefaults(**asdict(surge))
    if fall_release is not None:
        update["fall_release"] = FallReleaseDefaults(**asdict(fall_release))
    if anticipation is not None:
        update["anticipation"] = AnticipationDefaults(**asdict(anticipation))
    if calm_rule is not None:
        update["calm_rule"] = CalmRuleDefaults(**asdict(calm_rule))
    if restart_hold is not None:
        update["restart_hold"] = RestartHoldDefaults(**asdict(restart_hold))
    if headroom is not None:
        update["headroom"] = HeadroomDefaults(**asdict(headroom))
    return s.model_copy(update={"guardrails": s.guardrails.model_copy(update=update)})
