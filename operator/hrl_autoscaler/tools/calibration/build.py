"""From measurements to a calibration: fit, predict, judge, and record the caveats."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from hrl_autoscaler.config import CALIBRATION, SimParams
from hrl_autoscaler.tools.calibration.fit import (
    FIT_METHOD,
    PredictionRow,
    StepMeasurement,
    fit_params,
    predictions,
    within_target,
)
from hrl_autoscaler.tools.calibration.progress import max_sustained
from hrl_autoscaler.tools.calibration.schema import (
    SCHEMA_V1,
    Calibration,
    FitQuality,
    FittedParams,
    LoadStep,
    MachineInfo,
    Prediction,
    ScalingTiming,
    SparkInfo,
)


def step_measurements(steps: Sequence[LoadStep]) -> list[StepMeasurement]:
    return [
        StepMeasurement(
            executors=s.executors,
            rate_eps=s.produced_eps,
            mean_batch_s=s.mean_batch_s,
            mean_input_rows=s.mean_input_rows,
            saturated=s.saturated,
        )
        for s in steps
    ]


def build_calibration(
    steps: Sequence[LoadStep],
    scaling: Sequence[ScalingTiming],
    machine: MachineInfo,
    spark: SparkInfo,
    command: str,
    target: float = CALIBRATION.latency_target,
    created: str | None = None,
) -> tuple[Calibration, list[PredictionRow]]:
    """Fit the simulator to ``steps`` and package everything as a :class:`Calibration`.

    ``created`` is when the measurements were taken (default: now; a refit keeps the
    original's)."""
    base = SimParams(batch_interval_s=spark.trigger_interval_s)
    adds = [t.seconds for t in scaling if t.direction == "add"]
    notes: list[str] = []
    startup = sum(adds) / len(adds) if adds else None
    if startup is None:
        notes.append(
            "No executor addition was timed: startup_delay_s keeps the simulator's default."
        )
    elif spark.on_kubernetes:
        notes.append(
            "startup_delay_s is the time from request to registration of an executor pod "
            "(scheduling, container start, JVM start) with the image already on the node; "
            "a registry pull comes on top."
        )
    else:
        notes.append(
            "startup_delay_s is the standalone time from request to registration (a local "
            "JVM start); on Kubernetes add pod scheduling and image pull (30-60 s)."
        )
    clean = [s for s in steps if not s.contended]
    contended = len(steps) - len(clean)
    if contended:
        notes.append(
            f"{contended} step(s) stayed contended after their retries (other processes used "
            "more than the allowed share of the CPU): kept in the file and the table, neither "
            "fitted nor judged."
        )
    if not clean:
        notes.append(
            "Every step was contended: the parameters are fitted on them all and nothing is "
            "judged; measure again on a quieter machine."
        )
    retried = sum(s.attempts > 1 for s in steps)
    if retried:
        notes.append(f"{retried} step(s) were repeated because other work contended for the CPU.")
    measured = step_measurements(steps)
    result = fit_params(step_measurements(clean or steps), base, startup_delay_s=startup)
    params = result.params
    counts = sorted({s.executors for s in steps})
    if len(counts) < 2:
        notes.append(
            "One executor count measured: scaling_contention (USL sigma) is not identifiable "
            "and keeps the simulator's default."
        )
    if not result.success:
        notes.append(f"The optimiser did not report convergence: {result.message}")
    rows = [
        r if not s.contended else replace(r, in_range=False)
        for r, s in zip(predictions(params, measured), steps, strict=True)
    ]
    met, worst, mean_error = within_target(rows, target)
    judged = sum(r.in_range for r in rows)
    if judged == 0:
        notes.append("No sustainable step was measured: the target cannot be judged.")
    sustained = max_sustained(clean or steps)
    for key, rate in sorted(sustained.items()):
        capacity = params.capacity_eps(int(key))
        if rate > capacity:
            notes.append(
                f"At {key} executor(s) the job sustained {rate:,.0f} events/s, above the fitted "
                f"capacity ({capacity:,.0f}): Spark amortises its per-batch overhead by running "
                "longer batches back to back when loaded, which the simulator's model "
                "(trigger-sized batches plus a queueing delay) does not have, so the calibrated "
                "simulator saturates earlier than the job."
            )
    for n in counts:
        saturated = [
            s.produced_eps for s in steps if s.executors == n and s.saturated and not s.contended
        ]
        capacity = params.capacity_eps(n)
        if saturated and min(saturated) < capacity:
            notes.append(
                f"At {n} executor(s) the job fell behind at {min(saturated):,.0f} events/s, "
                f"below the fitted capacity ({capacity:,.0f}): the calibrated simulator's knee "
                "is later than the job's, so near saturation it is optimistic (the fit is "
                "driven by the sustainable steps, where the target is judged)."
            )
    fitted = FittedParams(
        executor_rate_eps=params.executor_rate_eps,
        scaling_contention=params.scaling_contention,
        batch_overhead_s=params.batch_overhead_s,
        task_time_s=params.task_time_s,
        batch_interval_s=params.batch_interval_s,
        startup_delay_s=params.startup_delay_s,
    )
    quality = FitQuality(
        method=FIT_METHOD,
        target=target,
        max_abs_error=worst if math.isfinite(worst) else 0.0,
        mean_abs_error=mean_error if math.isfinite(mean_error) else 0.0,
        met=met,
        predictions=[
            Prediction(
                executors=r.executors,
                offered_eps=s.offered_eps,
                measured_batch_s=r.measured_batch_s,
                simulated_batch_s=r.simulated_batch_s,
                relative_error=r.relative_error,
                in_range=r.in_range,
                contended=s.contended,
                simulated_latency_s=r.simulated_batch_s + params.batch_interval_s / 2.0,
                measured_event_latency_s=s.mean_event_latency_s,
            )
            for r, s in zip(rows, steps, strict=True)
        ],
        capacity_eps={str(n): params.capacity_eps(n) for n in counts},
        max_sustained_eps=sustained,
        notes=notes,
    )
    calibration = Calibration(
        schema=SCHEMA_V1,
        created=created or datetime.now(UTC).isoformat(timespec="seconds"),
        command=command,
        machine=machine,
        spark=spark,
        steps=list(steps),
        scaling=list(scaling),
        fitted=fitted,
        quality=quality,
    )
    return calibration, rows
