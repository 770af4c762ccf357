"""The live table: one row per application, what a platform engineer would watch."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.tools.demo.recorder import AppRecord

REASON_STYLE = {
    "ScalingDecision": "green",
    "ScalingRecommendation": "cyan",
    "WeightsUpdated": "magenta",
    "MetricsUnavailable": "yellow",
    "Fallback": "yellow",
    "FirstBatchOverdue": "yellow",
    "InvalidAnnotation": "red",
    "ScalingFailed": "red",
}


def _event_text(record: AppRecord) -> Text:
    if not record.events:
        return Text("-", style="dim")
    last = record.events[-1]
    fields = parse_message(last.message)
    if last.reason in ("ScalingDecision", "ScalingRecommendation", "ScalingFailed"):
        detail = f"{fields.get('executors', '')} ({fields.get('controller', '')})"
    elif last.reason == "WeightsUpdated":
        detail = fields.get("weights", "").split("->")[-1]
    else:
        detail = fields.get("reason") or fields.get("detail") or fields.get("annotation", "")
    return Text(
        f"{last.t:5.0f}s {last.reason} {detail}"[:70], style=REASON_STYLE.get(last.reason, "")
    )


def live_table(
    records: dict[str, AppRecord], elapsed_s: float, duration_s: float, speed: float
) -> Table:
    sim_min = elapsed_s * speed / 60
    table = Table(
        title=f"hrl-autoscaler demo  {elapsed_s:4.0f}/{duration_s:.0f} s  "
        f"(x{speed:g}: {sim_min:.0f} simulated minutes)",
        title_justify="left",
    )
    for column, justify in (
        ("application", "left"),
        ("policy", "left"),
        ("state", "left"),
        ("load ev/s", "right"),
        ("executors now -> target", "center"),
        ("running", "right"),
        ("latency ms (SLO)", "right"),
        ("weights a/b/g", "center"),
        ("last event", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, record in records.items():
        if not record.samples:
            table.add_row(name, "", "starting")
            continue
        s = record.samples[-1]
        slo = record.app.latency_slo_ms
        latency = "-" if s.latency_ms is None else f"{s.latency_ms:,.0f}"
        late = s.latency_ms is not None and s.latency_ms > slo
        target = "-" if s.target is None else str(s.target)
        table.add_row(
            name,
            f"{record.app.weight_policy}, {record.app.actuation}",
            s.state or "-",
            "-" if s.load_eps is None else f"{s.load_eps:,.0f}",
            f"{s.executors} -> {target}",
            "-" if s.running is None else str(s.running),
            Text(f"{latency} ({slo:,.0f})", style="red" if late else "green"),
            f"{s.alpha:.2f}/{s.beta:.2f}/{s.gamma:.2f}",
            _event_text(record),
        )
    return table
