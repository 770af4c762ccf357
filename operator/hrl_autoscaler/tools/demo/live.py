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

from hrl_autoscaler.tools.demo.apps import Cluster, demo_application
from hrl_autoscaler.tools.demo.recorder import AppRecord, Recorder
from hrl_autoscaler.tools.demo.report import summary, write_json, write_plot
from hrl_autoscaler.tools.demo.scenario import DEMO_APPS, traffic_rate
from hrl_autoscaler.tools.demo.stack import Emulator, OperatorProcess, operator_config
from hrl_autoscaler.tools.demo.table import live_table
from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.controlplane import close_api_client
from hrl_autoscaler.tools.devenv.crds import project_crd_dir, upstream_crd_dir
from hrl_autoscaler.tools.devenv.prometheus import ScrapeTarget
from hrl_autoscaler.tools.devenv.session import DevEnv

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
    crds = upstream_crd_dir() or project_crd_dir()
    if crds is None:
        console.print("[red]error:[/] no SparkApplication CRD found (manifests/crds)")
        return 2
    with _step("finding (or building) kube-apiserver, etcd and prometheus"):
        binaries = ensure_binaries(lambda m: console.print(f"  {m}"))
    env = DevEnv(work / "devenv", crds=[crds], binaries=binaries)
    emulator: Emulator | None = None
    operator: OperatorProcess | None = None
    api = None
    records: dict[str, AppRecord] = {}
    started_at = datetime.now(UTC)
    elapsed = 0.0
    try:
        with _step("starting the local control plane and Prometheus"):
            env.start()
        api = env.api_client()
        cluster = Cluster(api)
        cluster.ensure_namespace(NAMESPACE)
        with _step(f"starting the emulated Spark data plane at x{speed:g}"):
            emulator = Emulator(env.kubeconfig, work, speed, tick_s=0.25)
            for target in emulator.scrape_targets():
                env.add_scrape_target(target)
        with _step("starting the operator (hrl-autoscaler run)"):
            config = operator_config(
                env.prometheus_url, env.kubeconfig, speed, namespaces=[NAMESPACE]
            )
            operator = OperatorProcess(config, work)
            operator.wait_ready()
            # Prometheus scrapes the operator's own metrics too, as in a cluster: the
            # dashboard's panels read them.
            env.add_scrape_target(
                ScrapeTarget(OPERATOR_JOB, [f"127.0.0.1:{operator.port}"], "/metrics", "1s")
            )
        for app in DEMO_APPS:
            cluster.create(NAMESPACE, demo_application(app))
        console.print(
            f"[bold]demo[/] {len(DEMO_APPS)} applications created in namespace {NAMESPACE}; "
            f"operator log: {operator.log}"
        )
        recorder = Recorder(
            cluster, NAMESPACE, env.prometheus_url, operator.metrics, DEMO_APPS, speed
        )
        records = recorder.records
        elapsed = _watch(recorder, cluster, duration_s, speed, live)
        _write_dashboard(env.prometheus_url, report_dir, elapsed)
    except KeyboardInterrupt:
        console.print("[yellow]demo interrupted: writing what was recorded[/]")
    finally:
        with _step("stopping the operator, the emulator and the control plane"):
            if operator is not None:
                operator.stop()
            if emulator is not None:
                emulator.stop()
            if api is not None:
                close_api_client(api)
            env.stop()
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
