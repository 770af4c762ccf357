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

from hrl_autoscaler.cli.types import integer, number
from hrl_autoscaler.config import ACTUATIONS, EVALUATION, SimParams
from hrl_autoscaler.runtime.core.objectives import OBJECTIVES

console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 160)

DESCRIPTION = """\
Autoscale Spark streaming applications on Kubernetes with hierarchical reinforcement learning.

Subcommands:
  evaluate   compare controllers (baselines, RL agents, the oracle) on the simulator
  ablation   the seed's ablation: fixed vs meta-learned weights, every scenario and objective
  loadgen    IoT sensor events at a scenario's, a trace's or a constant rate (files or Kafka)
  calibrate  measure the real Spark IoT job on a standalone cluster and fit the simulator
  train      train the PPO executor policy (train ppo) or a TD3 meta-controller (train meta)
  scenarios  list the built-in IoT workload scenarios
  bench      measure the simulator (sim), one policy decision (policy) or the operator (operator)
  run        the operator: autoscale labelled SparkApplications (kopf)
  demo       the main job: the operator live on a local control plane with emulated Spark
  dev        the local control plane (kube-apiserver, etcd, Prometheus) for tests and demos
  dashboard  run the Grafana dashboard's queries against Prometheus (check) or draw it (render)

Run `hrl-autoscaler SUBCOMMAND --help` for the options of each.
"""


def _add_calibration_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--calibration",
        type=Path,
        metavar="PATH",
        help="simulator parameters fitted by `hrl-autoscaler calibrate` (a calibration.json); "
        "a scenario's default peak is rescaled to the calibrated cluster's capacity",
    )


def _calibrated(path: Path | None, params: SimParams) -> SimParams:
    """``params`` with a calibration file's fitted values, or unchanged without one."""
    if path is None:
        return params
    from hrl_autoscaler.research.calibration.schema import load_sim_params

    calibrated = load_sim_params(path, params)
    console.print(f"calibration {path}: {calibrated.executor_rate_eps:,.0f} events/s per executor")
    return calibrated


def _calibrated_peak(scenario_name: str, params: SimParams) -> float:
    from hrl_autoscaler.research.calibration.schema import calibrated_peak_rate
    from hrl_autoscaler.research.sim.workloads import scenario

    return calibrated_peak_rate(scenario(scenario_name).peak_rate_eps, params)


