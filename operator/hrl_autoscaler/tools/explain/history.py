"""The application's history: decisions, weight updates, holds and fallbacks.

Two records, each with its own limits. The state ConfigMap keeps the newest ``history_size``
decisions and meta updates across operator restarts and Event expiry (the API server drops
Events after an hour by default), so decisions and weights come from it. Holds, fallbacks and
warnings are only in Events (their messages are logfmt: :func:`parse_message`). When the state
holds no decision yet (an operator that never saved), the decision Events stand in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from hrl_autoscaler.runtime.core.reporting import Reason, parse_message
from hrl_autoscaler.tools.explain.model import DecisionRow, EventRow, WeightsUpdate

COMPONENT = "hrl-autoscaler"
"""The operator's ``source.component`` / ``reportingComponent`` on the Events it posts."""
DECISION_REASONS = frozenset(
    {Reason.SCALING_DECISION, Reason.SCALING_RECOMMENDATION, Reason.SCALING_FAILED}
)
HOLD_REASONS = frozenset({Reason.METRICS_UNAVAILABLE, Reason.FIRST_BATCH_OVERDUE})
FALLBACK_REASONS = frozenset({Reason.FALLBACK})
#: The metrics :func:`~hrl_autoscaler.runtime.core.reporting.metric_fields` writes.
METRIC_KEYS = ("input_eps", "processing_eps", "backlog", "cpu", "memory", "latency_ms", "running")
_META_HEAD = ("at", "weights", "objective", "score", "applied")


def parse_time(text: str | None) -> float | None:
    """Unix time of an RFC 3339 timestamp (``...Z`` or with microseconds), None if absent."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def decision_row(
    entry: Mapping[str, Any], at: float | None, source: Literal["state", "event"]
) -> DecisionRow:
    """A decision from a state entry or an Event's fields (the same keys: the state stores the
    event's fields)."""

    def get(key: str) -> str:
        return str(entry.get(key, ""))

    notes = get("notes")
    if entry.get("error"):
        notes = "; ".join(n for n in (notes, f"error: {entry['error']}") if n)
    return DecisionRow(
        at=at,
        reason=get("reason"),
        executors=get("executors"),
        direction=get("direction"),
        proposed=get("proposed"),
        controller=get("controller"),
        mode=get("mode"),
        actuation=get("actuation"),
        weights=get("weights"),
        metrics={k: str(entry[k]) for k in METRIC_KEYS if k in entry},
        notes=notes,
        source=source,
    )


def state_decisions(entries: Sequence[Mapping[str, Any]]) -> list[DecisionRow]:
    """The state's decisions, newest first (stored newest last)."""
    return [decision_row(e, _number(e.get("at")), "state") for e in reversed(entries)]


def meta_updates(entries: Sequence[Mapping[str, Any]]) -> list[WeightsUpdate]:
    """The state's meta-controller updates, newest first."""
    return [
        WeightsUpdate(
            at=_number(e.get("at")),
            weights=str(e.get("weights", "")),
            objective=str(e.get("objective", "")),
            score=str(e.get("score", "")),
            applied=str(e.get("applied", "")),
            details={str(k): str(v) for k, v in e.items() if k not in _META_HEAD},
        )
        for e in reversed(entries)
    ]


def event_row(event: Mapping[str, Any]) -> EventRow:
    """One core/v1 Event as read from the API server (a dict)."""
    meta = event.get("metadata") or {}
    # lastTimestamp has whole seconds (later than eventTime on an aggregated event),
    # eventTime microseconds: the later of the two keeps events within one second in order.
    stamps = [parse_time(event.get(k)) for k in ("lastTimestamp", "eventTime")]
    at = max((s for s in stamps if s is not None), default=None) or (
        parse_time(event.get("firstTimestamp")) or parse_time(meta.get("creationTimestamp"))
    )
    message = str(event.get("message") or "")
    return EventRow(
        at=at,
        type=str(event.get("type") or ""),
        reason=str(event.get("reason") or ""),
        count=int(event.get("count") or 1),
        message=message,
        fields=parse_message(message),
    )


def is_operators(event: Mapping[str, Any], uid: str | None = None) -> bool:
    """Posted by the operator (about this very object, when ``uid`` is given): a namesake
    deleted and created again has a new uid, and its predecessor's events are not its own."""
    source = (event.get("source") or {}).get("component")
    if COMPONENT not in (source, event.get("reportingComponent")):
        return False
    involved = event.get("involvedObject") or {}
    return uid is None or not involved.get("uid") or involved.get("uid") == uid


def _newest_first(rows: Iterable[EventRow]) -> list[EventRow]:
    return sorted(rows, key=lambda r: r.at or 0.0, reverse=True)


def split_events(
    events: Iterable[EventRow],
) -> tuple[list[EventRow], list[EventRow], list[EventRow], list[EventRow]]:
    """(decisions, holds, fallbacks, others), each newest first."""
    decisions, holds, fallbacks, others = [], [], [], []
    for row in _newest_first(events):
        if row.reason in DECISION_REASONS:
            decisions.append(row)
        elif row.reason in HOLD_REASONS:
            holds.append(row)
        elif row.reason in FALLBACK_REASONS:
            fallbacks.append(row)
        else:
            others.append(row)
    return decisions, holds, fallbacks, others


def decisions(
    stored: Sequence[Mapping[str, Any]], decision_events: Sequence[EventRow]
) -> list[DecisionRow]:
    """The state's decisions, newest first, with the decision Events newer than its newest
    (the state is saved after the event is posted, so the very last may only be an Event) and
    every ScalingFailed Event (a failed change is not remembered in the state)."""
    rows = state_decisions(stored)
    newest = max((r.at for r in rows if r.at is not None), default=None)
    extra = [
        decision_row({"reason": e.reason, **e.fields}, e.at, "event")
        for e in decision_events
        # Event timestamps have whole seconds; the state's have milliseconds
        if newest is None
        or e.reason == Reason.SCALING_FAILED
        or (e.at is not None and e.at > newest + 1.0)
    ]
    return sorted([*rows, *extra], key=lambda r: r.at or 0.0, reverse=True)
