"""One measured load step of the calibration (:mod:`.measure`): the load generator offers a
constant rate for ``step_s`` while the IoT query's batches are collected, repeated when other
processes took the CPU, and followed by a drain so the next step starts from an empty queue."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrl_autoscaler.config import LOADGEN
from hrl_autoscaler.tools.calibration.cpu import CpuSnapshot, foreign_cores, snapshot
from hrl_autoscaler.tools.calibration.plan import CalibrationPlan
from hrl_autoscaler.tools.calibration.progress import merge_progress, summarise_step
from hrl_autoscaler.tools.calibration.schema import (
    BatchSample,
    LoadStep,
)
from hrl_autoscaler.tools.loadgen.events import EventFactory, device_mix
from hrl_autoscaler.tools.loadgen.runner import LoadgenReport, run_loadgen
from hrl_autoscaler.tools.loadgen.schedule import constant_schedule
from hrl_autoscaler.tools.loadgen.sinks import DirectorySink

Status = Callable[[str, float, float], None]
"""Progress callback: (description, seconds done in this step, step length)."""


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


def _no_pids() -> Collection[int]:
    return ()


@dataclass(frozen=True)
class StepContext:
    """What every load step runs against: the job, the plan, the input directory the load
    generator writes to, where progress goes, and the executors' processes that are not
    this process's descendants (executor pods; none on standalone)."""

    job: _Job
    plan: CalibrationPlan
    input_dir: Path
    status: Status
    executor_pids: Callable[[], Collection[int]] = field(default=_no_pids)

    def cpu(self) -> CpuSnapshot | None:
        return snapshot(extra_roots=self.executor_pids())


def _run_step(
    ctx: StepContext,
    executors: int,
    rate_eps: float,
    step_index: int,
    status: Status | None = None,
) -> tuple[LoadStep, LoadgenReport]:
    """Offer ``rate_eps`` for ``step_s``; summarise the batches after the warm-up."""
    job, plan, input_dir = ctx.job, ctx.plan, ctx.input_dir
    status = status or ctx.status
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
    cpu_before = ctx.cpu()
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
    foreign = foreign_cores(cpu_before, ctx.cpu())
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
    ctx: StepContext, executors: int, rate_eps: float, step_index: int
) -> tuple[LoadStep, LoadgenReport]:
    """A step, repeated while other processes took more than ``max_foreign_cores``; every
    attempt starts from a drained queue. The last attempt is returned, flagged if contended."""
    attempt = 0
    while True:
        attempt += 1
        step, report = _run_step(ctx, executors, rate_eps, step_index)
        _drain(ctx.job, ctx.plan, ctx.status)  # every step (and retry) starts from an empty queue
        foreign = step.foreign_cpu_cores
        contended = foreign is not None and foreign > ctx.plan.max_foreign_cores
        if not contended or attempt > ctx.plan.contention_retries:
            return step.model_copy(update={"attempts": attempt, "contended": contended}), report
        ctx.status(f"other work took {foreign:.2f} cores: repeating", 0.0, 1.0)


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


__all__ = ["Status", "StepContext"]
