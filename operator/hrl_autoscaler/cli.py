"""The ``hrl-autoscaler`` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hrl_autoscaler.config import ACTUATIONS, EVALUATION, SimParams
from hrl_autoscaler.core.objectives import OBJECTIVES

console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 160)

DESCRIPTION = """\
Autoscale Spark streaming applications on Kubernetes with hierarchical reinforcement learning.

Subcommands:
  evaluate   compare controllers (baselines, RL agents, the oracle) on the simulator
  scenarios  list the built-in IoT workload scenarios
  bench      measure the simulator's speed
  demo       the main job: today, an evaluation on one scenario with its table and plot
  dev        the local control plane (kube-apiserver, etcd, Prometheus) for tests and demos

Run `hrl-autoscaler SUBCOMMAND --help` for the options of each.
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _add_evaluate_args(p: argparse.ArgumentParser) -> None:
    from hrl_autoscaler.baselines.registry import accepted_names
    from hrl_autoscaler.sim.workloads import SCENARIOS

    workload = p.add_mutually_exclusive_group()
    workload.add_argument(
        "--scenario", choices=sorted(SCENARIOS), help="named IoT workload (default smart-hospital)"
    )
    workload.add_argument(
        "--trace",
        type=Path,
        metavar="PATH",
        help="CSV with header timestamp,value (events in each interval) to replay instead",
    )
    p.add_argument(
        "--peak-rate",
        type=_positive_float,
        metavar="EPS",
        help="scale the workload so its peak is EPS events/s "
        "(default: the scenario's; a trace's own)",
    )
    p.add_argument(
        "--controllers",
        default=",".join(EVALUATION.controllers),
        help=f"comma-separated controllers; accepted: {', '.join(accepted_names())} "
        "(default %(default)s)",
    )
    p.add_argument(
        "--seeds",
        type=_positive_int,
        default=EVALUATION.seeds,
        help="episodes per controller (default %(default)s)",
    )
    p.add_argument(
        "--episode-steps",
        type=_positive_int,
        default=None,
        help=f"decision intervals per episode (default {EVALUATION.episode_steps} = one day; "
        "a trace's own length)",
    )
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="slo",
        help="what 'best' means (default %(default)s)",
    )
    p.add_argument(
        "--latency-slo-ms",
        type=_positive_float,
        default=None,
        help="latency SLO for the slo objective and the violation column (default: the scenario's)",
    )
    p.add_argument(
        "--actuation",
        choices=ACTUATIONS,
        default=SimParams.actuation,
        help="in-place: no restart on scaling; restart: every change restarts the app "
        "(default %(default)s)",
    )
    p.add_argument(
        "--workers", type=int, default=None, help="parallel processes (default: one per core)"
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    p.add_argument(
        "--plot", type=Path, metavar="OUT.png", help="write load, executors and latency over time"
    )


def _run_evaluate(args: argparse.Namespace) -> int:
    from hrl_autoscaler.baselines.registry import parse_controllers
    from hrl_autoscaler.evaluation.report import result_table, write_json, write_plot
    from hrl_autoscaler.evaluation.runner import EvaluationSpec, run_evaluation

    controllers = parse_controllers(args.controllers)
    scenario = args.scenario if args.trace is None else None
    if scenario is None and args.trace is None:
        scenario = "smart-hospital"
    spec = EvaluationSpec(
        controllers=tuple(controllers),
        scenario=scenario,
        trace_path=args.trace,
        peak_rate_eps=args.peak_rate,
        seeds=args.seeds,
        episode_steps=args.episode_steps
        if (args.episode_steps or args.trace)
        else EVALUATION.episode_steps,
        objective=args.objective,
        latency_slo_ms=args.latency_slo_ms,
        params=SimParams(actuation=args.actuation),
    )
    if args.trace is not None:
        from hrl_autoscaler.evaluation.runner import episode_load

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
    console.print(f"evaluated {total} episodes in {time.perf_counter() - started:.1f} s")
    if args.json:
        write_json(result, args.json)
        console.print(f"wrote {args.json}")
    if args.plot:
        write_plot(result, args.plot)
        console.print(f"wrote {args.plot}")
    return 0


def _run_scenarios(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hrl_autoscaler.sim.workloads import SCENARIOS

    table = Table(title="IoT workload scenarios")
    for col in ("name", "peak events/s", "latency SLO ms", "description"):
        table.add_column(col)
    for s in SCENARIOS.values():
        table.add_row(s.name, f"{s.peak_rate_eps:,.0f}", f"{s.latency_slo_ms:,.0f}", s.description)
    out.print(table)
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from hrl_autoscaler.bench.sim import bench_sim

    if args.target != "sim":
        raise SystemExit(f"unknown benchmark {args.target!r}; accepted: sim")
    console.print(f"stepping the simulator {args.steps:,} times on one core ...")
    result = bench_sim(steps=args.steps)
    payload = asdict(result)
    out.print_json(json.dumps(payload))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    args.report_dir.mkdir(parents=True, exist_ok=True)
    ns = build_parser().parse_args(
        [
            "evaluate",
            "--scenario",
            args.scenario,
            "--seeds",
            str(args.seeds),
            "--episode-steps",
            str(args.episode_steps),
            "--json",
            str(args.report_dir / "evaluation.json"),
            "--plot",
            str(args.report_dir / "evaluation.png"),
        ]
    )
    return _run_evaluate(ns)


def _run_dev(args: argparse.Namespace) -> int:
    try:
        from hrl_autoscaler.devenv.cli import main as dev_main
    except ImportError as exc:
        raise SystemExit(f"the local control plane is not available: {exc}") from None
    return dev_main(args.dev_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrl-autoscaler",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    ev = sub.add_parser(
        "evaluate",
        help="compare controllers on the simulator",
        description="Run every controller on the same episodes (same load, same noise per seed) "
        "and "
        "report R_meta, the SLO score, latency, cost and scaling activity with 95%% intervals.",
    )
    _add_evaluate_args(ev)
    ev.set_defaults(func=_run_evaluate)

    sc = sub.add_parser("scenarios", help="list the built-in IoT workload scenarios")
    sc.set_defaults(func=_run_scenarios)

    be = sub.add_parser("bench", help="benchmarks (sim: simulator steps per second)")
    be.add_argument("target", choices=["sim"], help="what to measure")
    be.add_argument(
        "--steps", type=_positive_int, default=100_000, help="steps to time (default %(default)s)"
    )
    be.add_argument("--json", type=Path, metavar="OUT", help="write the result as JSON")
    be.set_defaults(func=_run_bench)

    de = sub.add_parser(
        "demo",
        help="the main job (today: an evaluation on one scenario with table and plot)",
        description="Until the operator lands, the demo evaluates every baseline and the oracle "
        "on one "
        "scenario and writes evaluation.json and evaluation.png into --report-dir.",
    )
    de.add_argument("--scenario", default="smart-hospital", help="scenario (default %(default)s)")
    de.add_argument("--seeds", type=_positive_int, default=3, help="seeds (default %(default)s)")
    de.add_argument("--episode-steps", type=_positive_int, default=EVALUATION.episode_steps)
    de.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports/demo"),
        help="where to write (default %(default)s)",
    )
    de.set_defaults(func=_run_demo)

    dv = sub.add_parser("dev", help="local control plane: build, up, down, status", add_help=False)
    dv.add_argument("dev_args", nargs=argparse.REMAINDER)
    dv.set_defaults(func=_run_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except (
        ValueError
    ) as exc:  # bad inputs (trace files, names, ranges): one clear line, no traceback
        console.print(f"[bold red]error:[/] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
