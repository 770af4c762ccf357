"""``hrl-autoscaler loadgen``: arguments, validation with messages that name the option, and
the run with a rich progress bar and a summary table."""

from __future__ import annotations

import argparse
import math
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hrl_autoscaler.config import LOADGEN
from hrl_autoscaler.research.sim.traces import parse_time
from hrl_autoscaler.tools.argtypes import integer, number
from hrl_autoscaler.tools.loadgen.events import SCENARIO_MIX, EventFactory, device_mix
from hrl_autoscaler.tools.loadgen.runner import EventCounter, LoadgenReport, run_loadgen
from hrl_autoscaler.tools.loadgen.schedule import (
    Schedule,
    constant_schedule,
    scenario_schedule,
    trace_schedule,
)
from hrl_autoscaler.tools.loadgen.sinks import KAFKA_CLIENT, DirectorySink, KafkaSink, Sink
from hrl_autoscaler.tools.terminal import console, out

DESCRIPTION = f"""\
Write IoT sensor events (device id, device type, event time, reading; occasional anomalies)
at a scheduled rate, for the Spark job to consume and for calibration.

Rate (choose one):
  --rate EPS           constant events per second
  --scenario NAME      a simulator scenario ({", ".join(sorted(SCENARIO_MIX))}),
                       compressed in time by --speed, peak scaled by --peak-rate
  --trace CSV          replay a trace (header timestamp,value = events per row's interval)

Sink (choose one):
  --out DIR            one file per tick, DIR/part-<epoch_ms>-<seq>.jsonl, written under a
                       hidden temporary name and renamed (readers never see partial files)
  --kafka-bootstrap H:P --kafka-topic T
                       one record per event keyed by device id (needs {KAFKA_CLIENT})

The achieved rate is measured per --report-interval and compared with the target; --json
writes that report, --metrics-port serves the Prometheus counter hrl_loadgen_events_total.
The same --seed (and --start-time) gives the same events.

Examples:
  hrl-autoscaler loadgen --rate 2000 --duration 60 --out /tmp/iot
  hrl-autoscaler loadgen --scenario smart-hospital --speed 120 --peak-rate 5000 \\
      --duration 300 --out /tmp/iot --json report.json --metrics-port 9105
"""


