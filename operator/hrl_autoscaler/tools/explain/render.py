"""An :class:`~.model.Explanation` as rich tables (people) or JSON (machines).

The tables show every fact of the JSON but the raw event fields; times are UTC with the age,
because the question is usually "what happened a minute ago?".
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hrl_autoscaler.tools.explain.model import DecisionRow, EventRow, Explanation

ORIGIN_STYLES = {
    "annotation": "bold cyan",
    "meta-controller": "bold magenta",
    "config": "green",
    "environment": "green",
    "last-good": "bold yellow",
    "default": "dim",
    "preset": "blue",
}
DECISIONS_SHOWN = 10
EVENTS_SHOWN = 10


def to_json(explanation: Explanation) -> str:
    return json.dumps(explanation.to_dict(), indent=2, sort_keys=False)


def when(at: float | None, now: float | None = None) -> str:
    """``2026-12-05 11:30:05Z (3m ago)``, or ``-``."""
    if at is None:
        return "-"
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    age = max(0.0, (time.time() if now is None else now) - at)
    if age < 120:
        ago = f"{age:.0f}s"
    elif age < 7200:
        ago = f"{age / 60:.0f}m"
    elif age < 172800:
        ago = f"{age / 3600:.0f}h"
    else:
        ago = f"{age / 86400:.0f}d"
    return f"{stamp} ({ago} ago)"


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _origin(origin: str) -> Text:
    return Text(origin, style=ORIGIN_STYLES.get(origin, ""))


def _header(e: Explanation, now: float | None) -> Table:
    a = e.app
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("SparkApplication", f"{a.namespace}/{a.name}")
    table.add_row("state", a.state or "(not yet seen by the Spark Operator)")
    executors = str(a.spec_executors)
    if a.target_executors is not None:
        executors += f" (in-place target {a.target_executors})"
    table.add_row("executors (spec)", executors)
    if a.last_target is not None:
        table.add_row("last change", f"to {a.last_target} at {when(a.last_change_at, now)}")
    if a.executor_rate_eps is not None:
        table.add_row("executor rate", f"{a.executor_rate_eps:g} events/s per executor (estimate)")
    if a.input_saved_at is not None:
        memory = f"{a.input_history} decisions of input, saved {when(a.input_saved_at, now)}"
        if a.input_peak_eps is not None:
            memory += f"; peak {a.input_peak_eps:,.0f} events/s"
        if a.calm_since is not None:
            memory += f"; input calm (no jump) since {when(a.calm_since, now)}"
        table.add_row("input memory", memory)
    table.add_row("operator settings", escape(e.operator_config))
    w = e.weights
    weights = f"alpha {w.alpha:.3f}  beta {w.beta:.3f}  gamma {w.gamma:.3f}"
    table.add_row(
        "weights in force", Text.assemble(weights, "  ", _origin(w.origin), f" {w.source}")
    )
    return table


def _settings(e: Explanation) -> Table:
    table = Table(title="Settings", title_justify="left")
    for column in ("setting", "value", "origin", "source", "note"):
        table.add_column(column, overflow="fold")
    for row in e.settings:
        table.add_row(
            row.annotation.split("/", 1)[-1],
            _value(row.value),
            _origin(row.origin),
            escape(row.source),
            escape(row.note),
        )
    return table


def _rejected(e: Explanation) -> Table:
    table = Table(title="Rejected annotations", title_justify="left", title_style="bold red")
    for column in ("annotation", "value", "accepted values", "in force instead"):
        table.add_column(column, overflow="fold")
    for row in e.rejected:
        table.add_row(
            escape(row.annotation), escape(repr(row.value)), escape(row.accepted), row.kept
        )
    return table


def _metrics(row: DecisionRow) -> str:
    m = row.metrics
    parts = [
        f"in {m['input_eps']}/s" if "input_eps" in m else "",
        f"proc {m['processing_eps']}/s" if "processing_eps" in m else "",
        f"lat {m['latency_ms']}ms" if "latency_ms" in m else "",
        f"backlog {m['backlog']}" if "backlog" in m else "",
        f"cpu {m['cpu']}" if "cpu" in m else "",
    ]
    return " ".join(p for p in parts if p)


def _who(row: DecisionRow) -> str:
    """Who decided: the calm rule's count does not depend on the weights."""
    if row.controller.split("+")[0] == "rule":
        return "the calm rule decided: the input has not jumped for its window (docs/calm-rule.md)"
    return f"{row.controller} decided; weights {row.weights}"


