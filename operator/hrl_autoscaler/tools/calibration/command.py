"""``hrl-autoscaler calibrate``: measure the real job, fit the simulator, write the outputs."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hrl_autoscaler.config import CALIBRATION, LOADGEN
from hrl_autoscaler.tools.argtypes import integer, number, positive_list
from hrl_autoscaler.tools.terminal import console

if TYPE_CHECKING:  # scipy, matplotlib and pydantic models load only when the command runs
    from hrl_autoscaler.tools.calibration.fit import PredictionRow
    from hrl_autoscaler.tools.calibration.plan import CalibrationPlan, KubernetesTarget
    from hrl_autoscaler.tools.calibration.schema import Calibration, LoadStep

DESCRIPTION = f"""\
Measure the real Spark IoT job and fit the simulator's parameters to it.

Starts a throwaway Spark standalone cluster (master + worker on 127.0.0.1), runs the IoT
Structured Streaming job in this process as the driver, and for each --executors count offers
rising rates from the load generator (doubling from --start-rate per executor until the job
falls behind, then --refine bisection steps near the knee), each held --step seconds. It
records every micro-batch (duration, rows, event latency), times in-place executor additions
and removals, fits the simulator (executor_rate_eps, scaling_contention, batch_overhead_s,
task_time_s, startup_delay_s) with scipy, and judges the fit: the simulated mean batch
duration within {CALIBRATION.latency_target:.0%} of the measured one on every sustainable step.

Writes into --out: calibration.json (schema-versioned: raw measurements, fitted values,
machine, Spark version; load it with `evaluate --calibration`), measurements.csv (every
batch), calibration.png (measured vs simulated) and calibration.md (the error table).
With --kubeconfig the executors are pods on that cluster's node instead (our Spark image,
started by Spark's Kubernetes backend; the driver stays in this process, in client mode), so
the same measurement shows what Kubernetes adds (pod start-up, the pod network).

Needs pyspark (the [spark] extra) and Java 17. Stops everything it starts.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    c = CALIBRATION
    parser.add_argument(
        "--executors",
        type=positive_list(int, "executor counts"),
        default=c.executors,
        metavar="N,N",
        help=f"executor counts to measure (default {','.join(map(str, c.executors))}: "
        "two fit a 2-core machine)",
    )
    parser.add_argument(
        "--start-rate",
        type=number(),
        default=c.start_rate_eps,
        metavar="EPS",
        help="first rate, events/s per executor (default %(default)s)",
    )
    parser.add_argument(
        "--max-rate",
        type=number(),
        default=c.max_rate_eps,
        metavar="EPS",
        help="stop doubling past this, events/s per executor (default %(default)s)",
    )
    parser.add_argument(
        "--rates",
        type=positive_list(float, "events/s"),
        metavar="EPS,EPS",
        help="explicit rates per executor instead of doubling (no refinement)",
    )
    parser.add_argument(
        "--refine",
        type=integer(0),
        default=c.refine,
        metavar="N",
        help="bisection steps near the saturation knee (default %(default)s)",
    )
    parser.add_argument(
        "--step",
        type=number(),
        default=c.step_s,
        metavar="S",
        help="seconds per rate (default %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=c.warmup_s,
        metavar="S",
        help="seconds of each step not counted (default %(default)s)",
    )
    parser.add_argument(
        "--trigger",
        type=number(),
        default=c.trigger_s,
        metavar="S",
        help="the job's processing-time trigger (default %(default)s)",
    )
    parser.add_argument(
        "--tick",
        type=number(),
        default=c.tick_s,
        metavar="S",
        help="load generator file interval (default %(default)s)",
    )
    parser.add_argument(
        "--scale-repeats",
        type=integer(0),
        default=c.scale_repeats,
        metavar="N",
        help="in-place remove/add timings per direction (default %(default)s)",
    )
    parser.add_argument(
        "--max-foreign-cores",
        type=number(),
        default=c.max_foreign_cores,
        metavar="CORES",
        help="repeat a step while other processes use more CPU than this (default %(default)s)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=number(),
        default=c.drain_timeout_s,
        metavar="S",
        help="wait at most this long for a backlog to drain (default %(default)s)",
    )
    parser.add_argument(
        "--work-factor",
        type=integer(0),
        metavar="N",
        help="the IoT job's CPU work per event (default: the job's own default)",
    )
    parser.add_argument(
        "--executor-memory",
        default=c.executor_memory,
        metavar="MEM",
        help="memory per 1-core executor (default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=LOADGEN.seed, help="load seed (default %(default)s)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(c.out_dir),
        metavar="DIR",
        help="where to write the outputs (default %(default)s)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="cluster, input and checkpoint files (default: a temporary directory, removed)",
    )
    k8s = parser.add_argument_group(
        "executors on Kubernetes (instead of a standalone cluster; the driver stays here, in "
        "Spark's client mode)"
    )
    k8s.add_argument(
        "--kubeconfig",
        type=Path,
        metavar="FILE",
        help="run the executors as pods on this cluster's node (one node: the work directory "
        "is mounted into them with hostPath), e.g. the one `hrl-autoscaler dev up --node` starts",
    )
    k8s.add_argument(
        "--image",
        metavar="REF",
        help="the executors' image, already on the node (with --kubeconfig; default: the "
        "Spark image `hrl-autoscaler dev image build --target spark-job` builds)",
    )
    k8s.add_argument("--namespace", default="hrl-calibration", help="of the executor pods")
    parser.add_argument(
        "--refit",
        type=Path,
        metavar="CALIBRATION.json",
        help="no Spark: refit an existing calibration file's measurements and rewrite outputs",
    )


