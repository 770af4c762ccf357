"""``hrl-autoscaler bench``: the simulator, one policy decision, the decision path on the
simulated cluster, a whole evaluation, or the operator's loop on the local control plane."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from hrl_autoscaler.cli.common import console, out
from hrl_autoscaler.tools.argtypes import integer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        choices=["sim", "policy", "pipeline", "evaluate", "operator", "budget", "soak"],
        help="sim: simulator steps/s; policy: one decision's latency; pipeline: the operator's "
        "pipeline on the simulated cluster, decisions/s on one core beside ds2; evaluate: five "
        "baselines + hrl + ppo-fixed, 5 seeds x 2,880 steps; operator: the live loop; budget: one "
        "ExecutorBudget allocation per policy for --apps applications (default 1,000 here); soak: "
        "--apps applications (default 500) for --minutes with a control-plane fault every "
        "--fault-every seconds: cycle p99, RSS growth, errors by kind, decisions lost",
    )
    parser.add_argument(
        "--steps", type=integer(1), default=100_000, help="steps to time (default %(default)s)"
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the result as JSON")
    parser.add_argument(
        "--apps",
        type=integer(1),
        default=None,
        help="operator: SparkApplications to manage (default 200); budget: applications to "
        "allocate for (default 1000)",
    )
    parser.add_argument(
        "--cycles",
        type=integer(1),
        default=20,
        help="operator only: decision cycles to measure (default %(default)s)",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=60.0,
        help="soak only: how long to run after the warm-up (default %(default)s)",
    )
    parser.add_argument(
        "--fault-every",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="soak only: seconds between faults (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    if args.target == "operator":
        from hrl_autoscaler.tools.bench.operator_loop import run_operator_bench

        return run_operator_bench(args.apps or 200, args.json, args.cycles)
    if args.target == "budget":
        return _budget(args)
    if args.target == "soak":
        return _soak(args)
    if args.target == "sim":
        from hrl_autoscaler.tools.bench.sim import bench_sim

        console.print(f"stepping the simulator {args.steps:,} times on one core ...")
        payload = asdict(bench_sim(steps=args.steps))
    elif args.target == "pipeline":
        from hrl_autoscaler.tools.bench.decision_path import bench_pipeline

        console.print("running hrl, ppo-fixed and ds2 episodes on one core ...")
        payload = asdict(bench_pipeline())
    elif args.target == "evaluate":
        from hrl_autoscaler.tools.bench.decision_path import bench_evaluate

        console.print("evaluating 5 baselines + hrl + ppo-fixed, 5 seeds x 2,880 steps ...")
        payload = asdict(bench_evaluate())
    else:
        from hrl_autoscaler.tools.bench.policy import bench_policy

        console.print(f"timing {args.steps:,} single decisions of the numpy PPO runtime ...")
        payload = asdict(bench_policy(decisions=args.steps))
    out.print_json(json.dumps(payload))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


def _budget(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hrl_autoscaler.tools.bench.budget import bench_budget, bench_slow_step

    apps = args.apps or 1000
    console.print(f"timing one budget allocation for {apps:,} applications per policy ...")
    result = bench_budget(apps=apps)
    table = Table(
        title=f"one allocation, {apps:,} applications, budget {result.budget_executors:,} "
        f"executors, {result.repeats} repeats (target <= {result.target_ms:g} ms)"
    )
    for col in ("policy", "p50 ms", "p99 ms", "max ms", "within target"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for t in result.timings:
        table.add_row(
            t.policy, f"{t.p50_ms:.2f}", f"{t.p99_ms:.2f}", f"{t.max_ms:.2f}", str(t.within_target)
        )
    out.print(table)
    console.print(f"timing the operator's whole budget step for {apps:,} simulated apps ...")
    slow = bench_slow_step(apps=apps)
    verdict = "met" if slow.within_target else "missed"
    out.print(
        "slow step (coverage, claims with forecasts, whittle allocation, status) in the "
        f"operator's pipeline: p50 {slow.p50_ms:.1f} ms, max {slow.max_ms:.1f} ms over "
        f"{slow.allocations} allocations (target <= {result.target_ms:g} ms: {verdict})"
    )
    payload = {**asdict(result), "slow_step": asdict(slow)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0 if all(t.within_target for t in result.timings) and slow.within_target else 1


def _soak(args: argparse.Namespace) -> int:
    from hrl_autoscaler.tools.bench.soak import run_soak

    apps = args.apps or 500
    console.print(
        f"soak: {apps} applications for {args.minutes:g} min, a fault every "
        f"{args.fault_every:g} s ..."
    )
    result = run_soak(apps, args.minutes, args.fault_every)
    payload = {**asdict(result), "passed": result.passed}
    out.print_json(json.dumps(payload))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0 if result.passed else 1
