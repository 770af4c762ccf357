"""``hrl-autoscaler evaluate``: compare controllers on the simulator."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hrl_autoscaler.cli.common import (
    add_calibration_argument,
    calibrated,
    calibrated_peak,
    console,
    out,
)
from hrl_autoscaler.config import ACTUATIONS, EVALUATION, SimParams
from hrl_autoscaler.runtime.core.objectives import OBJECTIVES
from hrl_autoscaler.tools.argtypes import integer, number

DESCRIPTION = (
    "Run every controller on the same episodes (same load, same noise per seed) and "
    "report R_meta, the SLO score, latency, cost and scaling activity with 95% intervals."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hrl_autoscaler.research.baselines.registry import accepted_names
    from hrl_autoscaler.research.sim.workloads import SCENARIOS

    parser.description = DESCRIPTION
    workload = parser.add_mutually_exclusive_group()
    workload.add_argument(
        "--scenario", choices=sorted(SCENARIOS), help="named IoT workload (default smart-hospital)"
    )
    workload.add_argument(
        "--trace",
        type=Path,
        metavar="PATH",
        help="CSV with header timestamp,value (events in each interval) to replay instead",
    )
    parser.add_argument(
        "--peak-rate",
        type=number(),
        metavar="EPS",
        help="scale the workload so its peak is EPS events/s "
        "(default: the scenario's; a trace's own)",
    )
    parser.add_argument(
        "--controllers",
        default=",".join(EVALUATION.controllers),
        help=f"comma-separated controllers; accepted: {', '.join(accepted_names())} "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--seeds",
        type=integer(1),
        default=EVALUATION.seeds,
        help="episodes per controller (default %(default)s)",
    )
    parser.add_argument(
        "--first-seed",
        type=integer(0),
        default=0,
        help="evaluate seeds FIRST .. FIRST+SEEDS-1, e.g. a held-out range you never chose "
        "anything on (default %(default)s)",
    )
    parser.add_argument(
        "--episode-steps",
        type=integer(1),
        default=None,
        help=f"decision intervals per episode (default {EVALUATION.episode_steps} = one day; "
        "a trace's own length)",
    )
    parser.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="slo",
        help="what 'best' means (default %(default)s)",
    )
    parser.add_argument(
        "--latency-slo-ms",
        type=number(),
        default=None,
        help="latency SLO for the slo objective and the violation column (default: the scenario's)",
    )
    parser.add_argument(
        "--actuation",
        choices=ACTUATIONS,
        default=SimParams.actuation,
        help="in-place: no restart on scaling; restart: every change restarts the app "
        "(default %(default)s)",
    )
    add_calibration_argument(parser)
    parser.add_argument(
        "--workers", type=int, default=None, help="parallel processes (default: one per core)"
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    parser.add_argument(
        "--plot", type=Path, metavar="OUT.png", help="write load, executors and latency over time"
    )


def run(args: argparse.Namespace) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from hrl_autoscaler.research.baselines.registry import parse_controllers
    from hrl_autoscaler.research.evaluation.report import (
        paired_lines,
        result_table,
        write_json,
        write_plot,
    )
    from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, run_evaluation

    controllers = parse_controllers(args.controllers)
    scenario = args.scenario if args.trace is None else None
    if scenario is None and args.trace is None:
        scenario = "smart-hospital"
    params = calibrated(args.calibration, SimParams(actuation=args.actuation))
    peak_rate = args.peak_rate
    if args.calibration is not None and peak_rate is None and scenario is not None:
        peak_rate = calibrated_peak(scenario, params)
        console.print(f"{scenario} peak rescaled to {peak_rate:,.0f} events/s")
    spec = EvaluationSpec(
        controllers=tuple(controllers),
        scenario=scenario,
        trace_path=args.trace,
        peak_rate_eps=peak_rate,
        seeds=args.seeds,
        first_seed=args.first_seed,
        episode_steps=args.episode_steps
        if (args.episode_steps or args.trace)
        else EVALUATION.episode_steps,
        objective=args.objective,
        latency_slo_ms=args.latency_slo_ms,
        params=params,
    )
    if args.trace is not None:
        from hrl_autoscaler.research.evaluation.runner import episode_load

        episode_load(spec, 0)  # a bad trace fails here, before any worker starts
    started = time.perf_counter()
    total = len(controllers) * spec.seeds
    with Progress(
        TextColumn("[bold]evaluate[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(spec.workload_name, total=total)
        result = run_evaluation(
            spec, workers=args.workers, on_episode=lambda name, seed: progress.advance(task)
        )
    out.print(result_table(result))
    for line in paired_lines(result):
        out.print(line)
    console.print(f"evaluated {total} episodes in {time.perf_counter() - started:.1f} s")
    if args.json:
        write_json(result, args.json)
        console.print(f"wrote {args.json}")
    if args.plot:
        write_plot(result, args.plot)
        console.print(f"wrote {args.plot}")
    return 0