def _add_evaluate_args(p: argparse.ArgumentParser) -> None:
    from hrl_autoscaler.research.baselines.registry import accepted_names
    from hrl_autoscaler.research.sim.workloads import SCENARIOS

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
        type=number(),
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
        type=integer(1),
        default=EVALUATION.seeds,
        help="episodes per controller (default %(default)s)",
    )
    p.add_argument(
        "--episode-steps",
        type=integer(1),
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
        type=number(),
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
    _add_calibration_arg(p)
    p.add_argument(
        "--workers", type=int, default=None, help="parallel processes (default: one per core)"
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    p.add_argument(
        "--plot", type=Path, metavar="OUT.png", help="write load, executors and latency over time"
    )


def _run_evaluate(args: argparse.Namespace) -> int:
    from hrl_autoscaler.research.baselines.registry import parse_controllers
    from hrl_autoscaler.research.evaluation.report import result_table, write_json, write_plot
    from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, run_evaluation

    controllers = parse_controllers(args.controllers)
    scenario = args.scenario if args.trace is None else None
    if scenario is None and args.trace is None:
        scenario = "smart-hospital"
    params = _calibrated(args.calibration, SimParams(actuation=args.actuation))
    peak_rate = args.peak_rate
    if args.calibration is not None and peak_rate is None and scenario is not None:
        peak_rate = _calibrated_peak(scenario, params)
        console.print(f"{scenario} peak rescaled to {peak_rate:,.0f} events/s")
    spec = EvaluationSpec(
        controllers=tuple(controllers),
        scenario=scenario,
        trace_path=args.trace,
        peak_rate_eps=peak_rate,
        seeds=args.seeds,
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
    console.print(f"evaluated {total} episodes in {time.perf_counter() - started:.1f} s")
    if args.json:
        write_json(result, args.json)
        console.print(f"wrote {args.json}")
    if args.plot:
        write_plot(result, args.plot)
        console.print(f"wrote {args.plot}")
    return 0


def _run_train(args: argparse.Namespace) -> int:
    try:
        if args.agent == "ppo":
            from hrl_autoscaler.research.train.ppo import PPOConfig, train_ppo

            meta = train_ppo(
                PPOConfig(timesteps=args.timesteps or PPOConfig.timesteps, seed=args.seed), args.out
            )
        else:
            from hrl_autoscaler.research.train.meta import MetaConfig, train_meta

            config = MetaConfig(
                objective=args.objective,
                timesteps=args.timesteps or MetaConfig.timesteps,
                gamma=args.gamma if args.gamma is not None else MetaConfig.gamma,
                seed=args.seed,
            )
            meta = train_meta(config, args.ppo, args.out)
    except ImportError as exc:
        raise SystemExit(
            f"training needs the [train] extra (torch, stable-baselines3): {exc}"
        ) from None
    training = meta["training"]
    console.print(
        f"trained {training['algorithm']} for {training['timesteps']:,} steps "
        f"in {training['seconds']:.0f} s; "
        f"final mean return {training['final_mean_return']}; wrote {args.out}"
    )
    return 0


def _run_ablation(args: argparse.Namespace) -> int:
    from hrl_autoscaler.research.evaluation.ablation import run_ablation, write_outputs
    from hrl_autoscaler.research.sim.workloads import SCENARIOS

    command = (
        f"hrl-autoscaler ablation --seeds {args.seeds} --episode-steps {args.episode_steps} "
        f"--actuation {args.actuation} --out {args.out}"
        + (f" --calibration {args.calibration}" if args.calibration else "")
    )
    params = _calibrated(args.calibration, SimParams(actuation=args.actuation))
    peaks = None
    if args.calibration is not None:
        peaks = {name: _calibrated_peak(name, params) for name in SCENARIOS}
        console.print(
            "scenario peaks rescaled to its capacity: "
            + ", ".join(f"{name} {peak:,.0f}" for name, peak in peaks.items())
            + " events/s"
        )
    started = time.perf_counter()
    with console.status("ablation") as status:
        rows = run_ablation(
            args.seeds,
            args.episode_steps,
            params,
            on_progress=lambda what: status.update(f"ablation: {what}"),
            peak_rates=peaks,
        )
    found = write_outputs(rows, args.out, command)
    out.print((args.out / "ablation.md").read_text())
    console.print(f"ablation done in {time.perf_counter() - started:.0f} s; wrote {args.out}")
    return 0 if all(t.met for t in found) or not args.strict else 1


def _run_scenarios(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hrl_autoscaler.research.sim.workloads import SCENARIOS

    table = Table(title="IoT workload scenarios")
    for col in ("name", "peak events/s", "latency SLO ms", "description"):
        table.add_column(col)
    for s in SCENARIOS.values():
        table.add_row(s.name, f"{s.peak_rate_eps:,.0f}", f"{s.latency_slo_ms:,.0f}", s.description)
    out.print(table)
    return 0


def _run_bench(args: argparse.Namespace) -> int:
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


def _run_demo(args: argparse.Namespace) -> int:
    try:
        from hrl_autoscaler.tools.demo.live import run_demo
    except ImportError as exc:
        raise SystemExit(f"the demo needs the [k8s] extra (kopf, kubernetes): {exc}") from None
    return run_demo(args.duration, args.speed, args.report_dir, live=not args.no_live)


def _run_loadgen(args: argparse.Namespace) -> int:
    from hrl_autoscaler.tools.loadgen.command import run_loadgen_command

    return run_loadgen_command(args, console, out)


def _run_dashboard(args: argparse.Namespace) -> int:
    from hrl_autoscaler.tools.dashboard.command import run as run_dashboard

    return run_dashboard(args)


def _run_calibrate(args: argparse.Namespace) -> int:
    from hrl_autoscaler.research.calibration.command import run_calibrate_command

    return run_calibrate_command(args, console)


def _run_operator(args: argparse.Namespace) -> int:
    from hrl_autoscaler.runtime.service.command import run_command

    return run_command(args)


def _run_dev(dev_args: list[str]) -> int:
    try:
        from hrl_autoscaler.tools.devenv.cli import main as dev_main
    except ImportError as exc:
        raise SystemExit(f"the local control plane needs the [k8s] extra: {exc}") from None
    return dev_main(dev_args)


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

    be = sub.add_parser(
        "bench", help="benchmarks (sim: simulator steps/s; policy: one decision's latency)"
    )
    be.add_argument("target", choices=["sim", "policy", "operator"], help="what to measure")
    be.add_argument(
        "--steps", type=integer(1), default=100_000, help="steps to time (default %(default)s)"
    )
    be.add_argument("--json", type=Path, metavar="OUT", help="write the result as JSON")
    be.add_argument(
        "--apps",
        type=integer(1),
        default=200,
        help="operator only: SparkApplications to manage (default %(default)s)",
    )
    be.add_argument(
        "--cycles",
        type=integer(1),
        default=20,
        help="operator only: decision cycles to measure (default %(default)s)",
    )
    be.set_defaults(func=_run_bench)

    ab = sub.add_parser(
        "ablation",
        help="fixed vs meta-learned weights beside every baseline, all scenarios",
        description="Evaluate static-max, hpa, spark-da, ds2, ppo-fixed, hrl and the oracle on "
        "every scenario under both objectives; write ablation.json, ablation.md (tables and "
        "targets) and ablation.png into --out.",
    )
    ab.add_argument("--seeds", type=integer(1), default=5)
    ab.add_argument("--episode-steps", type=integer(1), default=EVALUATION.episode_steps)
    ab.add_argument("--actuation", choices=ACTUATIONS, default=SimParams.actuation)
    ab.add_argument("--out", type=Path, default=Path("docs/ablation"))
    _add_calibration_arg(ab)
    ab.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")
    ab.set_defaults(func=_run_ablation)

    tr = sub.add_parser(
        "train",
        help="train the PPO executor policy or a TD3 meta-controller",
        description="train ppo: the contextual PPO executor policy (weights drawn per episode, "
        "scenarios mixed). train meta: a TD3 meta-controller for one objective on top of a frozen "
        "PPO policy. Both show a progress bar and write SB3 files, a numpy export, a learning "
        "curve and metadata.json (sha256 of every file) into --out.",
    )
    tr.add_argument("agent", choices=["ppo", "meta"], help="which agent")
    tr.add_argument(
        "--timesteps", type=integer(1), help="environment steps (default: the config's)"
    )
    tr.add_argument("--out", type=Path, required=True, help="artifact directory to write")
    tr.add_argument(
        "--ppo", type=Path, default=Path("policies/ppo"), help="frozen PPO artifact (meta only)"
    )
    tr.add_argument(
        "--objective", choices=OBJECTIVES, default="slo", help="meta only (default %(default)s)"
    )
    tr.add_argument("--gamma", type=float, help="TD3 discount (meta only; default: the config's)")
    tr.add_argument("--seed", type=int, default=0)
    tr.set_defaults(func=_run_train)

    de = sub.add_parser(
        "demo",
        help="the operator live: local control plane, emulated Spark, three applications",
        description="Start a local kube-apiserver, etcd and Prometheus, the emulated Spark data "
        "plane (accelerated) with three applications on different scenarios and weight "
        "policies, and the operator as its own process; show a live table, then write "
        "demo.json and demo.png into --report-dir and stop everything it started.",
    )
    de.add_argument(
        "--duration",
        type=number(),
        default=180.0,
        help="wall seconds to run (default %(default)s)",
    )
    de.add_argument(
        "--speed",
        type=number(),
        default=20.0,
        help="simulated seconds per wall second (default %(default)s: 3 minutes show an hour)",
    )
    de.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports/demo"),
        help="where to write (default %(default)s)",
    )
    de.add_argument("--no-live", action="store_true", help="print progress lines, no live table")
    de.set_defaults(func=_run_demo)

    ru = sub.add_parser(
        "run",
        help="the operator: autoscale SparkApplications labelled hrl-autoscaler.io/enabled",
        description="Watch SparkApplications labelled hrl-autoscaler.io/enabled=true, decide "
        "their executor counts from Prometheus metrics every decision interval (PPO + "
        "guardrails, DS2 fallback), retune reward weights every meta interval (TD3), and "
        "report with events, a state ConfigMap per application and /metrics. Settings: "
        "defaults < --config YAML < HRL_AUTOSCALER_* environment < flags.",
    )
    from hrl_autoscaler.runtime.service.command import add_run_arguments

    add_run_arguments(ru)
    ru.set_defaults(func=_run_operator)

    from hrl_autoscaler.tools.dashboard.command import HELP as DASHBOARD_HELP
    from hrl_autoscaler.tools.dashboard.command import add_arguments as add_dashboard_arguments

    da = sub.add_parser(
        "dashboard",
        help="the Grafana dashboard's queries against Prometheus: check them, or render a PNG",
        description=DASHBOARD_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dashboard_arguments(da)
    da.set_defaults(func=_run_dashboard)

    from hrl_autoscaler.tools.loadgen.command import DESCRIPTION as LOADGEN_DESCRIPTION
    from hrl_autoscaler.tools.loadgen.command import add_loadgen_arguments

    lg = sub.add_parser(
        "loadgen",
        help="IoT sensor events at a scheduled rate into a directory or Kafka",
        description=LOADGEN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_loadgen_arguments(lg)
    lg.set_defaults(func=_run_loadgen)

    from hrl_autoscaler.research.calibration.command import DESCRIPTION as CALIBRATE_DESCRIPTION
    from hrl_autoscaler.research.calibration.command import add_calibrate_arguments

    ca = sub.add_parser(
        "calibrate",
        help="measure the real Spark IoT job on a standalone cluster and fit the simulator",
        description=CALIBRATE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_calibrate_arguments(ca)
    ca.set_defaults(func=_run_calibrate)

    # `dev` has its own parser (tools.devenv.cli); main() hands it everything after `dev`.
    sub.add_parser("dev", help="local control plane: build, up, down, status", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "dev":
        return _run_dev(argv[1:])
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
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)  # one line: greppable
        return 2


