"""Calibration outputs: the file, the per-batch measurements, the plot and the error table."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.tools.calibration.fit import FIT_METHOD, PredictionRow, simulated_batch_s
from hrl_autoscaler.tools.calibration.schema import Calibration, LoadStep


def write_measurements_csv(steps: Sequence[LoadStep], path: Path) -> None:
    """Every counted micro-batch, one row each: the raw data behind every fitted number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "executors",
                "offered_eps",
                "produced_eps",
                "saturated",
                "batch_id",
                "start_epoch_s",
                "duration_s",
                "input_rows",
                "event_latency_s",
                "step_load_average",
            ]
        )
        for step in steps:
            for b in step.batches:
                writer.writerow(
                    [
                        step.executors,
                        f"{step.offered_eps:.1f}",
                        f"{step.produced_eps:.1f}",
                        int(step.saturated),
                        b.batch_id,
                        f"{b.start_epoch_s:.3f}",
                        f"{b.duration_s:.3f}",
                        b.input_rows,
                        "" if b.event_latency_s is None else f"{b.event_latency_s:.3f}",
                        "" if step.load_average is None else f"{step.load_average:.2f}",
                    ]
                )


def error_table_markdown(calibration: Calibration) -> str:
    """Measured vs simulated mean batch duration per step, and the verdict."""
    q = calibration.quality
    lines = [
        "| executors | offered events/s | achieved events/s | measured batch s "
        "| simulated batch s | error | judged | measured event latency s "
        "| simulated latency s |",
        "|---:|---:|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    by_key = {(s.executors, round(s.offered_eps, 3)): s for s in calibration.steps}
    for p in q.predictions:
        step = by_key.get((p.executors, round(p.offered_eps, 3)))
        achieved = f"{step.produced_eps:,.0f}" if step is not None else "-"
        event = p.measured_event_latency_s
        event_text = "-" if event is None else f"{event:.2f}"
        lines.append(
            f"| {p.executors} | {p.offered_eps:,.0f} | {achieved} | {p.measured_batch_s:.3f} "
            f"| {p.simulated_batch_s:.3f} | {p.relative_error:+.1%} "
            f"| {'yes' if p.in_range else 'contended' if p.contended else 'saturated'} "
            f"| {event_text} "
            f"| {p.simulated_latency_s:.2f} |"
        )
    verdict = "MET" if q.met else "NOT MET"
    lines += [
        "",
        f"Target: |error| <= {q.target:.0%} on every sustainable step. **{verdict}**: "
        f"max |error| {q.max_abs_error:.1%}, mean |error| {q.mean_abs_error:.1%}.",
        "",
        "The last two columns are not judged: an event's latency (batch end - mean event time)"
        " against the simulator's latency, which adds half a trigger of waiting to the batch."
        " The measured one also holds the load generator's tick (events wait in an open file).",
    ]
    return "\n".join(lines)


def fitted_table_markdown(calibration: Calibration) -> str:
    base = SimParams()
    lines = ["| SimParams field | default | calibrated |", "|---|---:|---:|"]
    for name, value in calibration.fitted.overrides().items():
        lines.append(f"| `{name}` | {getattr(base, name):g} | {value:.4g} |")
    return "\n".join(lines)


def write_markdown(calibration: Calibration, path: Path) -> None:
    """A human-readable summary next to the JSON: where, what, how well."""
    c, q = calibration, calibration.quality
    adds = [t.seconds for t in c.scaling if t.direction == "add"]
    removes = [t.seconds for t in c.scaling if t.direction == "remove"]

    def mean(xs: list[float]) -> str:
        return f"{sum(xs) / len(xs):.1f} s (n={len(xs)})" if xs else "not measured"

    capacity = ", ".join(f"{k}: {v:,.0f}" for k, v in q.capacity_eps.items())
    sustained = ", ".join(f"{k}: {v:,.0f}" for k, v in q.max_sustained_eps.items()) or "none"
    text = [
        "# Calibration of the simulator against the real IoT job",
        "",
        f"Measured {c.created} with `{c.command}`.",
        "",
        f"- Machine: {c.machine.cpus} CPUs, {c.machine.memory_gb} GB, {c.machine.platform}, "
        f"{c.machine.java}; load average at start {c.machine.load_average}.",
        f"- Spark {c.spark.version} {c.spark.deployment} ({c.spark.master}), executors of "
        f"{c.spark.executor_cores} core / {c.spark.executor_memory}, trigger "
        f"{c.spark.trigger_interval_s:g} s; job: {c.spark.job}.",
        f"- Fitted capacity (events/s by executor count): {capacity}.",
        f"- Highest rate sustained (events/s by executor count): {sustained}.",
        f"- In-place executor addition: {mean(adds)}; removal: {mean(removes)}.",
        f"- Fit: {FIT_METHOD}.",
        "",
        "## Fitted parameters",
        "",
        fitted_table_markdown(c),
        "",
        "## Prediction error (mean micro-batch duration)",
        "",
        error_table_markdown(c),
        "",
        "![measured vs simulated](calibration.png)",
    ]
    if q.notes:
        text += ["", "## Notes", ""] + [f"- {n}" for n in q.notes]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def write_plot(calibration: Calibration, rows: Sequence[PredictionRow], path: Path) -> None:
    """Measured (points, per-batch spread) vs simulated (lines) mean batch duration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    params = calibration.sim_params()
    counts = sorted({s.executors for s in calibration.steps})
    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(12, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    sustained = [
        s.mean_batch_s for s in calibration.steps if not s.saturated and not s.contended
    ] or [1.0]
    y_top = 1.8 * max(sustained)
    for i, n in enumerate(counts):
        colour = colours[i % len(colours)]
        steps = [s for s in calibration.steps if s.executors == n]
        for s in steps:
            durations = [min(b.duration_s, y_top * 0.98) for b in s.batches]
            ax.scatter([s.produced_eps] * len(durations), durations, s=4, alpha=0.2, color=colour)
        ok = [s for s in steps if not s.saturated and not s.contended]
        bad = [s for s in steps if s.saturated and not s.contended]
        contended = [s for s in steps if s.contended]
        if contended:
            ax.scatter(
                [s.produced_eps for s in contended],
                [min(s.mean_batch_s, y_top * 0.95) for s in contended],
                facecolor="none",
                edgecolor=colour,
                marker="s",
                zorder=3,
                label=f"contended, not fitted ({n})",
            )
        ax.scatter(
            [s.produced_eps for s in ok],
            [s.mean_batch_s for s in ok],
            color=colour,
            edgecolor="black",
            zorder=3,
            label=f"measured, {n} executor(s)",
        )
        for j, s in enumerate(bad):
            shown = min(s.mean_batch_s, y_top * 0.95)
            ax.scatter(
                [s.produced_eps],
                [shown],
                color=colour,
                marker="x" if shown == s.mean_batch_s else "^",
                zorder=3,
                label=f"saturated ({n}), mean batch shown or above" if j == 0 else None,
            )
            if shown != s.mean_batch_s:
                ax.annotate(
                    f"{s.mean_batch_s:.0f} s",
                    (s.produced_eps, shown),
                    textcoords="offset points",
                    xytext=(4, -10),
                    fontsize=7,
                    color=colour,
                )
        capacity = params.capacity_eps(n)
        top = max([s.produced_eps for s in ok] or [capacity])
        grid = np.linspace(top * 0.02, min(top * 1.08, capacity * 0.995), 200)
        ax.plot(
            grid,
            [simulated_batch_s(params, n, float(r)) for r in grid],
            color=colour,
            label=f"simulated, {n} executor(s)",
        )
        ax.axvline(capacity, color=colour, linestyle=":", linewidth=1)
        judged = [r for r in rows if r.executors == n and r.in_range]
        ax_err.plot(
            [r.rate_eps for r in judged],
            [100 * r.relative_error for r in judged],
            "o-",
            color=colour,
            label=f"{n} executor(s)",
        )
    ax.set_ylim(0, y_top)
    target = 100 * calibration.quality.target
    ax_err.axhspan(-target, target, color="green", alpha=0.08, label=f"±{target:.0f}% target")
    ax_err.axhline(0, color="black", linewidth=0.8)
    ax.set(
        xlabel="arriving events/s",
        ylabel="micro-batch duration, s",
        title="micro-batch duration: measured vs simulated (dotted: fitted capacity)",
    )
    ax.legend(fontsize=8)
    ax_err.set(
        xlabel="arriving events/s",
        ylabel="(simulated - measured) / measured, %",
        title="prediction error on sustainable steps",
    )
    ax_err.legend(fontsize=8)
    fig.suptitle(
        f"Spark {calibration.spark.version} {calibration.spark.deployment}, "
        f"{calibration.machine.cpus} CPUs: "
        f"{calibration.fitted.executor_rate_eps:,.0f} events/s per executor, "
        f"sigma {calibration.fitted.scaling_contention:.3f}, "
        f"overhead {calibration.fitted.batch_overhead_s:.2f} s"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
