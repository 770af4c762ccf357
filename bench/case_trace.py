"""Trace one validation case: each controller's score, then every change the first one made,
with the load, the latency before it and the decision step's stage labels.

What the stage pages' traces come from (docs/restart-hold.md). The first controller must be
one of the operator's pipeline (``hrl``, ``ppo-fixed``, ``hrl-<era>``) for the labels.

    PYTHONPATH=operator .venv/bin/python bench/case_trace.py smart-metering --seed 200 \\
        --actuation restart --controllers hrl-unheld,hrl,oracle
"""

from __future__ import annotations

import argparse

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.evaluation.heldout import peak_cases
from hrl_autoscaler.research.evaluation.runner import run_on_load
from hrl_autoscaler.research.sim import adapters
from hrl_autoscaler.research.sim.rollout import Trace
from hrl_autoscaler.research.sim.workloads import SCENARIOS
from hrl_autoscaler.runtime.core.ports import DecisionRecord


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--peak", type=float, default=1.0, help="times the default peak")
    parser.add_argument("--seed", type=int, default=200, help="a validation seed (200-204)")
    parser.add_argument("--actuation", default="in-place", choices=("in-place", "restart"))
    parser.add_argument("--controllers", default="hrl,oracle", help="comma-separated")
    parser.add_argument("--changes", type=int, default=40, help="changes listed at most")
    args = parser.parse_args()
    records: list[DecisionRecord] = []
    adapters.NullTelemetry.decision = (  # type: ignore[method-assign]
        lambda _self, _key, record: records.append(record)
    )
    case = next(c for c in peak_cases([args.peak]) if c.name.startswith(args.scenario + "@"))
    params = SimParams(actuation=args.actuation)
    load = case.load(args.seed, 2880, params.decision_interval_s)
    slo = SCENARIOS[args.scenario].latency_slo_ms
    first: tuple[Trace, list[DecisionRecord]] | None = None
    for name in args.controllers.split(","):
        records.clear()
        summary, trace = run_on_load(name, load, params, "slo", slo, args.seed)
        over, held = float(np.mean(trace.latency_ms > slo)), trace.executors.mean()
        print(
            f"{name:12s} SLO score {summary.slo_score:7.3f}  executors {held:5.2f}"
            f"  over the SLO {over:6.1%}  changes/h {trace.scaled.sum() / 24:4.1f}"
        )
        first = first or (trace, list(records))
    if first is None:
        return
    trace, decided = first
    by_time = {round(r.metrics.time_s): r for r in decided if r.metrics is not None}
    print(f"\nchanges of {args.controllers.split(',')[0]} (decision, count, load, latency/SLO):")
    listed = 0
    for u in range(1, len(trace.executors)):
        before, after = trace.executors[u - 1], trace.executors[u]
        if before == after or listed >= args.changes:
            continue
        listed += 1
        record = by_time.get(round(u * params.decision_interval_s))
        label = record.controller if record else ""
        lat, load_eps = trace.latency_ms[u - 1] / slo, trace.load_eps[u - 1]
        print(f"{u:5d} {before:2d} -> {after:2d}  {load_eps:7.0f} ev/s  {lat:5.2f}  {label}")


if __name__ == "__main__":
    main()
