"""Run the real IoT job on a standalone cluster under rising load and record what it did.

One driver (this process, through PySpark) runs the IoT Structured Streaming job on a
throwaway standalone cluster (:class:`hrl_autoscaler.tools.spark.standalone.StandaloneCluster`).
For each executor count the load generator (a thread of this process, writing the agreed
directory format) offers rising rates, doubling from ``start_rate_eps`` per executor until the
job stops keeping up, then bisects between the last sustainable and the first saturated rate
(``refine``), so the points near the knee, where latency bends, are measured. Every step's
batches come from the query's progress reports; executor additions and removals are timed
with the executor-allocation API (:mod:`hrl_autoscaler.tools.calibration.executors`).

What is measured is a :class:`~.plan.CalibrationPlan`; one step at one rate is :mod:`.steps`.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import socket
import subprocess
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hrl_autoscaler.tools.calibration.cpu import pod_processes
from hrl_autoscaler.tools.calibration.executors import AgentScaler
from hrl_autoscaler.tools.calibration.plan import CalibrationPlan, _rates
from hrl_autoscaler.tools.calibration.schema import (
    LoadStep,
    MachineInfo,
    ScalingTiming,
    SparkInfo,
)
from hrl_autoscaler.tools.calibration.steps import (
    Status,
    StepContext,
    _drain,
    _Job,
    _measured_step,
    _run_step,
)
from hrl_autoscaler.tools.loadgen.runner import LoadgenReport

if TYPE_CHECKING:
    from hrl_autoscaler.tools.spark.kubernetes_executors import KubernetesExecutors
    from hrl_autoscaler.tools.spark.standalone import StandaloneCluster

StepDone = Callable[[LoadStep], None]
"""Called with each measured step (the command prints it above the progress bar)."""


def _ignore(step: LoadStep) -> None:
    return None


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


def measure_counts(
    job: _Job,
    scaler: AgentScaler,
    plan: CalibrationPlan,
    input_dir: Path,
    out: Measurements,
    status: Status,
    on_step: StepDone = _ignore,
    executor_pids: Callable[[], Collection[int]] = tuple,
) -> None:
    """Rising rates at each executor count; timings of every change of count.
    ``executor_pids``: executor processes outside this process tree (pods), counted as the
    job's CPU when judging contention."""
    ctx = StepContext(job, plan, input_dir, status, executor_pids)
    step_index = 0

    def measured(executors: int, rate_eps: float) -> LoadStep:
        nonlocal step_index
        step, report = _measured_step(ctx, executors, rate_eps, step_index)
        step_index += 1
        out.steps.append(step)
        out.loadgen_reports.append(report)
        on_step(step)
        return step

    # The first batches of a new query are slow (JIT, the first file listing, planning):
    # one discarded step at the lightest rate before anything is recorded.
    first = plan.executors[0]
    rate0 = (plan.rates_eps[0] if plan.rates_eps else plan.start_rate_eps) * first
    with contextlib.suppress(ValueError):  # a warm-up with no complete batch is fine
        _run_step(ctx, first, rate0, -1, _prefixed(status, "warm-up: "))
    _drain(job, plan, status)
    for n in plan.executors:
        timing = scaler.set(n, timeout_s=plan.scale_timeout_s)
        if timing is not None:
            out.scaling.append(timing)
        last_ok: float | None = None
        saturated_at: float | None = None
        for per_executor in _rates(plan):
            step = measured(n, per_executor * n)
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
                if measured(n, mid * n).saturated:
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

    out = Measurements(machine=machine_info())
    top = max(plan.executors)
    work = Path(plan.work_dir)
    input_dir, checkpoint = work / "input", work / "checkpoint"
    input_dir.mkdir(parents=True, exist_ok=True)
    cluster = _executors(plan, work)
    where = "executor pods" if plan.kubernetes is not None else "the standalone cluster"
    status(f"starting {where}", 0.0, 1.0)
    with cluster:
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
                measure_counts(
                    job, scaler, plan, input_dir, out, status, on_step, _pods_pids(cluster)
                )
            finally:
                query.stop()
                scaler.stop()
        finally:
            spark.stop()
    return out


def _pods_pids(cluster: StandaloneCluster | KubernetesExecutors) -> Callable[[], list[int]]:
    """Executor processes that are not this process's descendants: the executor pods'
    (containerd starts them); none on standalone (the worker, a child, starts them)."""
    from hrl_autoscaler.tools.spark.kubernetes_executors import KubernetesExecutors

    if not isinstance(cluster, KubernetesExecutors):
        return list
    return lambda: pod_processes([pod.metadata.uid for pod in cluster.executor_pods()])


def _executors(plan: CalibrationPlan, work: Path) -> StandaloneCluster | KubernetesExecutors:
    """Where the executors run: a throwaway standalone cluster sized for the largest count,
    or pods on the Kubernetes node of ``plan.kubernetes`` (the work directory shared)."""
    from hrl_autoscaler.tools.spark.kubernetes_executors import KubernetesExecutors
    from hrl_autoscaler.tools.spark.standalone import StandaloneCluster

    if plan.kubernetes is not None:
        target = plan.kubernetes
        work.chmod(0o777)  # the executor pods run as uid 185 and write the checkpoint
        (work / "input").chmod(0o777)
        return KubernetesExecutors(
            target.kubeconfig, target.image, work, namespace=target.namespace
        )
    memory_mb = max(plan.executors) * (_mb(plan.executor_memory) + 128)
    return StandaloneCluster(
        work / "cluster",
        cores=max(plan.executors) * plan.executor_cores,
        memory=f"{memory_mb}m",
    )


def _mb(memory: str) -> int:
    text = memory.strip().lower()
    if text.endswith("g"):
        return int(float(text[:-1]) * 1024)
    if text.endswith("m"):
        return int(float(text[:-1]))
    raise ValueError(f"--executor-memory must look like 512m or 1g, got {memory!r}")
