"""``hrl-autoscaler bench soak``: many emulated applications for a long time, a fault every few
minutes, and what the operator's process does meanwhile.

One LocalStack of its own (etcd, kube-apiserver, Prometheus, the emulator at ``SPEED``x real
time so loads move: the applications follow the five scenario shapes with their own seeds and
peak rates) and the operator as a process with a 3 s decision interval (30 s simulated). After
a warm-up, for ``minutes``, the faults of :mod:`~hrl_autoscaler.tools.devenv.faults` are
injected in turn every ``fault_every_s``: kube-apiserver restarted, etcd restarted, Prometheus
restarted, a 409 storm on one application. Sampled every few seconds: the operator's RSS and
every completed cycle's duration. At the end, after a settle period without faults:

- cycle p50 / p99 / max (target: p50 within the decision interval; the p99 falls in the
  faults, where every write meets a refused connection or a retry, and is reported as it is);
- RSS growth: the mean of the last tenth of the samples over the mean of the first tenth after
  warm-up (target <= 10 %), the least-squares slope in MB per hour over the run and over its
  second half, and the mean RSS of every minute;
- errors by kind: the operator's WARNING/ERROR log lines grouped by logger and message shape;
- decisions lost: applications in ``auto`` mode whose executors on the object differ from what
  the operator last decided (its ``hrl_autoscaler_target_executors``) on three checks one
  decision interval apart (target 0); and whether the operator process ever exited.
"""

from __future__ import annotations

import collections
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.progress import Progress

from hrl_autoscaler.tools.bench.operator_loop import operator_numbers, status_mb
from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.components import OperatorProcess
from hrl_autoscaler.tools.devenv.faults import ConflictStorm, restart_process
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    annotations_of,
    app_state,
    current_executors,
    spark_application,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions

NAMESPACE = "soak"
#: 10x real time with the production intervals divided by it: a 3 s decision is 30 s of load.
SPEED = 10.0
SAMPLE_EVERY_S = 2.0
SETTLE_S = 20.0
SCENARIOS = ("steady", "flash-crowd", "smart-hospital", "smart-metering", "traffic-sensors")
FAULTS = ("kube-apiserver", "etcd", "prometheus", "conflict-storm")
_SHAPE = re.compile(r"[0-9a-f]{6,}|\d+(\.\d+)?")
console = Console(stderr=True)


@dataclass
class SoakResult:
    apps: int
    minutes: float
    decision_interval_s: float
    faults: list[str] = field(default_factory=list)
    cycles: int = 0
    cycle_seconds_p50: float = 0.0
    cycle_seconds_p99: float = 0.0
    cycle_seconds_max: float = 0.0
    rss_mb_start: float = 0.0
    rss_mb_end: float = 0.0
    rss_growth_pct: float = 0.0
    rss_slope_mb_per_hour: float = 0.0
    rss_slope_second_half_mb_per_hour: float = 0.0
    """The slope over the second half alone: per-application windows (the 10-minute load
    forecast, the meta window, the decision history) are still filling in the first minutes."""
    rss_mb_by_minute: list[float] = field(default_factory=list)
    """Mean RSS of each minute, for a plot or a second look."""
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    decisions_lost: int = 0
    lost_examples: list[str] = field(default_factory=list)
    operator_exited: bool = False

    @property
    def passed(self) -> bool:
        return (
            self.decisions_lost == 0
            and not self.operator_exited
            and self.cycle_seconds_p50 <= self.decision_interval_s
        )


def _application(i: int) -> dict[str, object]:
    """Mixed applications: every scenario shape with its own seed and peak rate; every 10th in
    restart actuation, every 7th in recommend mode (they are not counted for lost decisions)."""
    settings = {
        "actuation": "restart" if i % 10 == 0 else "in-place",
        "mode": "recommend" if i % 7 == 0 else "auto",
        "weight-policy": ("meta", "balanced", "cost-first", "latency-first")[i % 4],
    }
    return spark_application(
        f"app-{i:03d}",
        2 + i % 5,
        settings,
        scenario=SCENARIOS[i % len(SCENARIOS)],
        peak_rate_eps=2000.0 + (i * 379) % 8000,
        seed=1000 + i,
    )


def _targets(operator: OperatorProcess) -> dict[str, int]:
    found: dict[str, int] = {}
    for family in text_string_to_metric_families(operator.metrics()):
        if family.name == "hrl_autoscaler_target_executors":
            for sample in family.samples:
                found[sample.labels["application"]] = int(sample.value)
    return found


def _diverged(cluster: Cluster, operator: OperatorProcess) -> dict[str, str]:
    """auto-mode applications whose object disagrees with the operator's last decision."""
    targets = _targets(operator)
    out: dict[str, str] = {}
    for obj in cluster.list_apps(NAMESPACE):
        name = obj["metadata"]["name"]
        if annotations_of(obj).get("hrl-autoscaler.io/mode") == "recommend" or name not in targets:
            continue
        if current_executors(obj) != targets[name]:
            out[name] = f"{name}: object {current_executors(obj)}, decided {targets[name]}"
    return out


def _errors_by_kind(log: str) -> dict[str, int]:
    kinds: collections.Counter[str] = collections.Counter()
    for line in log.splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5 and parts[2] in ("WARNING", "ERROR"):
            words = " ".join(parts[4].split()[:6])
            kinds[f"{parts[2]} {parts[3]} {_SHAPE.sub('N', words)}"] += 1
    return dict(kinds.most_common(15))