def _epoch_arg(text: str) -> float:
    """``--start-time``: epoch seconds or an ISO 8601 date-time (``Z`` allowed)."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hrl-autoscaler loadgen`` (defaults from ``config.LOADGEN``)."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    rate = parser.add_argument_group("rate (choose one)").add_mutually_exclusive_group(
        required=True
    )
    rate.add_argument("--rate", type=number(), metavar="EPS", help="constant events/s")
    rate.add_argument(
        "--scenario",
        choices=sorted(SCENARIO_MIX),
        help="follow a simulator scenario's rate profile (and its device mix)",
    )
    rate.add_argument(
        "--trace", type=Path, metavar="CSV", help="replay a trace CSV (header timestamp,value)"
    )
    shape = parser.add_argument_group("scenario and trace shaping")
    shape.add_argument(
        "--peak-rate",
        type=number(),
        metavar="EPS",
        help="scale the scenario or trace so its peak is EPS events/s "
        "(default: the scenario's own peak, the trace's own rates)",
    )
    shape.add_argument(
        "--speed",
        type=number(),
        default=LOADGEN.speed,
        metavar="X",
        help="simulated seconds per wall second: compresses time, not volume "
        "(default %(default)s; 1440 = a day per minute)",
    )
    shape.add_argument(
        "--start-at",
        type=number(0.0, strict=False),
        default=0.0,
        metavar="S",
        help="scenario time of day to start at, simulated s (default %(default)s = midnight)",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--duration",
        type=number(),
        metavar="S",
        help=f"wall seconds to run (default {LOADGEN.duration_s:g}; a trace: its length / speed)",
    )
    run.add_argument(
        "--tick",
        type=number(),
        default=LOADGEN.tick_s,
        metavar="S",
        help="one file (or Kafka flush) every S wall seconds (default %(default)s)",
    )
    run.add_argument(
        "--devices",
        type=integer(1, 99_999),
        default=LOADGEN.devices,
        help="distinct device ids (default %(default)s)",
    )
    run.add_argument(
        "--anomaly-rate",
        type=number(0.0, strict=False),
        default=LOADGEN.anomaly_rate,
        metavar="P",
        help="share of anomalous readings, 0..1 (default %(default)s)",
    )
    run.add_argument(
        "--seed", type=int, default=LOADGEN.seed, help="random seed (default %(default)s)"
    )
    run.add_argument(
        "--start-time",
        type=_epoch_arg,
        metavar="WHEN",
        help="event-time origin, epoch s or ISO 8601 (default: now); with --seed, "
        "reproduces the output byte for byte",
    )
    sink = parser.add_argument_group("sink (choose one)")
    sink.add_argument("--out", type=Path, metavar="DIR", help="directory of JSON-lines files")
    sink.add_argument(
        "--kafka-bootstrap", metavar="HOST:PORT[,...]", help=f"Kafka brokers ({KAFKA_CLIENT})"
    )
    sink.add_argument("--kafka-topic", metavar="TOPIC", help="Kafka topic (with --kafka-bootstrap)")
    rep = parser.add_argument_group("reporting")
    rep.add_argument(
        "--report-interval",
        type=number(),
        default=LOADGEN.report_interval_s,
        metavar="S",
        help="target vs achieved rate per S wall seconds (default %(default)s)",
    )
    rep.add_argument("--json", type=Path, metavar="OUT", help="write the report as JSON")
    rep.add_argument(
        "--metrics-port",
        type=integer(0, 65535),
        metavar="PORT",
        help="serve hrl_loadgen_events_total on http://0.0.0.0:PORT/metrics (0 = any free port)",
    )
    rep.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")


def build_schedule(args: argparse.Namespace) -> Schedule:
    """The rate schedule the options describe; ``ValueError`` names the bad option."""
    if args.scenario is None and args.start_at:
        raise ValueError("--start-at applies to --scenario only (a time of day in its profile)")
    if args.rate is not None:
        if args.peak_rate is not None:
            raise ValueError("--peak-rate does not apply to --rate (a constant rate)")
        if args.speed != LOADGEN.speed:
            raise ValueError("--speed does not apply to --rate (a constant rate has no time axis)")
        return constant_schedule(args.rate, args.duration or LOADGEN.duration_s, args.tick)
    if args.scenario is not None:
        return scenario_schedule(
            args.scenario,
            args.duration or LOADGEN.duration_s,
            args.tick,
            seed=args.seed,
            speed=args.speed,
            peak_rate_eps=args.peak_rate,
            start_s=args.start_at,
        )
    return trace_schedule(
        args.trace,
        args.tick,
        speed=args.speed,
        peak_rate_eps=args.peak_rate,
        duration_s=args.duration,
    )


def build_sink(args: argparse.Namespace) -> Sink:
    """The directory or Kafka sink the options describe (exactly one)."""
    kafka = args.kafka_bootstrap is not None or args.kafka_topic is not None
    if (args.out is not None) == kafka:
        raise ValueError(
            "give exactly one sink: --out DIR, or --kafka-bootstrap with --kafka-topic"
        )
    if args.out is not None:
        return DirectorySink(args.out)
    if args.kafka_bootstrap is None:
        raise ValueError("--kafka-topic needs --kafka-bootstrap HOST:PORT")
    if args.kafka_topic is None:
        raise ValueError("--kafka-bootstrap needs --kafka-topic TOPIC")
    return KafkaSink(args.kafka_bootstrap, args.kafka_topic)


def summary_table(report: LoadgenReport) -> Table:
    """Target vs achieved per interval, then the totals."""
    table = Table(title=f"loadgen {report.source} -> {report.sink}")
    for col in ("interval s", "target eps", "achieved eps", "error"):
        table.add_column(col, justify="right")
    rows = report.intervals
    if len(rows) > 24:  # a long run: every n-th interval, the totals say the rest
        step = math.ceil(len(rows) / 24)
        rows = rows[::step]
    for iv in rows:
        table.add_row(
            f"{iv.start_s:,.0f}-{iv.end_s:,.0f}",
            f"{iv.target_eps:,.1f}",
            f"{iv.achieved_eps:,.1f}",
            f"{iv.relative_error:+.1%}" if math.isfinite(iv.relative_error) else "inf",
        )
    table.add_section()
    total_error = (
        (report.produced_events - report.target_events) / report.target_events
        if report.target_events
        else 0.0
    )
    table.add_row(
        f"total {report.wall_s:,.1f}",
        f"{report.target_eps:,.1f}",
        f"{report.achieved_eps:,.1f}",
        f"{total_error:+.1%}",
    )
    return table


def run(args: argparse.Namespace) -> int:
    """Validate, run with a progress bar (Ctrl-C stops cleanly), print and write the report."""
    schedule = build_schedule(args)
    mix = device_mix(args.scenario)
    factory = EventFactory(args.seed, args.devices, mix, args.anomaly_rate)
    sink = build_sink(args)
    counter = None
    if args.metrics_port is not None:
        try:
            counter = EventCounter(args.metrics_port, schedule.source, sink.name)
        except OSError as exc:
            raise ValueError(f"--metrics-port {args.metrics_port}: {exc.strerror}") from None
        console.print(f"serving hrl_loadgen_events_total on :{counter.port}/metrics")
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupt)
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("[bold]loadgen[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.fields[events]:>12,} events"),
            TextColumn("target {task.fields[target]:>9,.0f} eps"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=args.quiet,
        ) as progress:
            task = progress.add_task(schedule.source, total=schedule.ticks, events=0, target=0.0)

            def on_tick(done: int, events: int, target: float, wall: float) -> None:
                progress.update(task, completed=done, events=events, target=target)

            report = run_loadgen(
                schedule,
                factory,
                sink,
                report_interval_s=args.report_interval,
                seed=args.seed,
                start_epoch_s=args.start_time,
                on_tick=on_tick,
                stop=stop,
                counter=counter,
            )
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)
        if counter is not None:
            counter.close()
    out.print(summary_table(report))
    console.print(
        f"produced {report.produced_events:,} of {report.target_events:,} scheduled events in "
        f"{time.perf_counter() - started:.1f} s; {report.on_target_share():.0%} of intervals "
        f"within {LOADGEN.rate_tolerance:.0%} of target; max lag {report.max_lag_s:.3f} s"
        + (" (stopped early)" if report.stopped_early else "")
    )
    if args.json:
        report.write_json(args.json)
        console.print(f"wrote {args.json}")
    return 0
