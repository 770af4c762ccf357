"""The explanation of one application, as plain dataclasses.

Plain data so that the table and ``-o json`` render the same facts, and tests can build one
without a cluster. :meth:`Explanation.to_dict` is the JSON shape (stable keys; tools parse it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Origin = Literal["default", "config", "environment", "annotation", "last-good", "meta-controller"]
"""Where a setting's value came from, lowest priority first:

- ``default``: built into the operator (:class:`~hrl_autoscaler.config.AnnotationDefaults`);
- ``config``: the operator's settings file (``--config``) or the chart's ConfigMap;
- ``environment``: an ``HRL_AUTOSCALER_DEFAULTS__*`` variable (only with ``--config``, as
  ``hrl-autoscaler run`` reads it);
- ``annotation``: the application's ``hrl-autoscaler.io/`` annotation;
- ``last-good``: the annotation was rejected, its last accepted value stays in force;
- ``meta-controller``: weights the TD3 meta-controller set (``weight-policy: meta``).
"""

SCHEMA = 1
"""Version of the JSON shape: bumped when a key changes meaning or goes away."""


@dataclass(frozen=True)
class SettingRow:
    """One per-application setting: its value in force and where that value came from."""

    name: str
    """The settings field (``min_executors``)."""
    annotation: str
    """The annotation that sets it (``hrl-autoscaler.io/min-executors``)."""
    value: Any
    """The value in force (None: unset, e.g. ``priority`` without an annotation)."""
    origin: Origin
    source: str = ""
    """Which file, ConfigMap, variable or annotation, when there is one."""
    note: str = ""
    """Anything a reader needs to read the value right (ignored by a preset, same as built-in)."""


@dataclass(frozen=True)
class RejectedAnnotation:
    """An annotation the operator does not accept, what it accepts, and what is used instead."""

    annotation: str
    value: str
    accepted: str
    kept: str
    """What stays in force: ``last-good``, ``default`` (the operator's default: see the
    setting's origin), or ``ignored`` for an annotation the operator does not read."""


@dataclass(frozen=True)
class WeightsInForce:
    """alpha/beta/gamma the PPO policy reads now (normalised), and why these."""

    alpha: float
    beta: float
    gamma: float
    origin: Origin | Literal["preset"]
    source: str = ""


@dataclass(frozen=True)
class DecisionRow:
    """A scaling decision or recommendation: before -> after, by whom, on which metrics."""

    at: float | None
    """Unix time (None when unknown)."""
    reason: str
    """``ScalingDecision``, ``ScalingRecommendation`` or ``ScalingFailed``."""
    executors: str
    """``before->after``."""
    direction: str
    proposed: str
    controller: str
    """``ppo``, ``ds2`` (the fallback), ``rule`` (the calm rule) or another controller's name,
    with the stages that changed its count (``+slo-guard``, ``+trim``, ...)."""
    mode: str
    actuation: str
    weights: str
    metrics: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    """Why the guardrails changed the proposal (cooldown, confirmations, SLO guard, budget)."""
    source: Literal["state", "event"] = "state"


@dataclass(frozen=True)
class WeightsUpdate:
    """One meta-controller step from the state ConfigMap."""

    at: float | None
    weights: str
    """``before->after`` as alpha/beta/gamma."""
    objective: str
    score: str
    applied: str
    details: dict[str, str] = field(default_factory=dict)
    """The window's statistics (latency, SLO violation, cost, load)."""


@dataclass(frozen=True)
class EventRow:
    """One Event the operator posted about the application (holds, fallbacks, warnings)."""

    at: float | None
    type: str
    reason: str
    count: int
    message: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetShare:
    """The application's row in an ExecutorBudget's status."""

    budget: str
    """``namespace/name`` of the ExecutorBudget."""
    policy: str
    cap: int | None
    executors: int | None
    wanted: int | None
    index: float | None
    limit_executors: int | None
    limit_cost_per_hour: float | None
    ready: str
    """The Ready condition: ``True``/``False`` and its reason, or ``unknown``."""


@dataclass(frozen=True)
class AppFacts:
    """The application itself, as the API server has it."""

    namespace: str
    name: str
    uid: str
    state: str
    """``status.applicationState.state`` ("" before the Spark Operator has seen it)."""
    spec_executors: int
    target_executors: int | None
    """The in-place target annotation, when the operator wrote one."""
    last_change_at: float | None = None
    last_target: int | None = None
    executor_rate_eps: float | None = None
    """Events/s one executor processes, as the operator measured it."""
    input_history: int = 0
    """Decisions of input the forecasts' memory holds in the state (checkpointed every
    ``input_checkpoint_s``; a restarted operator resumes them)."""
    input_saved_at: float | None = None
    input_peak_eps: float | None = None
    """The highest input the surge response remembers (its forecasts' cap)."""
    calm_since: float | None = None
    """Since when the calm rule counts the input calm (its last jump); the rate rule decides
    once that is ``guardrails.calm_rule.window_s`` ago (docs/calm-rule.md)."""


@dataclass(frozen=True)
class Explanation:
    """Everything ``hrl-autoscaler explain`` shows about one application."""

    app: AppFacts
    operator_config: str
    """Where the operator-wide defaults were read (file, ConfigMap, or built-in only)."""
    settings: tuple[SettingRow, ...]
    rejected: tuple[RejectedAnnotation, ...]
    weights: WeightsInForce
    decisions: tuple[DecisionRow, ...]
    """Newest first."""
    weights_history: tuple[WeightsUpdate, ...]
    """Newest first."""
    holds: tuple[EventRow, ...]
    """MetricsUnavailable and FirstBatchOverdue events, newest first."""
    fallbacks: tuple[EventRow, ...]
    """Fallback events (DS2 decided, or weights kept without a meta-controller), newest first."""
    other_events: tuple[EventRow, ...]
    """Every other event of the operator's about the application, newest first."""
    budget: BudgetShare | None = None
    notes: tuple[str, ...] = ()
    """What could not be read, and what that means for the rest (no state yet, no RBAC)."""

    def setting(self, name: str) -> SettingRow:
        """The row of one settings field (KeyError when there is none)."""
        for row in self.settings:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``-o json``."""
        data = asdict(self)
        data["schema"] = SCHEMA
        return data
