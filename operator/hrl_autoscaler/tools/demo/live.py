"""``hrl-autoscaler demo``: the operator live, on a local control plane with emulated Spark.

Starts kube-apiserver, etcd and Prometheus (the DevEnv), the emulated Spark data plane at
``speed`` times real time, three SparkApplications (see :mod:`.scenario`) and the operator as
its own process, exactly as it runs in production but with every duration divided by the speed.
Shows a live table, writes ``demo.json`` and ``demo.png``, and stops everything it started,
also on Ctrl-C or an error.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from hrl_autoscaler.tools.demo.apps import demo_application
from hrl_autoscaler.tools.demo.recorder import AppRecord, Recorder
from hrl_autoscaler.tools.demo.report import summary, write_json, write_plot
from hrl_autoscaler.tools.demo.scenario import DEMO_APPS, traffic_rate
from hrl_autoscaler.tools.demo.table import live_table
from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.sparkapps import Cluster
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions, default_crds

NAMESPACE = "demo"
OPERATOR_JOB = "hrl-autoscaler"
console = Console(stderr=True)


@contextlib.contextmanager
def _step(what: str) -> Iterator[None]:
    started = time.monotonic()
    console.print(f"[bold]demo[/] {what} ...")
    yield
    console.print(f"[bold]demo[/] {what}: done in {time.monotonic() - started:.1f} s")


def _summary_table(records: dict[str, AppRecord]) -> Table:
    table = Table(title="demo summary (RUNNING samples)", title_justify="left")
    for column in (
        "application",
        "scaling decisions",
        "weight updates",
        "mean executors",
        "mean latency ms",
        "SLO attainment",
    ):
        table.add_column(column)
    for name, record in records.items():
        s = summary(record)
        table.add_row(
            name,
            str(s["scaling_decisions"]),
            str(s["weight_updates"]),
            str(s["mean_executors"]),
            str(s["mean_latency_ms"]),
            str(s["slo_attainment"]),
        )
    return table


def run_demo(duration_s: float, speed: float, report_dir: Path, live: bool = True) -> int:
    """Run the demo for ``duration_s`` wall seconds; 0 when the report was written."""
    work = Path(tempfile.mkdtemp(prefix="hrl-demo-"))
    try:
        crds = default_crds()
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    with _step("finding (or building) kube-apiserver, etcd and prometheus"):
        binaries = ensure_binaries(lambda m: console.print(f"  {m}"))
    options = StackOptions(
        work_dir=work,
        crds=crds,
        binaries=binaries,
        namespaces=(NAMESPACE,),
        speed=speed,
        emulator_tick_s=0.25,
        # Prometheus scrapes the operator's own metrics too, as in a cluster: the dashboard's
        # panels read them.
        operator_scrape_job=OPERATOR_JOB,
        expect_clean_exit=False,
        progress=lambda m: console.print(f"[bold]demo[/] {m}"),
    )
    records: dict[str, AppRecord] = {}
    started_at = datetime.now(UTC)
    elapsed = 0.0
    try:
        with LocalStack(options) as stack:
            assert stack.operator is not None
            cluster = stack.cluster
            for app in DEMO_APPS:
                cluster.create(NAMESPACE, demo_application(app))
            console.print(
                f"[bold]demo[/] {len(DEMO_APPS)} applications created in namespace {NAMESPACE}; "
                f"operator log: {stack.operator.log}"
            )
            recorder = Recorder(
                cluster, NAMESPACE, stack.prometheus_url, stack.operator.metrics, DEMO_APPS, speed
            )
            records = recorder.records
            elapsed = _watch(recorder, cluster, duration_s, speed, live)
            _write_dashboard(stack.prometheus_url, report_dir, elapsed)
            console.print("[bold]demo[/] stopping the operator, the emulator and the control plane")
    except KeyboardInterrupt:
        console.print("[yellow]demo interrupted: writing what was recorded[/]")
    if not records or not any(r.samples for r in records.values()):
        console.print(f"[red]error:[/] nothing was recorded; logs are in {work}")
        return 1
    meta = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(elapsed, 1),
        "speed": speed,
        "decision_interval_s": 30.0 / speed,
        "meta_interval_s": 600.0 / speed,
    }
    write_json(records, report_dir / "demo.json", meta)
    write_plot(records, report_dir / "demo.png", speed)
    Console().print(_summary_table(records))
    console.print(f"[bold]demo[/] wrote {report_dir / 'demo.json'} and {report_dir / 'demo.png'}")
    shutil.rmtree(work, ignore_errors=True)  # logs are kept only when something went wrong
    return 0


def _write_dashboard(prometheus_url: str, report_dir: Path, elapsed: float) -> None:
    """Render the Grafana dashboard from the demo's Prometheus to ``dashboard.png`` (before
    Prometheus stops); a failure is reported, never fatal: the demo's own report matters more."""
    from hrl_autoscaler.tools.dashboard.runner import TimeRange
    from hrl_autoscaler.tools.dashboard.snapshot import snapshot

    out = report_dir / "dashboard.png"
    try:
        with _step("rendering the Grafana dashboard from Prometheus"):
            shot = snapshot(
                prometheus_url,
                out,
                TimeRange.last(elapsed + 15.0),
                scrape_interval_s=1.0,
                variables={"namespace": [NAMESPACE]},
                colors=256,
            )
    except Exception as exc:  # any failure here must not lose the demo's report
        console.print(f"[yellow]demo: dashboard not rendered: {exc}[/]")
        return
    empty = [f"{r.title} {r.ref_id}" for r in shot.failed]
    console.print(
        f"[bold]demo[/] wrote {out}: {len(shot.results) - len(empty)}/{len(shot.results)} "
        "dashboard queries returned data" + (f"; empty: {', '.join(empty)}" if empty else "")
    )


def _watch(
    recorder: Recorder, cluster: Cluster, duration_s: float, speed: float, live: bool
) -> float:
    """Sample once a second, drive the traffic day, show the table; the elapsed wall time."""
    driven = [a for a in DEMO_APPS if a.driven]
    started = time.monotonic()
    next_print = 0.0
    screen = Console() if live else Console(width=170)
    display = Live(console=screen, refresh_per_second=2, transient=False) if live else None
    with display or contextlib.nullcontext():
        while (elapsed := time.monotonic() - started) < duration_s:
            for app in driven:
                cluster.set_rate(NAMESPACE, app.name, traffic_rate(elapsed / duration_s))
            recorder.sample()
            if display is not None:
                display.update(live_table(recorder.records, elapsed, duration_s, speed))
            elif elapsed >= next_print:
                screen.print(live_table(recorder.records, elapsed, duration_s, speed))
                next_print += 30.0
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started - elapsed)))
    return time.monotonic() - started
