"""What the operator tells users about each application: event reasons and messages.

Messages are logfmt (``key=value`` pairs, values with spaces quoted) in a fixed key order, so
people can read them in ``kubectl describe`` and tools can parse them (Flink's autoscaler users
parse its ScalingReport events; KEDA's ask "which metric caused this?"). :func:`parse_message`
is the inverse of :func:`format_message`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights


class Reason(StrEnum):
    SCALING_DECISION = "ScalingDecision"
    """The operator changed the executor count (auto mode)."""
    SCALING_RECOMMENDATION = "ScalingRecommendation"
    """recommend mode: what auto mode would have done; nothing was changed."""
    SCALING_FAILED = "ScalingFailed"
    """A decided change could not be written (API error); it is retried next cycle."""
    WEIGHTS_UPDATED = "WeightsUpdated"
    """The meta-controller set new reward weights (meta weight-policy)."""
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    """No decision: metrics missing, stale, or Prometheus unreachable (holding)."""
    INVALID_ANNOTATION = "InvalidAnnotation"
    """An annotation was rejected; the last good settings stay in force."""
    FALLBACK = "Fallback"
    """DS2 decides because the observation left the policy's training range (or a
    meta-controller is not available and the weights are kept)."""
    FIRST_BATCH_OVERDUE = "FirstBatchOverdue"
    """A run completed no micro-batch within ``first_batch_grace_s``: the operator stops
    waiting and decides on the executor metrics it has."""
    WEIGHTS_NOT_APPLIED = "WeightsNotApplied"
    """The meta-controller's weights were written but are not the ones in force (or could not
    be written): the message says which are, and why."""
    STEP_FAILED = "StepFailed"
    """One step of the cycle failed for this application (a bug or an input the operator does
    not survive): it holds, the other applications go on; repeated only when the error changes."""
    BUDGET_LIMITED = "BudgetLimited"
    """An ExecutorBudget gave the application fewer executors than it wanted (which budget,
    wanted, got, why)."""
    BUDGET_ALLOCATED = "BudgetAllocated"
    """On an ExecutorBudget: its caps changed (policy, limit, each application's cap)."""
    BUDGET_INVALID = "BudgetInvalid"
    """On an ExecutorBudget: a field was rejected (named, with what is accepted); the last good
    spec stays in force."""
    BUDGET_OVERLAP = "BudgetOverlap"
    """On an ExecutorBudget: it covers an application an older budget already covers; it is not
    enforced until the overlap is gone."""
    BUDGET_INFEASIBLE = "BudgetInfeasible"
    """On an ExecutorBudget: the covered applications' minimums alone exceed it."""
    BUDGET_EMPTY = "BudgetEmpty"
    """On an ExecutorBudget: its namespaces and selector match no enabled application."""
    EXCLUDED_PERIOD_STARTED = "ExcludedPeriodStarted"
    """An ``excluded-periods`` window began: decisions are only recommended until it ends."""
    EXCLUDED_PERIOD_ENDED = "ExcludedPeriodEnded"
    """The excluded period ended: the application's own mode applies again."""
    SCALING_PAUSED = "ScalingPaused"
    """A pause annotation (``paused-scale-in``, ``paused-scale-out``, ``paused-executors``)
    held back a change the decision wanted; once per pause until it is lifted."""
    INEFFECTIVE_SCALING = "IneffectiveScaling"
    """A scale-up added less than the threshold share of the capacity it was expected to add
    (Flink's event): scale-ups are held until the input rate changes materially."""
    INEFFECTIVE_SCALING_CLEARED = "IneffectiveScalingCleared"
    """The input rate moved materially since an IneffectiveScaling: scale-ups are allowed again."""
    RESTART_TIME_LEARNED = "RestartTimeLearned"
    """The learned restart (or in-place start-up) time changed materially; the restart cooldown
    and DS2's catch-up plan with it."""


WARNINGS = frozenset(
    {
        Reason.SCALING_FAILED,
        Reason.METRICS_UNAVAILABLE,
        Reason.INVALID_ANNOTATION,
        Reason.FALLBACK,
        Reason.FIRST_BATCH_OVERDUE,
        Reason.WEIGHTS_NOT_APPLIED,
        Reason.STEP_FAILED,
        Reason.BUDGET_INVALID,
        Reason.BUDGET_OVERLAP,
        Reason.BUDGET_INFEASIBLE,
        Reason.BUDGET_EMPTY,
        Reason.INEFFECTIVE_SCALING,
    }
)

Fields = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AppEvent:
    """One Kubernetes Event to write on a SparkApplication."""

    reason: Reason
    fields: Fields

    @property
    def type(self) -> str:
        return "Warning" if self.reason in WARNINGS else "Normal"

    @property
    def message(self) -> str:
        return format_message(self.fields)

    def field(self, name: str) -> str | None:
        return dict(self.fields).get(name)


_NEEDS_QUOTES = re.compile(r'[\s="]')
_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|\S*)')


def _value(text: str) -> str:
    if text == "" or _NEEDS_QUOTES.search(text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_message(fields: Iterable[tuple[str, str]]) -> str:
    """``key=value`` pairs separated by spaces, in the given order."""
    return " ".join(f"{k}={_value(v)}" for k, v in fields)


def parse_message(message: str) -> dict[str, str]:
    """The fields of a message written by :func:`format_message`."""
    out: dict[str, str] = {}
    for key, raw in _PAIR.findall(message):
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        out[key] = raw
    return out


def weights_text(w: Weights) -> str:
    return f"{w.alpha:.3f}/{w.beta:.3f}/{w.gamma:.3f}"


def metric_fields(m: SystemMetrics) -> Fields:
    """The metrics that drove a decision, rounded for reading."""
    return (
        ("input_eps", f"{m.input_rate_eps:.0f}"),
        ("processing_eps", f"{m.processing_rate_eps:.0f}"),
        ("backlog", f"{m.backlog_events:.0f}"),
        ("cpu", f"{m.cpu_utilisation:.2f}"),
        ("memory", f"{m.memory_utilisation:.2f}"),
        ("latency_ms", f"{m.latency_ms:.0f}"),
        ("running", str(m.running_executors)),
    )


def direction(before: int, after: int) -> str:
    return "up" if after > before else "down" if after < before else "hold"


def decision_event(
    reason: Reason,
    before: int,
    after: int,
    proposed: int,
    controller: str,
    mode: str,
    actuation: str,
    weights: Weights,
    metrics: SystemMetrics,
    notes: Sequence[str] = (),
) -> AppEvent:
    """ScalingDecision / ScalingRecommendation / ScalingFailed: before -> after and why."""
    head: Fields = (
        ("executors", f"{before}->{after}"),
        ("direction", direction(before, after)),
        ("proposed", str(proposed)),
        ("controller", controller),
        ("mode", mode),
        ("actuation", actuation),
        ("weights", weights_text(weights)),
    )
    tail: Fields = (("notes", "; ".join(notes)),) if notes else ()
    return AppEvent(reason, head + metric_fields(metrics) + tail)


def simple_event(reason: Reason, /, **fields: str) -> AppEvent:
    """An event whose fields are given by keyword, in order."""
    return AppEvent(reason, tuple(fields.items()))
