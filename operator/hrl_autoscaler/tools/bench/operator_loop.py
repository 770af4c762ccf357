"""``hrl-autoscaler bench operator``: one decision cycle for N applications, as it runs.

Starts a LocalStack (the local control plane and Prometheus, the emulated data plane) with N
SparkApplications (mixed loads, modes and actuations; the emulator at real time, scraped every
5 s), and the operator as its own process with a 5 s decision interval. After a warm-up (every
application RUNNING and decided once) it measures ``cycles`` decision cycles:

- cycle time, from the operator's ``hrl_autoscaler_last_cycle_seconds`` after each cycle
  (target: one cycle for all applications <= 5 s);
- the operator process's CPU (user + system time from /proc over the window; target <= 1 core)
  and its peak RSS (VmHWM; target <= 400 MB);
- Prometheus queries per cycle (the operator's query counter / its cycle counter: constant in N).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.components import OperatorProcess
from hrl_autoscaler.tools.devenv.sparkapps import app_state, spark_application
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions

NAMESPACE = "bench"
DECISION_INTERVAL_S = 5.0
console = Console(stderr=True)


@dataclass(frozen=True)
class OperatorBench:
    apps: int
    cycles: int
    cycle_seconds_p50: float
    cycle_seconds_max: float
    cpu_cores_mean: float
    rss_mb_max: float
    prometheus_queries_per_cycle: float
    decision_interval_s: float


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def status_mb(pid: int, field: str) -> float:
    """A memory field of /proc/<pid>/status in MB (VmRSS: now; VmHWM: the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def operator_numbers(operator: OperatorProcess) -> dict[str, float]:
    wanted = {
        "hrl_autoscaler_cycles_total",
        "hrl_autoscaler_last_cycle_seconds",
        "hrl_autoscaler_prometheus_queries_total",
    }
    numbers: dict[str, float] = {}
    for family in text_string_to_metric_families(operator.metrics()):
        for sample in family.samples:
            if sample.name in wanted:
                numbers[sample.name] = sample.value
    return numbers


def _application(i: int) -> dict[str, object]:
    """Mixed applications: loads from 500 to 9,500 events/s; every 10th in restart actuation,
    every 7th in recommend mode, weight policies meta / balanced / cost-first / latency-first
    in turn."""
    settings = {
        "actuation": "restart" if i % 10 == 0 else "in-place",
        "mode": "recommend" if i % 7 == 0 else "auto",
        "weight-policy": ("meta", "balanced", "cost-first", "latency-first")[i % 4],
    }
    return spark_application(f"app-{i:03d}", 2 + i % 5, settings, rate_eps=500.0 + (i * 137) % 9000)


def run_operator_bench(apps: int, json_path: Path | None, cycles: int = 20) -> int:
    work = Path(tempfile.mkdtemp(prefix="hrl-bench-operator-"))
    options = StackOptions(
        work_dir=work,
        binaries=ensure_binaries(console.print),
        namespaces=(NAMESPACE,),
        speed=1.0,
        emulator_tick_s=1.0,
        scrape_interval="5s",
        operator=False,  # started once every application runs
        operator_overrides={
            "decision_interval_s": DECISION_INTERVAL_S,
            "meta_interval_s": 60.0,
            "metrics_window_s": 15.0,
            "max_metric_age_s": 60.0,
        },
        expect_clean_exit=False,
        progress=console.print,
    )
    with LocalStack(options) as stack:
        cluster = stack.cluster
        console.print(f"creating {apps} SparkApplications ...")
        for i in range(apps):
            cluster.create(NAMESPACE, _application(i))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = [app_state(o) for o in cluster.list_apps(NAMESPACE)]
            if states.count("RUNNING") == apps:
                break
            time.sleep(1.0)
        console.print("starting the operator ...")
        operator = stack.start_operator()
        pid = operator.process.record.pid
        console.print("warming up (two cycles) ...")
        _wait_cycles(operator, 2)
        start = operator_numbers(operator)
        cpu0, t0 = _cpu_seconds(pid), time.monotonic()
        console.print(f"measuring {cycles} cycles of {DECISION_INTERVAL_S:g} s ...")
        durations = _collect_cycles(operator, int(start["hrl_autoscaler_cycles_total"]), cycles)
        cpu1, t1 = _cpu_seconds(pid), time.monotonic()
        end = operator_numbers(operator)
        done = end["hrl_autoscaler_cycles_total"] - start["hrl_autoscaler_cycles_total"]
        queries = (
            end["hrl_autoscaler_prometheus_queries_total"]
            - start["hrl_autoscaler_prometheus_queries_total"]
        )
        result = OperatorBench(
            apps=apps,
            cycles=len(durations),
            cycle_seconds_p50=round(statistics.median(durations), 4),
            cycle_seconds_max=round(max(durations), 4),
            cpu_cores_mean=round((cpu1 - cpu0) / (t1 - t0), 4),
            rss_mb_max=round(status_mb(pid, "VmHWM"), 1),
            prometheus_queries_per_cycle=round(queries / done, 2),
            decision_interval_s=DECISION_INTERVAL_S,
        )
    shutil.rmtree(work, ignore_errors=True)  # kept (with the logs) only when the bench failed
    payload = asdict(result)
    Console().print_json(json.dumps(payload))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


def _wait_cycles(operator: OperatorProcess, count: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    first = operator_numbers(operator).get("hrl_autoscaler_cycles_total", 0.0)
    while operator_numbers(operator).get("hrl_autoscaler_cycles_total", 0.0) < first + count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the operator ran no {count} cycles in {timeout_s:.0f} s")
        time.sleep(0.2)


def _collect_cycles(operator: OperatorProcess, seen: int, cycles: int) -> list[float]:
    """The duration of each of the next ``cycles`` cycles (polled after each one ends)."""
    durations: list[float] = []
    deadline = time.monotonic() + cycles * DECISION_INTERVAL_S * 3 + 60
    while len(durations) < cycles and time.monotonic() < deadline:
        numbers = operator_numbers(operator)
        count = int(numbers["hrl_autoscaler_cycles_total"])
        if count > seen:
            if count > seen + 1:
                console.print(f"[yellow]missed {count - seen - 1} cycle(s) between polls[/]")
            durations.append(numbers["hrl_autoscaler_last_cycle_seconds"])
            seen = count
        time.sleep(0.25)
    if not durations:
        raise TimeoutError("no decision cycle completed while measuring")
    return durations
