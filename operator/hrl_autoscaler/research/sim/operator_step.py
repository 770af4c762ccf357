"""The operator's decision step for one simulated application, built as the operator builds it.

Both training environments that put the deployed pipeline in their loop (the meta-controller's,
:mod:`.meta_env`, and the staged executor policy's, :mod:`.staged_env`) build it here, from the
operator's settings and an application opted in with the episode's SLO and the simulator's price.
"""

from __future__ import annotations

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.research.sim.workloads import SCENARIOS
from hrl_autoscaler.runtime.core.annotations import AppSettings
from hrl_autoscaler.runtime.core.appruntime import (
    control_context,
    decision_options,
    effectiveness_settings,
    guardrail_settings,
)
from hrl_autoscaler.runtime.core.decision import DecisionStep, ExecutorPolicy
from hrl_autoscaler.runtime.core.sizing import RateEstimate

DEFAULT_SLO_MS = 2000.0
"""The SLO of an episode whose load is not a named scenario (a replayed or given load)."""


def episode_slo_ms(scenario: str, override: float | None = None) -> float:
    """The episode's latency SLO: ``override`` when given, else the scenario's own."""
    default = SCENARIOS[scenario].latency_slo_ms if scenario in SCENARIOS else DEFAULT_SLO_MS
    return float(override or default)


def operator_decision_step(
    policy: ExecutorPolicy,
    params: SimParams,
    settings: OperatorSettings,
    latency_slo_ms: float,
    objective: str,
) -> DecisionStep:
    """A fresh application's decision step (``objective``: ``slo`` or ``r_meta``)."""
    app = AppSettings(
        weight_policy="meta",
        mode="auto",
        min_executors=params.min_executors,
        max_executors=params.max_executors,
        actuation=params.actuation,
        latency_slo_ms=latency_slo_ms,
        cost_per_executor_hour=params.price_per_executor_hour,
        objective="r_meta" if objective == "r_meta" else "slo",
    )
    rate = RateEstimate(settings.default_executor_rate_eps, settings.capacity_smoothing, params)
    return DecisionStep(
        policy,
        guardrail_settings(app, settings),
        control_context(app, settings, params),
        rate,
        decision_options(settings),
        effectiveness_settings(app, settings),
    )
