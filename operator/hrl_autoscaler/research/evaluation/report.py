"""Show an evaluation: a terminal table, the JSON file and the time-series plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rich.table import Table

from hrl_autoscaler.research.evaluation.paired import CaseDifference, scenario_differences
from hrl_autoscaler.research.evaluation.runner import EvaluationResult


def paired(result: EvaluationResult) -> list[tuple[str, str, CaseDifference]]:
    """``hrl`` (else the first controller) minus each other non-oracle controller, seed by
    seed, on the objective's score."""
    metric = "slo_score" if result.spec.objective == "slo" else "r_meta"
    scores = {n: [getattr(e, metric) for e in runs] for n, runs in result.episodes.items()}
    return scenario_differences(result.spec.workload_name, scores)


def paired_lines(result: EvaluationResult) -> list[str]:
    """One line per comparison, for the terminal (an interval needs two seeds)."""
    if result.spec.seeds < 2:
        return []
    label = "SLO score" if result.spec.objective == "slo" else "R_meta"
    return [
        f"paired over the same seeds, {label}: {s} - {r} {d.mean:+.3f} ± {d.ci95:.3f} ({d.verdict})"
        for s, r, d in paired(result)
    ]


def result_table(result: EvaluationResult) -> Table:
    spec = result.spec
    best = max(
        result.rows, key=lambda r: r.slo_score_mean if spec.objective == "slo" else r.r_meta_mean
    )
    steps = next(iter(result.example_traces.values())).steps if result.example_traces else 0
    table = Table(
        title=(
            f"{spec.workload_name}: {spec.seeds} seed(s) from {spec.first_seed} x {steps} steps, "
            f"objective {spec.objective}, latency SLO {spec.slo_ms:.0f} ms, "
            f"actuation {spec.params.actuation}"
        )
    )
    for col in (
        "controller",
        "R_meta (±95%)",
        "SLO score (±95%)",
        "mean lat ms",
        "p95 lat ms",
        "SLO viol %",
        "$/hour",
        "scalings/h",
        "restarts/h",
    ):
        table.add_column(col, justify="left" if col == "controller" else "right")
    for r in result.rows:
        style = "bold green" if r is best else None
        table.add_row(
            r.controller,
            f"{r.r_meta_mean:.3f} ± {r.r_meta_ci95:.3f}",
            f"{r.slo_score_mean:.3f} ± {r.slo_score_ci95:.3f}",
            f"{r.mean_latency_ms:,.0f}",
            f"{r.p95_latency_ms:,.0f}",
            f"{r.slo_violation_pct:.2f}",
            f"{r.cost_per_hour:.2f}",
            f"{r.scaling_actions_per_hour:.1f}",
            f"{r.restarts_per_hour:.2f}",
            style=style,
        )
    return table


def result_json(result: EvaluationResult) -> dict[str, Any]:
    spec = result.spec
    return {
        "workload": spec.workload_name,
        "objective": spec.objective,
        "latency_slo_ms": spec.slo_ms,
        "episode_steps": spec.episode_steps,
        "seeds": list(range(spec.first_seed, spec.first_seed + spec.seeds)),
        "actuation": spec.params.actuation,
        "params": spec.params.to_dict(),
        "results": [r.to_dict() for r in result.rows],
        "paired": [{"subject": s, "reference": r, **d.to_dict()} for s, r, d in paired(result)],
    }


def write_json(result: EvaluationResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result_json(result), indent=2) + "\n", encoding="utf-8")


def write_plot(result: EvaluationResult, path: Path) -> None:
    """Load against capacity, executors and latency over time, one colour per controller."""
    spec = result.spec
    traces = result.example_traces
    names = [n for n in spec.controllers if n in traces]
    if not names:
        raise ValueError("no trace to plot")
    hours = np.arange(traces[names[0]].steps) * spec.params.decision_interval_s / 3600.0
    fig, axes = plt.subplots(3, 1, figsize=(13, 9.5), sharex=True)
    colours = plt.get_cmap("tab10")
    axes[0].plot(hours, traces[names[0]].load_eps, color="black", lw=1.4, label="arrival rate")
    for i, name in enumerate(names):
        tr = traces[name]
        c = colours(i % 10)
        axes[0].plot(hours, tr.capacity_eps, color=c, lw=0.9, alpha=0.8, label=f"{name} capacity")
        axes[1].step(hours, tr.executors, where="post", color=c, lw=1.0, label=name)
        axes[2].plot(hours, np.maximum(tr.latency_ms, 1.0), color=c, lw=0.9, label=name)
    axes[0].set_ylabel("events / s")
    axes[0].set_title(f"{spec.workload_name} (seed 0): load against capacity")
    axes[1].set_ylabel("executors")
    axes[1].set_ylim(0, spec.params.max_executors + 1)
    axes[1].set_title("executors requested")
    axes[2].axhline(spec.slo_ms, color="red", ls="--", lw=1, label=f"SLO {spec.slo_ms:.0f} ms")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("latency ms (log)")
    axes[2].set_xlabel("hours")
    axes[2].set_title("micro-batch latency")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