def _decisions(rows: Sequence[DecisionRow], now: float | None) -> Table:
    table = Table(title="Last decisions (newest first)", title_justify="left")
    for column in ("time", "reason", "executors", "by", "metrics", "why"):
        table.add_column(column, overflow="fold")
    for row in rows[:DECISIONS_SHOWN]:
        by = row.controller + (f" (proposed {row.proposed})" if row.proposed else "")
        why = row.notes or _who(row)
        table.add_row(when(row.at, now), row.reason, row.executors, by, _metrics(row), escape(why))
    return table


def _events(title: str, rows: Sequence[EventRow], now: float | None) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("time", "type", "reason", "count", "message"):
        table.add_column(column, overflow="fold")
    for row in rows[:EVENTS_SHOWN]:
        style = "yellow" if row.type == "Warning" else ""
        table.add_row(
            when(row.at, now), Text(row.type, style=style), row.reason, str(row.count),
            escape(row.message),
        )  # fmt: skip
    return table


def _weights_history(e: Explanation, now: float | None) -> Table:
    table = Table(title="Weights history (meta-controller, newest first)", title_justify="left")
    for column in ("time", "alpha/beta/gamma", "objective", "score", "applied", "window"):
        table.add_column(column, overflow="fold")
    for row in e.weights_history[:DECISIONS_SHOWN]:
        window = " ".join(f"{k}={v}" for k, v in row.details.items())
        table.add_row(when(row.at, now), row.weights, row.objective, row.score, row.applied, window)
    return table


def _budget(e: Explanation) -> Table:
    b = e.budget
    assert b is not None
    table = Table(title=f"ExecutorBudget {b.budget}", title_justify="left")
    for column in ("policy", "cap", "executors", "wanted", "index", "limit", "ready"):
        table.add_column(column)
    limit = " ".join(
        part
        for part in (
            f"{b.limit_executors} executors" if b.limit_executors is not None else "",
            f"{b.limit_cost_per_hour:g}/h" if b.limit_cost_per_hour is not None else "",
        )
        if part
    )
    table.add_row(
        b.policy, _value(b.cap), _value(b.executors), _value(b.wanted),
        f"{b.index:.4g}" if b.index is not None else "-", limit or "-", b.ready,
    )  # fmt: skip
    return table


def renderables(e: Explanation, now: float | None = None) -> list[RenderableType]:
    """The sections, in reading order; empty sections say so in one line."""
    parts: list[RenderableType] = [_header(e, now), _settings(e)]
    if e.rejected:
        parts.append(_rejected(e))
    parts.append(
        _decisions(e.decisions, now) if e.decisions else Text("No decisions recorded yet.")
    )
    if e.weights_history:
        parts.append(_weights_history(e, now))
    for title, rows in (
        ("Holds (no decision: metrics missing or a run starting)", e.holds),
        ("Fallbacks", e.fallbacks),
        ("Other events", e.other_events),
    ):
        if rows:
            parts.append(_events(title, rows, now))
    if e.budget is not None:
        parts.append(_budget(e))
    for note in e.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    return parts


def render(e: Explanation, console: Console, now: float | None = None) -> None:
    """Print the sections with a blank line between them."""
    parts = renderables(e, now)
    console.print(Group(*[p for part in parts for p in (part, Text(""))][:-1]))
