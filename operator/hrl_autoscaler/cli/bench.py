"""``hrl-autoscaler bench``: the simulator, one policy decision, or the operator's loop."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from hrl_autoscaler.cli.common import console, out
from hrl_autoscaler.cli.types import integer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=["sim", "policy", "operator"], help="what to measure")
    parser.add_argument(
        "--steps", type=integer(1), default=100_000, help="steps to time (default %(default)s)"
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the result as JSON")
    parser.add_argument(
        "--apps",
        type=integer(1),
        default=200,
        help="operator only: SparkApplications to manage (default %(default)s)",
    )
    parser.add_argument(
        "--cycles",
        type=integer(1),
        default=20,
        help="operator only: decision cycles to measure (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    if args.target == "operator":
        from hrl_autoscaler.tools.bench.operator_loop import run_operator_bench

        return run_operator_bench(args.apps, args.json, args.cycles)
    if args.target == "sim":
        from hrl_autoscaler.tools.bench.sim import bench_sim

        console.print(f"stepping the simulator {args.steps:,} times on one core ...")
        payload = asdict(bench_sim(steps=args.steps))
    else:
        from hrl_autoscaler.tools.bench.policy import bench_policy

        console.print(f"timing {args.steps:,} single decisions of the numpy PPO runtime ...")
        payload = asdict(bench_policy(decisions=args.steps))
    out.print_json(json.dumps(payload))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0