def _slope_per_hour(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 2:
        return 0.0
    ts = [t for t, _ in samples]
    ys = [y for _, y in samples]
    mean_t, mean_y = statistics.fmean(ts), statistics.fmean(ys)
    den = sum((t - mean_t) ** 2 for t in ts)
    return 0.0 if den == 0 else sum((t - mean_t) * (y - mean_y) for t, y in samples) / den * 3600


def _injector(stack: LocalStack, cluster: Cluster, apps: int) -> Callable[[str], None]:
    env = stack.env
    if env is None or env.control_plane is None or env.prometheus is None:
        raise RuntimeError("the soak needs its own local control plane and Prometheus")
    plane, prometheus = env.control_plane, env.prometheus

    def inject(kind: str) -> None:
        if kind in ("kube-apiserver", "etcd"):
            owned = env.data_dir if kind == "etcd" else None
            restart_process(plane.processes, kind, down_s=3.0, ready=plane.is_ready, data_dir=owned)
        elif kind == "prometheus":
            if prometheus.process is None:
                raise RuntimeError("Prometheus is not running")
            log = Path(prometheus.process.record.log)
            prometheus.stop()
            time.sleep(3.0)
            prometheus.start(log)
            prometheus.wait_ready()
        elif stack.api_client is not None:
            with ConflictStorm(stack.api_client, NAMESPACE, f"app-{1 % apps:03d}"):
                time.sleep(15.0)

    return inject


def run_soak(
    apps: int, minutes: float, fault_every_s: float, warm_up_s: float = 60.0
) -> SoakResult:
    """Run the soak and return its numbers (see the module docstring)."""
    work = Path(tempfile.mkdtemp(prefix="hrl-bench-soak-"))
    options = StackOptions(
        work_dir=work,
        binaries=ensure_binaries(console.print),
        namespaces=(NAMESPACE,),
        speed=SPEED,
        emulator_tick_s=0.5,
        scrape_interval="2s",
        operator=False,
        operator_overrides={"metrics_window_s": 6.0},
        expect_clean_exit=False,
        progress=console.print,
    )
    interval = 30.0 / SPEED
    result = SoakResult(apps=apps, minutes=minutes, decision_interval_s=interval)
    with LocalStack(options) as stack:
        cluster = stack.cluster
        console.print(f"creating {apps} SparkApplications ...")
        for i in range(apps):
            cluster.create(NAMESPACE, _application(i))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if [app_state(o) for o in cluster.list_apps(NAMESPACE)].count("RUNNING") == apps:
                break
            time.sleep(1.0)
        operator = stack.start_operator()
        pid = operator.process.record.pid
        console.print(f"warming up ({warm_up_s:g} s) ...")
        time.sleep(warm_up_s)
        inject = _injector(stack, cluster, apps)
        rss: list[tuple[float, float]] = []
        durations: list[float] = []
        seen = int(operator_numbers(operator)["hrl_autoscaler_cycles_total"])
        start = time.monotonic()
        end = start + minutes * 60
        next_fault = start + fault_every_s
        with Progress(console=console) as bar:
            task = bar.add_task(f"soak: {apps} applications", total=minutes * 60)
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_fault:
                    kind = FAULTS[len(result.faults) % len(FAULTS)]
                    bar.console.print(f"fault {len(result.faults) + 1}: {kind}")
                    inject(kind)
                    result.faults.append(kind)
                    next_fault = time.monotonic() + fault_every_s
                if not operator.process.alive():
                    result.operator_exited = True
                    break
                rss.append((now - start, status_mb(pid, "VmRSS")))
                try:
                    numbers = operator_numbers(operator)
                except httpx.HTTPError:
                    numbers = {}
                count = int(numbers.get("hrl_autoscaler_cycles_total", seen))
                if count > seen:
                    durations.append(numbers["hrl_autoscaler_last_cycle_seconds"])
                    seen = count
                bar.update(task, completed=min(now - start, minutes * 60))
                time.sleep(SAMPLE_EVERY_S)
        console.print(f"settling {SETTLE_S:.0f} s without faults, then checking every decision")
        time.sleep(SETTLE_S)
        lost: dict[str, str] = {}
        for attempt in range(3):
            now_diverged = _diverged(cluster, operator)
            lost = (
                now_diverged
                if attempt == 0
                else {k: v for k, v in lost.items() if k in now_diverged}
            )
            time.sleep(interval)
        result.decisions_lost = len(lost)
        result.lost_examples = sorted(lost.values())[:5]
        result.operator_exited = result.operator_exited or not operator.process.alive()
        result.errors_by_kind = _errors_by_kind(operator.log_text())
    _summarise(result, rss, durations)
    return result


def _summarise(result: SoakResult, rss: list[tuple[float, float]], durations: list[float]) -> None:
    if durations:
        ordered = sorted(durations)
        result.cycles = len(ordered)
        result.cycle_seconds_p50 = round(statistics.median(ordered), 3)
        result.cycle_seconds_p99 = round(
            ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3
        )
        result.cycle_seconds_max = round(ordered[-1], 3)
    if rss:
        tenth = max(1, len(rss) // 10)
        first = statistics.fmean(y for _, y in rss[:tenth])
        last = statistics.fmean(y for _, y in rss[-tenth:])
        result.rss_mb_start, result.rss_mb_end = round(first, 1), round(last, 1)
        result.rss_growth_pct = round(100 * (last - first) / first, 2)
        result.rss_slope_mb_per_hour = round(_slope_per_hour(rss), 2)
        result.rss_slope_second_half_mb_per_hour = round(_slope_per_hour(rss[len(rss) // 2 :]), 2)
        minutes: dict[int, list[float]] = collections.defaultdict(list)
        for t, mb in rss:
            minutes[int(t // 60)].append(mb)
        result.rss_mb_by_minute = [round(statistics.fmean(minutes[m]), 1) for m in sorted(minutes)]