def _kubernetes(args: argparse.Namespace) -> KubernetesTarget | None:
    from hrl_autoscaler.tools.calibration.plan import KubernetesTarget

    if args.kubeconfig is None:
        if args.image is not None:
            raise ValueError("--image needs --kubeconfig (the cluster whose node runs it)")
        return None
    if not args.kubeconfig.is_file():
        raise ValueError(f"--kubeconfig {args.kubeconfig}: no such file")
    image = args.image
    if image is None:
        from hrl_autoscaler.tools.devenv.images.settings import SparkImageSettings

        image = SparkImageSettings().ref
    return KubernetesTarget(args.kubeconfig, image, args.namespace)


def _plan(args: argparse.Namespace, work_dir: Path) -> CalibrationPlan:
    from hrl_autoscaler.tools.calibration.plan import CalibrationPlan

    return CalibrationPlan(
        kubernetes=_kubernetes(args),
        work_dir=work_dir,
        executors=tuple(int(n) for n in args.executors),
        start_rate_eps=args.start_rate,
        max_rate_eps=args.max_rate,
        rates_eps=args.rates,
        refine=args.refine,
        step_s=args.step,
        warmup_s=args.warmup,
        trigger_s=args.trigger,
        tick_s=args.tick,
        seed=args.seed,
        executor_memory=args.executor_memory,
        scale_repeats=args.scale_repeats,
        drain_timeout_s=args.drain_timeout,
        work_factor=args.work_factor,
        max_foreign_cores=args.max_foreign_cores,
    )


def step_line(step: LoadStep) -> str:
    """One measured step, as it finishes."""
    verdict = "[red]saturated[/]" if step.saturated else "[green]sustained[/]"
    if step.contended:
        verdict += " [yellow](contended: not fitted)[/]"
    foreign = step.foreign_cpu_cores
    others = f", others used {foreign:.2f} cores" if foreign is not None else ""
    latency = (
        f", event latency {step.mean_event_latency_s:.2f} s"
        if step.mean_event_latency_s is not None
        else ""
    )
    return (
        f"{step.executors} executor(s) at {step.produced_eps:,.0f} events/s: "
        f"{len(step.batches)} batches, mean {step.mean_batch_s:.2f} s, "
        f"{step.mean_input_rows:,.0f} rows, {step.input_eps:,.0f} events/s through{latency}"
        f"{others}: {verdict}"
    )


def result_table(calibration: Calibration) -> Table:
    q = calibration.quality
    table = Table(title="calibrated simulator vs measured mean micro-batch duration")
    for col in ("executors", "offered eps", "measured s", "simulated s", "error", "judged"):
        table.add_column(col, justify="right")
    for p in q.predictions:
        table.add_row(
            str(p.executors),
            f"{p.offered_eps:,.0f}",
            f"{p.measured_batch_s:.3f}",
            f"{p.simulated_batch_s:.3f}",
            f"{p.relative_error:+.1%}",
            "yes" if p.in_range else "contended" if p.contended else "saturated",
        )
    return table


