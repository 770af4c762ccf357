"""The options of the tools: the load generator (``hrl-autoscaler loadgen``), the calibration
(``hrl-autoscaler calibrate``) and the in-place executor agent inside the Spark driver."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hrl_autoscaler.config.sim import MAX_EXECUTORS, MIN_EXECUTORS

# =============================================================================================
# The load generator (``hrl-autoscaler loadgen``) and the calibration (``... calibrate``)
# =============================================================================================


@dataclass(frozen=True)
class LoadgenDefaults:
    """Defaults of ``hrl-autoscaler loadgen``: IoT sensor events at a scheduled rate."""

    tick_s: float = 1.0
    """One output file (or one Kafka flush) per tick, s. The IoT job's trigger is about 1 s,
    so a 1 s tick gives each micro-batch about one new file; shorter ticks mean more, smaller
    files (file listing costs the job time), longer ones make the load lumpy."""

    report_interval_s: float = 5.0
    """Target vs achieved rate is reported per interval of this many wall seconds: several
    ticks, so one late file does not read as a rate collapse."""

    duration_s: float = 60.0
    """Wall seconds to run when neither ``--duration`` nor a trace's own length says."""

    speed: float = 1.0
    """Simulated seconds per wall second for scenarios and traces: 1440 plays a day in a
    minute. It compresses time, not volume: rates stay events per wall second."""

    devices: int = 1000
    """Distinct device ids; each keeps one device type for the whole run."""

    anomaly_rate: float = 0.002
    """Share of readings drawn from the device type's anomaly range (an arrhythmia, a burst
    pipe): rare enough to be anomalies, frequent enough to appear in a few seconds of load."""

    seed: int = 0
    """Seeds the device mix, the readings and the scenario realisation: one seed, one stream."""

    rate_tolerance: float = 0.05
    """An interval whose achieved rate is within 5% of its target counts as on target."""

    kafka_linger_ms: int = 20
    """Kafka producer batching delay, ms: bounded by the tick, amortises requests."""

    kafka_acks: str = "1"
    """Leader acknowledgement: a load generator needs throughput, not durability."""


LOADGEN = LoadgenDefaults()


@dataclass(frozen=True)
class CalibrationDefaults:
    """Defaults of ``hrl-autoscaler calibrate``: measure the real IoT job, fit ``SimParams``."""

    executors: tuple[int, ...] = (1, 2)
    """Executor counts to measure. Two on a 2-core machine: the driver, the load generator and
    each 1-core executor share the cores, so a third executor would only measure
    oversubscription (three JVMs taking turns on two cores), not Spark's scaling."""

    start_rate_eps: float = 500.0
    """First offered rate, events/s per executor (multiplied by the count): light enough that
    the batch time is mostly fixed overhead, which the fit needs to separate from processing."""

    max_rate_eps: float = 64_000.0
    """Rates double from ``start_rate_eps`` until the job stops keeping up or this is passed
    (events/s per executor): a bound on the load generator, well above one core's capacity."""

    refine: int = 2
    """Bisection steps between the last sustainable and the first saturated rate: the latency
    bends near the knee, and doubling alone leaves no point there."""

    step_s: float = 45.0
    """Wall seconds each rate is held; ``warmup_s`` of it is discarded. Long enough for about
    30 batches after the warm-up even when batches run back to back."""

    warmup_s: float = 15.0
    """Seconds after a rate change before batches count: the queue starts empty (each step
    waits for the previous one to drain), and the first batches ramp up to the new rate's
    batch size; at 5 s batches that is three batches."""

    trigger_s: float = 2.0
    """ProcessingTime trigger of the job during calibration: the IoT job's own default
    (``IotJobOptions.trigger_s``), so the calibration describes the job as it runs. The
    calibrated simulator takes it as ``batch_interval_s``."""

    tick_s: float = 0.5
    """Load generator tick during calibration: several files per trigger interval, so files
    do not arrive in phase with the trigger (one file per trigger would make every event wait
    the same fraction of the interval)."""

    saturation_ratio: float = 1.0
    """A step is saturated when the job falls behind (less flows through than arrives) or its
    batches exceed this share of the trigger interval and keep growing."""

    max_foreign_cores: float = 0.5
    """A step during which other processes used more than this many cores on average (a
    quarter of this machine) is contended: it measured them as much as the job. It is
    repeated, and if still contended, kept in the file but neither fitted nor judged."""

    contention_retries: int = 2
    """Extra attempts of a contended step, each after the queue has drained."""

    drain_timeout_s: float = 180.0
    """After a saturated step, wait at most this long for the backlog to drain."""

    scale_repeats: int = 2
    """Executor add and remove timings measured per direction (mean reported)."""

    scale_timeout_s: float = 120.0
    """Give up waiting for an executor to register or leave after this many seconds."""

    executor_memory: str = "512m"
    executor_cores: int = 1
    """Small executors (DESIGN.md): four helpers share this 2-core, 24 GB machine."""

    latency_target: float = 0.25
    """The issue's target: the calibrated simulator predicts the measured mean batch latency
    within 25% over the measured (sustainable) range."""

    out_dir: str = "docs/calibration"
    """Where ``calibrate`` writes the calibration file, plot, measurements and table."""


