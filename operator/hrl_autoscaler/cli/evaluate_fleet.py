"""``hrl-autoscaler evaluate-fleet``: many applications under one ExecutorBudget, per policy."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hrl_autoscaler.cli.common import console, out
from hrl_autoscaler.runtime.core.budget.spec import POLICY_NAMES
from hrl_autoscaler.tools.argtypes import integer, number

#: The operator's budget policies and the two research rows (the runner validates them).
POLICIES = (*POLICY_NAMES, "oracle", "none")

DESCRIPTION = (
    "Simulate a fleet of Spark streaming applications (mixed IoT scenarios at random phases, "
    "peaks and SLO classes, fixed by the seed) that one operator Autoscaler manages under ONE "
    "ExecutorBudget of --budget-share x the summed peaks (an application's peak: the executors "
    "it needs at its highest load). Each policy arbitrates the budget on the same fleets; "
    "'oracle' allocates knowing the future load (an upper bound) and 'none' runs without a "
    "budget (the reference). Reports the priority-weighted fleet SLO score (the project's slo "
    "score) and SLO attainment, "
    "violations, executor-hours, budget utilisation, Jain fairness of allocation over demand "
    "and budget exceedances (written targets above the budget, checked at every step: must be "
    "0), with 95% t-intervals over seeds. Report on held-out seeds (0-9 by default); tune, if "
    "at all, on seeds >= 300."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument(
        "--apps", type=integer(1), default=8, help="applications (default %(default)s)"
    )
    parser.add_argument(
        "--budget-share",
        type=number(),
        default=0.6,
        help="budget as a share of the summed peaks (default %(default)s)",
    )
    parser.add_argument(
        "--policies",
        default=None,
        help=f"comma-separated; accepted: {', '.join(POLICIES)} (default: all)",
    )
    parser.add_argument(
        "--seeds", type=integer(1), default=10, help="fleets per policy (default %(default)s)"
    )
    parser.add_argument(
        "--first-seed",
        type=integer(0),
        default=0,
        help="seeds FIRST..FIRST+SEEDS-1 (default %(default)s: the held-out report seeds)",
    )
    parser.add_argument(
        "--steps",
        type=integer(1),
        default=2880,
        help="30 s decision steps per run (default %(default)s: one simulated day)",
    )
    parser.add_argument(
        "--fast",
        choices=["hrl", "ppo-fixed"],
        default="hrl",
        help="each application's fast loop: the operator pipeline with meta-learned weights "
        "(hrl) or fixed 1/3 weights (ppo-fixed) (default %(default)s)",
    )
    parser.add_argument(
        "--interval",
        type=number(),
        default=120.0,
        metavar="SECONDS",
        help="the budget's intervalSeconds (default %(default)s)",
    )
    parser.add_argument(
        "--workers", type=integer(1), default=1, help="parallel processes (default %(default)s)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write fleet.md, fleet.csv, fleet-runs.csv and fleet-allocations.png here",
    )


def parse_policies(text: str | None) -> tuple[str, ...]:
    from hrl_autoscaler.research.fleet.runner import default_policies

    if text is None:
        return default_policies()
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown or not names:
        raise ValueError(f"unknown policies {unknown}; accepted: {', '.join(POLICIES)}")
    return names


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hrl_autoscaler.research.fleet.report import (
        result_table,
        targets,
        write_csv,
        write_markdown,
        write_plot,
    )
    from hrl_autoscaler.research.fleet.runner import FleetSpec, run_fleet_evaluation

    try:
        spec = FleetSpec(
            policies=parse_policies(args.policies),
            apps=args.apps,
            budget_share=args.budget_share,
            seeds=args.seeds,
            first_seed=args.first_seed,
            steps=args.steps,
            fast=args.fast,
            interval_s=args.interval,
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    started = time.perf_counter()
    total = len(spec.policies) * spec.seeds
    with Progress(
        TextColumn("[bold]evaluate-fleet[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{spec.apps} apps", total=total)
        result = run_fleet_evaluation(
            spec,
            workers=args.workers,
            on_run=lambda policy, seed: progress.update(
                task, advance=1, description=f"{policy} seed {seed}"
            ),
        )
    out.print(result_table(result))
    for line in targets(result):
        out.print(line)
    console.print(f"ran {total} fleet runs in {time.perf_counter() - started:.1f} s")
    if args.out:
        write_markdown(result, args.out / "fleet.md")
        write_csv(result, args.out / "fleet.csv", args.out / "fleet-runs.csv")
        write_plot(result, args.out / "fleet-allocations.png")
        console.print(
            f"wrote {args.out}/fleet.md, fleet.csv, fleet-runs.csv, fleet-allocations.png"
        )
    return 0
