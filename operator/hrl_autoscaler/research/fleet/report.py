"""Show a fleet evaluation: a terminal table, markdown and CSV files, the targets, and a plot of
each policy's allocations over time (one seed)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rich.table import Table

from hrl_autoscaler.research.fleet.metrics import FleetRow
from hrl_autoscaler.research.fleet.runner import FleetResult

SIMPLE = ("equal-share", "proportional", "first-come")
COLUMNS = (
    "policy",
    "fleet SLO score (±95%)",
    "attainment (±95%)",
    "violations (±95%)",
    "executor-h (±95%)",
    "utilisation",
    "Jain",
    "exceedances",
    "fleet steps",
    "alloc ms",
)


def _cells(r: FleetRow) -> list[str]:
    return [
        r.policy,
        f"{r.fleet_slo_score:.3f} ± {r.fleet_slo_score_ci95:.3f}",
        f"{r.attainment:.4f} ± {r.attainment_ci95:.4f}",
        f"{r.violations:.0f} ± {r.violations_ci95:.0f}",
        f"{r.executor_hours:.0f} ± {r.executor_hours_ci95:.0f}",
        f"{r.utilisation:.3f}",
        f"{r.jain_fairness:.3f}",
        f"{r.exceedances}",
        f"{r.fleet_steps:,}",
        f"{r.allocation_ms:.2f}",
    ]


def title(result: FleetResult) -> str:
    s = result.spec
    budgets = sorted(result.budgets.values())
    return (
        f"{s.apps} applications, budget {s.budget_share:.0%} of summed peaks "
        f"({budgets[0]}-{budgets[-1]} executors), {s.seeds} seed(s) from {s.first_seed} x "
        f"{s.steps} steps, fast loop {s.fast}, interval {s.interval_s:g} s"
    )


def result_table(result: FleetResult) -> Table:
    table = Table(title=title(result))
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "policy" else "right")
    for r in result.rows:
        table.add_row(*_cells(r), style="bold" if r.policy == "whittle" else None)
    return table


def targets(result: FleetResult) -> list[str]:
    """The issue's targets, measured (only those the policies run allow)."""
    rows = {r.policy: r for r in result.rows}
    lines = []
    budgeted = [r for r in result.rows if r.policy != "none"]
    steps = sum(r.fleet_steps for r in budgeted)
    exceed = sum(r.exceedances for r in budgeted)
    lines.append(
        f"budget exceedances: {exceed} in {steps:,} budgeted fleet steps "
        f"({'met' if exceed == 0 else 'MISSED'}: 0 required)"
    )
    whittle = rows.get("whittle")
    simple = [rows[p] for p in SIMPLE if p in rows]
    if whittle is not None and simple:
        best = max(simple, key=lambda r: r.fleet_slo_score)
        gain = _relative(whittle.fleet_slo_score, best.fleet_slo_score)
        miss_w = 1.0 - whittle.attainment
        miss_b = 1.0 - best.attainment
        lines.append(
            f"whittle vs best simple ({best.policy}): fleet SLO score {whittle.fleet_slo_score:.3f}"
            f" vs {best.fleet_slo_score:.3f}, {gain:+.1%} ({'met' if gain >= 0.15 else 'missed'}:"
            f" +15% required); priority-weighted violation share {miss_w:.4f} vs {miss_b:.4f}"
            f" ({(miss_w - miss_b) / max(miss_b, 1e-12):+.0%} relative)"
        )
    oracle = rows.get("oracle")
    if whittle is not None and oracle is not None:
        ratio = _relative(whittle.fleet_slo_score, oracle.fleet_slo_score) + 1.0
        lines.append(
            f"whittle / oracle: {ratio:.2%} ({'met' if ratio >= 0.85 else 'missed'}: 85% required)"
        )
    return lines


def _relative(value: float, reference: float) -> float:
    """``value / reference - 1`` for positive references; a score can be negative, where a
    ratio means nothing, so then the difference in units of the reference's magnitude."""
    if reference > 0:
        return value / reference - 1.0
    return (value - reference) / max(abs(reference), 1e-9)


def write_markdown(result: FleetResult, path: Path) -> None:
    lines = [f"**{title(result)}**", "", "| " + " | ".join(COLUMNS) + " |"]
    lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in result.rows]
    lines += ["", *[f"- {t}" for t in targets(result)], ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def write_csv(result: FleetResult, rows_path: Path, runs_path: Path) -> None:
    """The aggregate rows, and every run (with its violations per application)."""
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    with rows_path.open("w", newline="", encoding="utf-8") as f:
        rows = csv.DictWriter(f, fieldnames=list(result.rows[0].to_dict()))
        rows.writeheader()
        for r in result.rows:
            rows.writerow(r.to_dict())
    with runs_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "policy",
                "seed",
                "budget",
                "attainment",
                "fleet_slo_score",
                "violations",
                "violations_by_app",
                "executor_hours",
                "utilisation",
                "jain_fairness",
                "exceedances",
                "model_exceedances",
                "seconds",
            ]
        )
        for run in result.runs:
            writer.writerow(
                [
                    run.policy,
                    run.seed,
                    run.budget if run.budget is not None else "",
                    f"{run.attainment:.6f}",
                    f"{run.fleet_slo_score:.6f}",
                    run.violations,
                    " ".join(str(v) for v in run.violations_by_app),
                    f"{run.executor_hours:.2f}",
                    f"{run.utilisation:.4f}",
                    f"{run.jain_fairness:.4f}",
                    run.exceedances,
                    run.model_exceedances,
                    f"{run.seconds:.2f}",
                ]
            )


def write_plot(result: FleetResult, path: Path, hours: float | None = 6.0) -> None:
    """Per policy (first seed): the written targets stacked per application against the
    budget, and the caps' sum; the first ``hours`` only, so single steps stay visible."""
    traces = [result.example_traces[p] for p in result.spec.policies if p in result.example_traces]
    if not traces:
        raise ValueError("no trace to plot")
    dt = result.spec.params.decision_interval_s
    steps = traces[0].steps if hours is None else min(traces[0].steps, int(hours * 3600 / dt))
    x = np.arange(steps) * dt / 3600.0
    fig, axes = plt.subplots(len(traces), 1, figsize=(13, 2.4 * len(traces)), sharex=True)
    axes = np.atleast_1d(axes)
    colours = plt.get_cmap("tab10")
    apps = traces[0].fleet.apps
    budget = traces[0].fleet.budget_executors
    for ax, trace in zip(axes, traces, strict=True):
        labels = [f"{a.scenario} ({a.slo_class})" for a in apps]
        ax.stackplot(
            x,
            trace.written[:steps].T.astype(float),
            labels=labels,
            colors=[colours(i % 10) for i in range(len(apps))],
            alpha=0.8,
            step="post",
        )
        ax.axhline(budget, color="red", lw=1.4, ls="--", label=f"budget {budget}")
        if trace.budget is not None and trace.policy != "first-come":
            ax.step(
                x,
                trace.caps[:steps].sum(axis=1),
                where="post",
                color="black",
                lw=0.8,
                label="sum of caps",
            )
        ax.set_ylabel("executors")
        ax.set_title(f"{trace.policy}: written targets per application", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=6, ncol=5, bbox_to_anchor=(0.0, 1.45))
    axes[-1].set_xlabel("hours")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