CALIBRATION = CalibrationDefaults()


# =============================================================================================
# The in-place executor agent (runs inside the Spark driver: ``hrl_autoscaler.tools.spark.agent``)
# =============================================================================================

AGENT_ENV_PREFIX = "HRL_AUTOSCALER_AGENT_"


class ExecutorAgentSettings(BaseSettings):
    """Options of :class:`hrl_autoscaler.tools.spark.ExecutorTargetAgent`.

    Given by the job's flags, else ``HRL_AUTOSCALER_AGENT_*`` environment variables (which a
    SparkApplication sets with ``spec.driver.env``), else these defaults.
    """

    model_config = SettingsConfigDict(env_prefix=AGENT_ENV_PREFIX, extra="forbid", frozen=True)

    source: Literal["annotation", "file"] = "annotation"
    """Where the target comes from: the SparkApplication's ``hrl-autoscaler.io/target-executors``
    annotation (Kubernetes), or a file holding an integer (standalone clusters, tests)."""
    namespace: str | None = None
    """The SparkApplication's namespace; None = ``spark.kubernetes.namespace`` (set by the Spark
    Operator), else the service account's namespace file."""
    name: str | None = None
    """The SparkApplication's name; None = the driver label the Spark Operator sets
    (``spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name``)."""
    kubeconfig: Path | None = None
    """Kubeconfig file; None = the driver pod's service account (in-cluster config). Needs
    ``get`` on ``sparkapplications`` in the namespace, nothing else."""
    target_file: Path | None = None
    """With ``source=file``: the file whose content is the target (rewritten atomically)."""
    poll_interval_s: float = Field(default=2.0, gt=0)
    """Seconds between reads of the target and checks of the executors. A GET every 2 s is
    negligible for the API server and keeps the time to apply a decision well under the 15 s
    budget (the operator decides every 30 s)."""
    min_executors: int = Field(default=MIN_EXECUTORS, ge=0)
    max_executors: int = Field(default=MAX_EXECUTORS, ge=1)
    """Targets outside [min, max] are refused (logged, the last good target stays): a typo in
    an annotation must not start 200 executors."""
    initial_executors: int | None = Field(default=None, ge=0)
    """Target applied at start until the source gives one; None = leave Spark's allocation.
    On a standalone cluster Spark ignores ``spark.executor.instances`` without dynamic
    allocation and starts ``spark.cores.max / spark.executor.cores`` executors, so set it."""
    scale_in_grace_s: float = Field(default=7.0, ge=0)
    """Scale-in kills idle executors only (no task lost); an executor still busy after this
    many seconds of surplus is killed anyway (its tasks rerun elsewhere), so a saturated
    application still shrinks. Micro-batches last seconds, so most executors turn idle well
    within it. The grace and the forced kill share the 15 s budget for applying a decision:
    a busy executor held a 3 -> 1 scale-in for 18 s with a 30 s grace, and with 10 s the
    master showed it 15.2 s after the change on a loaded machine (the kill itself took about
    5 s there), so 7 s leaves that kill 3 s of margin."""
    kill_timeout_s: float = Field(default=60.0, gt=0)
    """An executor asked to leave that is still registered after this long is asked again."""
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Serve the agent's gauges (``hrl_autoscaler_agent_*``) on this port at ``/metrics``;
    None = off, 0 = any free port (logged)."""
    metrics_host: str = "0.0.0.0"  # noqa: S104 - Prometheus scrapes the driver pod on its IP
    """Listen address of the agent's gauges: all interfaces, as Prometheus scrapes the driver
    pod on its IP."""

    @model_validator(mode="after")
    def _check(self) -> ExecutorAgentSettings:
        if self.min_executors > self.max_executors:
            raise ValueError(
                f"min_executors ({self.min_executors}) > max_executors ({self.max_executors})"
            )
        if self.source == "file" and self.target_file is None:
            raise ValueError("source=file needs target_file")
        if self.initial_executors is not None and not (
            self.min_executors <= self.initial_executors <= self.max_executors
        ):
            raise ValueError(
                f"initial_executors ({self.initial_executors}) outside "
                f"[{self.min_executors}, {self.max_executors}]"
            )
        return self
