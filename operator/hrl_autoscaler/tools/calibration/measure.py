"""Run the real IoT job on a standalone cluster under rising load and record what it did.

One driver (this process, through PySpark) runs the IoT Structured Streaming job on a
throwaway standalone cluster (:class:`hrl_autoscaler.tools.spark.standalone.StandaloneCluster`).
For each executor count the load generator (a thread of this process, writing the agreed
directory format) offers rising rates, doubling from ``start_rate_eps`` per executor until the
job stops keeping up, then bisects between the last sustainable and the first saturated rate
(``refine``), so the points near the knee, where latency bends, are measured. Every step's
batches come from the query's progress reports; executor additions and removals are timed
with the executor-allocation API (:mod:`hrl_autoscaler.tools.calibration.executors`).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrl_autoscaler.config import CALIBRATION, LOADGEN
from hrl_autoscaler.tools.calibration.cpu import foreign_cores, snapshot
from hrl_autoscaler.tools.calibration.executors import AgentScaler
from hrl_autoscaler.tools.calibration.progress import merge_progress, summarise_step
from hrl_autoscaler.tools.calibration.schema import (
    BatchSample,
    LoadStep,
    MachineInfo,
    ScalingTiming,
    SparkInfo,
)
from hrl_autoscaler.tools.loadgen.events import EventFactory, device_mix
from hrl_autoscaler.tools.loadgen.runner import LoadgenReport, run_loadgen
from hrl_autoscaler.tools.loadgen.schedule import constant_schedule
from hrl_autoscaler.tools.loadgen.sinks import DirectorySink

Status = Callable[[str, float, float], None]
"""Progress callback: (description, seconds done in this step, step length)."""
StepDone = Callable[[LoadStep], None]
"""Called with each measured step (the command prints it above the progress bar)."""


def _ignore(step: LoadStep) -> None:
    return None


@dataclass(frozen=True)
class CalibrationPlan:
    """What to measure (defaults from ``config.CALIBRATION``)."""

    work_dir: Path
    executors: tuple[int, ...] = CALIBRATION.executors
    start_rate_eps: float = CALIBRATION.start_rate_eps
    max_rate_eps: float = CALIBRATION.max_rate_eps
    rates_eps: tuple[float, ...] | None = None
    """Explicit per-executor rates instead of doubling (the spark test uses two)."""
    refine: int = CALIBRATION.refine
    step_s: float = CALIBRATION.step_s
    warmup_s: float = CALIBRATION.warmup_s
    trigger_s: float = CALIBRATION.trigger_s
    tick_s: float = CALIBRATION.tick_s
    seed: int = LOADGEN.seed
    executor_memory: str = CALIBRATION.executor_memory
    executor_cores: int = CALIBRATION.executor_cores
    scale_repeats: int = CALIBRATION.scale_repeats
    scale_timeout_s: float = CALIBRATION.scale_timeout_s
    drain_timeout_s: float = CALIBRATION.drain_timeout_s
    saturation_ratio: float = CALIBRATION.saturation_ratio
    max_foreign_cores: float = CALIBRATION.max_foreign_cores
    contention_retries: int = CALIBRATION.contention_retries
    work_factor: int | None = None
    """CPU work per event of the IoT job; None = the job's default."""

    def __post_init__(self) -> None:
        if not self.executors or min(self.executors) < 1:
            raise ValueError(f"--executors must be counts >= 1, got {self.executors}")
        for name in ("start_rate_eps", "max_rate_eps", "step_s", "trigger_s", "tick_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.rates_eps is not None and (not self.rates_eps or min(self.rates_eps) <= 0):
            raise ValueError(f"--rates must be positive events/s, got {self.rates_eps}")
        if not 0 <= self.warmup_s < self.step_s:
            raise ValueError(
                f"--warmup ({self.warmup_s} s) must be >= 0 and shorter than --step "
                f"({self.step_s} s)"
            )
        if self.max_rate_eps < self.start_rate_eps:
            raise ValueError(
                f"--max-rate ({self.max_rate_eps}) is below --start-rate ({self.start_rate_eps})"
            )


@dataclass
class Measurements:
    steps: list[LoadStep] = field(default_factory=list)
    scaling: list[ScalingTiming] = field(default_factory=list)
    machine: MachineInfo | None = None
    spark: SparkInfo | None = None
    loadgen_reports: list[LoadgenReport] = field(default_factory=list)


def machine_info() -> MachineInfo:
    """This machine, for the record: measured capacities are only meaningful with it."""
    try:
        java = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        java = "unknown"
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return MachineInfo(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        python=platform.python_version(),
        cpus=os.cpu_count() or 1,
        memory_gb=round(pages / 2**30, 1),
        java=java,
        load_average=os.getloadavg(),
    )


def _rates(plan: CalibrationPlan) -> Iterator[float]:
    """Per-executor rates: the explicit list, else doubling up to ``max_rate_eps``."""
    if plan.rates_eps is not None:
        yield from plan.rates_eps
        return
    rate = plan.start_rate_eps
    while rate <= plan.max_rate_eps * (1 + 1e-9):
        yield rate
        rate *= 2


class _Job:
    """The IoT query in this driver, with its progress merged by batch id."""

    def __init__(self, query: Any) -> None:
        self.query = query
        self.seen: dict[int, BatchSample] = {}

    def poll(self) -> None:
        exception = self.query.exception()
        if exception is not None:
            raise RuntimeError(f"the IoT query failed: {exception}")
        merge_progress(self.seen, self.query.recentProgress)

    def batches_between(self, start: float, end: float) -> list[BatchSample]:
        return [b for b in self.seen.values() if start <= b.start_epoch_s <= end]

    def idle(self) -> bool:
        status = self.query.status
        return not status["isDataAvailable"] and not status["isTriggerActive"]


def _run_step(
    job: _Job,
    plan: CalibrationPlan,
    input_dir: Path,
    executors: int,
    rate_eps: float,
    step_index: int,
    status: Status,
) -> tuple[LoadStep, LoadgenReport]:
    """Offer ``rate_eps`` for ``step_s``; summarise the batches after the warm-up."""
    schedule = constant_schedule(rate_eps, plan.step_s, plan.tick_s)
    # One stream per step (the warm-up is step -1): seeds are non-negative, so offset them.
    factory = EventFactory(
        plan.seed * 1000 + step_index + 1, LOADGEN.devices, device_mix(None), LOADGEN.anomaly_rate
    )
    stop = threading.Event()
    result: list[LoadgenReport] = []
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            result.append(
                run_loadgen(schedule, factory, DirectorySink(input_dir), seed=plan.seed, stop=stop)
            )
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    started = time.time()
    cpu_before = snapshot()
    thread = threading.Thread(target=produce, name="calibration-loadgen", daemon=True)
    thread.start()
    label = f"{executors} executor(s), {rate_eps:,.0f} events/s"
    try:
        while thread.is_alive():
            job.poll()
            status(label, time.time() - started, plan.step_s)
            thread.join(timeout=1.0)
    finally:
        stop.set()
        thread.join()
    if errors:
        raise RuntimeError(f"load generator failed: {errors[0]}") from errors[0]
    ended = time.time()
    foreign = foreign_cores(cpu_before, snapshot())
    # Batches that started within the step are complete a moment later: wait for them.
    deadline = ended + 3 * plan.trigger_s + 30.0
    while time.time() < deadline and not job.idle():
        time.sleep(0.5)
        job.poll()
    job.poll()
    report = result[0]
    batches = job.batches_between(started + plan.warmup_s, ended)
    step = summarise_step(
        executors,
        rate_eps,
        report.achieved_eps,
        ended - started,
        batches,
        plan.trigger_s,
        plan.saturation_ratio,
    ).model_copy(update={"load_average": os.getloadavg()[0], "foreign_cpu_cores": foreign})
    return step, report


def _measured_step(
    job: _Job,
    plan: CalibrationPlan,
    input_dir: Path,
    executors: int,
    rate_eps: float,
    step_index: int,
    status: Status,
) -> tuple[LoadStep, LoadgenReport]:
    """A step, repeated while other processes took more than ``max_foreign_cores``; every
    attempt starts from a drained queue. The last attempt is returned, flagged if contended."""
    attempt = 0
    while True:
        attempt += 1
        step, report = _run_step(job, plan, input_dir, executors, rate_eps, step_index, status)
        _drain(job, plan, status)  # every step (and every retry) starts from an empty queue
        foreign = step.foreign_cpu_cores
        contended = foreign is not None and foreign > plan.max_foreign_cores
        if not contended or attempt > plan.contention_retries:
            return step.model_copy(update={"attempts": attempt, "contended": contended}), report
        status(f"other work took {foreign:.2f} cores: repeating", 0.0, 1.0)


def _drain(job: _Job, plan: CalibrationPlan, status: Status) -> None:
    """After a step, wait until the job has caught up: idle (no data, no batch running) for
    two trigger intervals in a row. One idle reading is not enough: between two batches the
    status says idle until the next trigger lists the directory."""
    started = time.monotonic()
    idle_since: float | None = None
    quiet_s = 2 * plan.trigger_s + 1.0
    while time.monotonic() - started < plan.drain_timeout_s:
        job.poll()
        now = time.monotonic()
        if job.idle():
            idle_since = idle_since if idle_since is not None else now
            if now - idle_since >= quiet_s:
                return
        else:
            idle_since = None
        status("draining the backlog", now - started, plan.drain_timeout_s)
        time.sleep(0.25)
    raise TimeoutError(
        f"the job did not drain its backlog within {plan.drain_timeout_s:.0f} s "
        "(raise --drain-timeout or lower --max-rate)"
    )


def measure_counts(
    job: _Job,
    scaler: AgentScaler,
    plan: CalibrationPlan,
    input_dir: Path,
    out: Measurements,
    status: Status,
    on_step: StepDone = _ignore,
) -> None:
    """Rising rates at each executor count; timings of every change of count."""
    step_index = 0
    # The first batches of a new query are slow (JIT, the first file listing, planning):
    # one discarded step at the lightest rate before anything is recorded.
    first = plan.executors[0]
    rate0 = (plan.rates_eps[0] if plan.rates_eps else plan.start_rate_eps) * first
    with contextlib.suppress(ValueError):  # a warm-up with no complete batch is fine
        _run_step(job, plan, input_dir, first, rate0, -1, _prefixed(status, "warm-up: "))
    _drain(job, plan, status)
    for n in plan.executors:
        timing = scaler.set(n, timeout_s=plan.scale_timeout_s)
        if timing is not None:
            out.scaling.append(timing)
        last_ok: float | None = None
        saturated_at: float | None = None
        for per_executor in _rates(plan):
            step, report = _measured_step(
                job, plan, input_dir, n, per_executor * n, step_index, status
            )
            step_index += 1
            out.steps.append(step)
            out.loadgen_reports.append(report)
            on_step(step)
            if step.saturated:
                saturated_at = per_executor
                if plan.rates_eps is None:
                    break
            else:
                last_ok = per_executor
        if plan.rates_eps is None and last_ok is not None and saturated_at is not None:
            low, high = last_ok, saturated_at
            for _ in range(plan.refine):
                mid = math.sqrt(low * high)
                step, report = _measured_step(job, plan, input_dir, n, mid * n, step_index, status)
                step_index += 1
                out.steps.append(step)
                out.loadgen_reports.append(report)
                on_step(step)
                if step.saturated:
                    high = mid
                else:
                    low = mid
    # In-place scaling timings: down one and back up, ``scale_repeats`` times.
    top = max(plan.executors)
    if top >= 2:
        for _ in range(plan.scale_repeats):
            for target in (top - 1, top):
                status(f"scaling to {target} executor(s)", 0.0, plan.scale_timeout_s)
                timing = scaler.set(target, timeout_s=plan.scale_timeout_s)
                if timing is not None:
                    out.scaling.append(timing)


def _prefixed(status: Status, prefix: str) -> Status:
    def report(what: str, done: float, total: float) -> None:
        status(prefix + what, done, total)

    return report


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the PySpark gateway JVM this process starts."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_measurements(
    plan: CalibrationPlan, status: Status, on_step: StepDone = _ignore
) -> Measurements:
    """Start the cluster and the job, measure every step, stop everything started."""
    from hrl_autoscaler.tools.calibration.job import (
        describe,
        job_conf,
        job_options,
        start_iot_query,
    )
    from hrl_autoscaler.tools.spark.standalone import StandaloneCluster

    out = Measurements(machine=machine_info())
    top = max(plan.executors)
    work = Path(plan.work_dir)
    input_dir, checkpoint = work / "input", work / "checkpoint"
    input_dir.mkdir(parents=True, exist_ok=True)
    memory_mb = top * (_mb(plan.executor_memory) + 128)
    status("starting the standalone cluster", 0.0, 1.0)
    with StandaloneCluster(
        work / "cluster", cores=top * plan.executor_cores, memory=f"{memory_mb}m"
    ) as cluster:
        from pyspark.sql import SparkSession

        options = job_options(
            input_dir, checkpoint, plan.trigger_s, plan.work_factor, cluster.master_url
        )
        conf = cluster.spark_conf(plan.executor_memory, plan.executor_cores)
        conf.update(job_conf(options))
        conf.update(
            {
                "spark.ui.enabled": "false",  # no port taken on a shared machine
                "spark.ui.showConsoleProgress": "false",
                "spark.driver.memory": "768m",
            }
        )
        with _environment(cluster.environment()):
            builder = SparkSession.builder
            for key, value in conf.items():
                builder = builder.config(key, value)
            spark = builder.getOrCreate()
        try:
            spark.sparkContext.setLogLevel("ERROR")
            first = plan.executors[0]
            status(f"starting {first} executor(s) and the in-place agent", 0.0, 1.0)
            scaler = AgentScaler(spark.sparkContext, work / "target-executors", first, top)
            scaler.wait_for(first, plan.scale_timeout_s)
            query = start_iot_query(spark, options)
            job = _Job(query)
            try:
                out.spark = SparkInfo(
                    version=str(spark.version),
                    master=cluster.master_url,
                    executor_cores=plan.executor_cores,
                    executor_memory=plan.executor_memory,
                    trigger_interval_s=plan.trigger_s,
                    job=describe(options),
                )
                measure_counts(job, scaler, plan, input_dir, out, status, on_step)
            finally:
                query.stop()
                scaler.stop()
        finally:
            spark.stop()
    return out


def _mb(memory: str) -> int:
    text = memory.strip().lower()
    if text.endswith("g"):
        return int(float(text[:-1]) * 1024)
    if text.endswith("m"):
        return int(float(text[:-1]))
    raise ValueError(f"--executor-memory must look like 512m or 1g, got {memory!r}")