def write_outputs(calibration: Calibration, rows: list[PredictionRow], out_dir: Path) -> None:
    from hrl_autoscaler.tools.calibration.report import (
        write_markdown,
        write_measurements_csv,
        write_plot,
    )

    calibration.write(out_dir / "calibration.json")
    write_measurements_csv(calibration.steps, out_dir / "measurements.csv")
    write_plot(calibration, rows, out_dir / "calibration.png")
    write_markdown(calibration, out_dir / "calibration.md")


def command_line(args: argparse.Namespace) -> str:
    """The effective command, defaults spelled out: what the calibration file records."""
    parts = [
        "hrl-autoscaler",
        "calibrate",
        "--executors",
        ",".join(str(int(n)) for n in args.executors),
    ]
    if args.rates is not None:
        parts += ["--rates", ",".join(f"{r:g}" for r in args.rates)]
    else:
        parts += [
            "--start-rate",
            f"{args.start_rate:g}",
            "--max-rate",
            f"{args.max_rate:g}",
            "--refine",
            str(args.refine),
        ]
    parts += [
        "--step",
        f"{args.step:g}",
        "--warmup",
        f"{args.warmup:g}",
        "--trigger",
        f"{args.trigger:g}",
        "--tick",
        f"{args.tick:g}",
        "--scale-repeats",
        str(args.scale_repeats),
        "--max-foreign-cores",
        f"{args.max_foreign_cores:g}",
        "--executor-memory",
        args.executor_memory,
        *(["--work-factor", str(args.work_factor)] if args.work_factor is not None else []),
        "--seed",
        str(args.seed),
        "--out",
        str(args.out),
    ]
    if args.kubeconfig is not None:
        parts += ["--kubeconfig", str(args.kubeconfig), "--namespace", args.namespace]
        parts += ["--image", args.image] if args.image else []
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """Measure (or refit), fit, print the error table and write everything into ``--out``."""
    from hrl_autoscaler.tools.calibration.build import build_calibration
    from hrl_autoscaler.tools.calibration.measure import Measurements, run_measurements

    command = command_line(args)
    if args.refit is not None:
        from hrl_autoscaler.tools.calibration.schema import load_calibration

        old = load_calibration(args.refit)
        measurements = Measurements(
            steps=list(old.steps), scaling=list(old.scaling), machine=old.machine, spark=old.spark
        )
        command = old.command
        created: str | None = old.created
    else:
        created = None
        temporary = args.work_dir is None
        work_dir = Path(tempfile.mkdtemp(prefix="hrl-calibrate-")) if temporary else args.work_dir
        plan = _plan(args, work_dir)
        started = time.monotonic()
        try:
            with Progress(
                TextColumn("[bold]calibrate[/] {task.description}"),
                BarColumn(),
                TextColumn("{task.completed:>4.0f}/{task.total:.0f} s"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task("starting", total=1.0)

                def status(what: str, done: float, total: float) -> None:
                    progress.update(task, description=what, completed=done, total=total)

                def step_done(step: LoadStep) -> None:
                    progress.console.print(step_line(step))

                measurements = run_measurements(plan, status, step_done)
        finally:
            if temporary:
                shutil.rmtree(work_dir, ignore_errors=True)
        console.print(
            f"measured {len(measurements.steps)} steps in {time.monotonic() - started:.0f} s"
        )
    assert measurements.machine is not None
    assert measurements.spark is not None
    calibration, rows = build_calibration(
        measurements.steps,
        measurements.scaling,
        measurements.machine,
        measurements.spark,
        command,
        created=created,
    )
    write_outputs(calibration, rows, args.out)
    Console(file=sys.stdout, width=120).print(result_table(calibration))
    q, f = calibration.quality, calibration.fitted
    console.print(
        f"fitted: {f.executor_rate_eps:,.0f} events/s per executor, sigma "
        f"{f.scaling_contention:.3f}, overhead {f.batch_overhead_s:.3f} s, task time "
        f"{f.task_time_s:.3f} s, start-up {f.startup_delay_s:.1f} s"
    )
    console.print(
        f"target (|error| <= {q.target:.0%} on sustainable steps): "
        + ("[green]met[/]" if q.met else "[red]not met[/]")
        + f"; max {q.max_abs_error:.1%}, mean {q.mean_abs_error:.1%}; wrote {args.out}"
    )
    return 0
