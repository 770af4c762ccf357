"""The demo's report: ``demo.json`` (every sample and event) and ``demo.png`` (per application:
load, executors, latency against its SLO, and the weights over simulated time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hrl_autoscaler.tools.demo.recorder import AppRecord


def summary(record: AppRecord) -> dict[str, Any]:
    """Per-application numbers a reader checks first."""
    samples = [s for s in record.samples if s.state == "RUNNING"]
    latencies = [s.latency_ms for s in samples if s.latency_ms is not None]
    slo = record.app.latency_slo_ms
    reasons = [e.reason for e in record.events]
    return {
        "samples": len(record.samples),
        "scaling_decisions": reasons.count("ScalingDecision"),
        "weight_updates": reasons.count("WeightsUpdated"),
        "warnings": sum(e.type == "Warning" for e in record.events),
        "mean_executors": round(sum(s.executors for s in samples) / len(samples), 2)
        if samples
        else None,
        "max_executors": max((s.executors for s in samples), default=None),
        "mean_latency_ms": round(sum(latencies) / len(latencies)) if latencies else None,
        "slo_attainment": round(sum(v <= slo for v in latencies) / len(latencies), 3)
        if latencies
        else None,
    }


def write_json(records: dict[str, AppRecord], path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    payload = {
        **meta,
        "apps": {
            name: {**record.to_json(), "summary": summary(record)}
            for name, record in records.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return payload


def _nan(value: float | None) -> float:
    """Gaps (no metrics while an application restarts) stay gaps, not zeros."""
    return float("nan") if value is None else value


def write_plot(records: dict[str, AppRecord], path: Path, speed: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(records)
    fig, axes = plt.subplots(
        4, len(names), figsize=(5.2 * len(names), 11), sharex="col", squeeze=False
    )
    for col, name in enumerate(names):
        record = records[name]
        xs = [s.sim_t / 60 for s in record.samples]
        load, execs, lat, weights = axes[0][col], axes[1][col], axes[2][col], axes[3][col]
        load.set_title(f"{name}\n{record.app.weight_policy}, {record.app.actuation}", fontsize=10)
        load.plot(
            xs, [_nan(s.load_eps) for s in record.samples], label="arriving", color="tab:blue"
        )
        load.plot(
            xs,
            [_nan(s.processing_eps) for s in record.samples],
            label="processed",
            color="tab:green",
            linestyle="--",
        )
        load.set_ylabel("events/s")
        load.legend(fontsize=8, loc="upper left")
        execs.step(xs, [s.executors for s in record.samples], where="post", label="allocated")
        execs.plot(
            xs,
            [s.running if s.running is not None else 0 for s in record.samples],
            label="running",
            alpha=0.7,
        )
        execs.set_ylabel("executors")
        execs.set_ylim(0, 21)
        execs.legend(fontsize=8, loc="upper left")
        lat.plot(xs, [_nan(s.latency_ms) for s in record.samples], color="tab:red")
        lat.axhline(
            record.app.latency_slo_ms, color="black", linestyle="--", linewidth=1, label="SLO"
        )
        lat.set_yscale("log")
        lat.set_ylabel("latency ms")
        lat.legend(fontsize=8, loc="upper left")
        for label, key, color in (
            ("alpha (cost)", "alpha", "tab:orange"),
            ("beta (latency)", "beta", "tab:red"),
            ("gamma (throughput)", "gamma", "tab:purple"),
        ):
            weights.plot(xs, [getattr(s, key) for s in record.samples], label=label, color=color)
        weights.set_ylim(0, 1)
        weights.set_ylabel("weights")
        weights.set_xlabel(f"simulated minutes (x{speed:g})")
        weights.legend(fontsize=8, loc="upper left")
        for event in record.events:
            if event.reason in ("ScalingDecision", "WeightsUpdated"):
                ax = execs if event.reason == "ScalingDecision" else weights
                ax.axvline(event.t * speed / 60, color="grey", alpha=0.3, linewidth=0.8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
