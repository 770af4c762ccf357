"""The calibration file: raw measurements, fitted simulator parameters, where they came from.

Schema-versioned JSON (``schema: hrl-autoscaler/calibration/v1``), validated with pydantic on
load so that a hand-edited or truncated file fails with the field's path and the problem
(``fitted.executor_rate_eps: Input should be greater than 0``), never deep inside a rollout.
``sim_params`` turns it into the simulator's :class:`~hrl_autoscaler.config.SimParams`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hrl_autoscaler.config import SimParams

SchemaV1 = Literal["hrl-autoscaler/calibration/v1"]
SCHEMA_V1: SchemaV1 = "hrl-autoscaler/calibration/v1"
SCHEMA: str = SCHEMA_V1

#: The SimParams fields a calibration sets, in the order they are reported.
FITTED_FIELDS: tuple[str, ...] = (
    "executor_rate_eps",
    "scaling_contention",
    "batch_overhead_s",
    "task_time_s",
    "batch_interval_s",
    "startup_delay_s",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MachineInfo(_Model):
    """Where it was measured: the numbers mean little without the machine."""

    hostname: str
    platform: str
    python: str
    cpus: int = Field(ge=1)
    memory_gb: float = Field(gt=0)
    java: str
    load_average: tuple[float, float, float] | None = None
    """1/5/15-minute load average at the start: other work shares the cores."""


class SparkInfo(_Model):
    version: str
    master: str
    executor_cores: int = Field(ge=1)
    executor_memory: str
    trigger_interval_s: float = Field(gt=0)
    job: str
    """What ran (the IoT job's module and query name)."""

    @property
    def on_kubernetes(self) -> bool:
        """Executors were pods (``calibrate --kubeconfig``), not standalone workers' JVMs."""
        return self.master.startswith("k8s://")

    @property
    def deployment(self) -> str:
        return "on Kubernetes (executor pods)" if self.on_kubernetes else "standalone"


class BatchSample(_Model):
    """One micro-batch from ``StreamingQuery.recentProgress``."""

    batch_id: int = Field(ge=0)
    start_epoch_s: float
    duration_s: float = Field(ge=0)
    """``durationMs.triggerExecution``: what Spark's ``latency`` metric reports."""
    input_rows: int = Field(ge=0)
    event_latency_s: float | None = None
    """Batch end minus the batch's mean event time, when the job has a watermark (Spark then
    reports ``eventTime.avg``); None otherwise."""


class LoadStep(_Model):
    """One (executors, offered rate) step and what the job did under it."""

    executors: int = Field(ge=1)
    offered_eps: float = Field(ge=0)
    """Rate the load generator was asked for."""
    produced_eps: float = Field(ge=0)
    """Rate the load generator achieved over the step."""
    duration_s: float = Field(gt=0)
    batches: list[BatchSample]
    """Batches that started after the warm-up, in order."""
    mean_batch_s: float = Field(ge=0)
    mean_input_rows: float = Field(ge=0)
    processed_eps: float = Field(ge=0)
    """Rows processed / time spent processing (Spark's ``processedRowsPerSecond``)."""
    input_eps: float = Field(ge=0)
    """Rows processed / wall time of the counted batches (what actually flowed through)."""
    saturated: bool
    """The job did not keep up: mean batch duration above the trigger interval, or fewer
    rows processed than arrived."""
    mean_event_latency_s: float | None = None
    load_average: float | None = None
    """The machine's 1-minute load average at the end of the step (for the record)."""
    foreign_cpu_cores: float | None = None
    """Cores that processes other than the calibration's own used on average during the
    step (``calibration.cpu``); None where ``/proc`` is missing."""
    attempts: int = Field(default=1, ge=1)
    """How many times the step was run: a contended attempt is repeated."""
    contended: bool = False
    """Still contended after the last attempt: the step measured the other work as much as
    the job, so it is neither fitted nor judged."""


class ScalingTiming(_Model):
    """One in-place executor change: from -> to, and seconds until it took effect."""

    direction: Literal["add", "remove"]
    from_executors: int = Field(ge=0)
    to_executors: int = Field(ge=0)
    seconds: float = Field(ge=0)
    """Request to the executor registering (add) or leaving (remove)."""


class FittedParams(_Model):
    """The SimParams fields the measurements determine."""

    executor_rate_eps: float = Field(gt=0)
    scaling_contention: float = Field(ge=0, le=1)
    batch_overhead_s: float = Field(ge=0)
    task_time_s: float = Field(ge=0)
    batch_interval_s: float = Field(gt=0)
    startup_delay_s: float = Field(ge=0)

    def overrides(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in FITTED_FIELDS}


class Prediction(_Model):
    """The calibrated simulator against one measured step."""

    executors: int = Field(ge=1)
    offered_eps: float = Field(ge=0)
    measured_batch_s: float = Field(ge=0)
    simulated_batch_s: float = Field(ge=0)
    relative_error: float
    """(simulated - measured) / measured."""
    in_range: bool
    """Part of the measured range the target is judged on: sustainable, not contended."""
    contended: bool = False
    simulated_latency_s: float = Field(default=0.0, ge=0)
    """The simulator's own latency (the batch plus half a trigger of waiting), for comparison
    with the measured event latency; not judged."""
    measured_event_latency_s: float | None = None
    """Mean over batches of batch end - mean event time (includes the load generator's tick:
    events wait in an open file for half a tick on average)."""


class FitQuality(_Model):
    method: str
    target: float = Field(gt=0)
    """Largest relative error allowed over the measured range (0.25 in issue 7)."""
    max_abs_error: float = Field(ge=0)
    mean_abs_error: float = Field(ge=0)
    met: bool
    predictions: list[Prediction]
    capacity_eps: dict[str, float]
    """Fitted capacity by executor count (keys are counts as strings, JSON-friendly)."""
    max_sustained_eps: dict[str, float]
    """Highest offered rate the job kept up with, by executor count."""
    notes: list[str] = Field(default_factory=list)


class Calibration(_Model):
    """A whole calibration file."""

    schema_: SchemaV1 = Field(alias="schema")
    created: str
    command: str
    machine: MachineInfo
    spark: SparkInfo
    steps: list[LoadStep] = Field(min_length=1)
    scaling: list[ScalingTiming] = Field(default_factory=list)
    fitted: FittedParams
    quality: FitQuality

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _consistent(self) -> Calibration:
        if self.fitted.batch_interval_s != self.spark.trigger_interval_s:
            raise ValueError(
                f"fitted.batch_interval_s ({self.fitted.batch_interval_s}) must equal "
                f"spark.trigger_interval_s ({self.spark.trigger_interval_s})"
            )
        return self

    def sim_params(self, base: SimParams | None = None) -> SimParams:
        """``base`` (default ``SimParams()``) with the fitted fields replaced."""
        return (base or SimParams()).with_overrides(**self.fitted.overrides())

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")


class CalibrationError(ValueError):
    """A calibration file that cannot be used; the message names the file and the fields."""


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + ("schema" if part == "schema_" else part)
    return out or "(top level)"


def load_calibration(path: Path | str) -> Calibration:
    """Read and validate a calibration file; errors name the file and each bad field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read calibration: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CalibrationError(f"{path}: not UTF-8 JSON (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise CalibrationError(f"{path}: expected a JSON object, got {type(data).__name__}")
    schema = data.get("schema")
    if schema != SCHEMA:
        raise CalibrationError(
            f"{path}: schema: expected {SCHEMA!r}, got {schema!r} "
            "(written by a different version of hrl-autoscaler calibrate?)"
        )
    try:
        return Calibration.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_where(err['loc'])}: {err['msg']}" for err in exc.errors())
        raise CalibrationError(f"{path}: invalid calibration: {problems}") from None


def load_sim_params(path: Path | str, base: SimParams | None = None) -> SimParams:
    """The simulator's parameters with a calibration file applied (``--calibration``)."""
    return load_calibration(path).sim_params(base)


def calibrated_peak_rate(default_peak_eps: float, params: SimParams) -> float:
    """A scenario's default peak, rescaled to a calibrated cluster.

    Scenario peaks are written for the default cluster (about 12,700 events/s at 20
    executors). A calibrated cluster's absolute capacity differs, so the same scenario would
    be trivial or impossible for it; this keeps the peak at the same share of the 20-executor
    capacity, which is what makes a scenario "bursty but servable".
    """
    return default_peak_eps * params.rate_scale_eps / SimParams().rate_scale_eps
