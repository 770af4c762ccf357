"""Every option of the simulator and the evaluation in one place: type, default, unit and why.

The operator's runtime settings (pydantic-settings: defaults, YAML file, environment variables)
are in the last section; the simulator's parameters are a frozen dataclass so that a rollout is
a pure function of (parameters, workload, seed) and can be hashed into a policy's metadata.
"""

from __future__ import annotations

import math
import os
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

Actuation = Literal["restart", "in-place"]
ACTUATIONS: tuple[Actuation, ...] = ("restart", "in-place")

#: The action space of the seed: an executor count in [1, 20].
MIN_EXECUTORS = 1
MAX_EXECUTORS = 20


@dataclass(frozen=True)
class SimParams:
    """Parameters of the simulated Spark Structured Streaming cluster.

    Each default says why it was chosen. Units are in the field names (``_s`` seconds,
    ``_eps`` events per second, ``_ms`` milliseconds).
    """

    decision_interval_s: float = 30.0
    """One environment step. DESIGN.md's ``decisionInterval``: long enough for a scrape
    (5-15 s) and a micro-batch to reflect a change, short enough to follow an alarm burst."""

    min_executors: int = MIN_EXECUTORS
    max_executors: int = MAX_EXECUTORS
    """Bounds of the seed's action space (1..20)."""

    executor_rate_eps: float = 1000.0
    """Events per second one 1-core executor processes alone (parse, window, aggregate).
    Calibrated values from a real job replace it (``--calibration``)."""

    scaling_contention: float = 0.03
    """Universal-scalability-law contention sigma: capacity(n) = rate*n / (1 + sigma*(n-1)).
    Shuffle and driver scheduling make each added executor worth a little less; 0.03 gives
    20 executors about 12.7x one executor, in the range measured for shuffle-light jobs."""

    startup_delay_s: float = 45.0
    """Pod scheduling + image pull + JVM start + registration of a new executor on
    Kubernetes; typically 30-60 s."""

    restart_downtime_s: float = 90.0
    """In ``restart`` mode the Spark Operator deletes the driver and resubmits: driver pod
    start, SparkContext, executors, state restore. 60-120 s is typical."""

    actuation: Actuation = "in-place"
    """``in-place``: the driver agent changes executors without a restart (new ones after
    ``startup_delay_s``, removal at once). ``restart``: every change of the executor count
    restarts the application (the Spark Operator's behaviour for ``spec.executor.instances``)."""

    batch_interval_s: float = 1.0
    """Structured Streaming ProcessingTime trigger. An event waits on average half of it."""

    batch_overhead_s: float = 0.2
    """Fixed per-micro-batch cost (planning, offsets commit, state checkpoint)."""

    task_time_s: float = 0.25
    """Mean service time of one task, the job unit of the Erlang-C (M/M/c) queueing term that
    makes latency grow sharply as utilisation approaches 1."""

    price_per_executor_hour: float = 0.49
    """USD per executor-hour, so 20 executors cost $9.80/hour as in the seed's table."""

    capacity_noise: float = 0.05
    """Relative standard deviation of per-step capacity (GC pauses, skew, noisy neighbours)."""

    max_latency_ms: float = 5000.0
    """Normalisation of latency in the observation and reward (MAX_LATENCY in the seed):
    beyond 5 s a streaming IoT pipeline is failing its users whatever the exact number."""

    latency_cap_ms: float = 600_000.0
    """Reported latency is capped at 10 minutes so one long outage cannot make a mean infinite."""

    backlog_horizon_s: float = 60.0
    """Backlog is observed in units of 'seconds of full-cluster capacity' divided by this,
    i.e. 1.0 = one minute of work for 20 executors."""

    memory_base: float = 0.25
    """Memory utilisation of an idle executor (JVM, broadcast, state store)."""

    def capacity_eps(self, executors: float) -> float:
        """Sustainable processing rate of ``executors`` running executors, in events/s."""
        if executors <= 0:
            return 0.0
        return (
            self.executor_rate_eps * executors / (1.0 + self.scaling_contention * (executors - 1))
        )

    @property
    def rate_scale_eps(self) -> float:
        """Capacity of the largest allocation: the scale of rates in the observation."""
        return self.capacity_eps(self.max_executors)

    @property
    def max_cost_per_hour(self) -> float:
        return self.max_executors * self.price_per_executor_hour

    def executors_for_rate(self, rate_eps: float, utilisation: float = 0.7) -> int:
        """Smallest executor count whose capacity keeps utilisation at or below the target."""
        for n in range(self.min_executors, self.max_executors + 1):
            if self.capacity_eps(n) * utilisation >= rate_eps:
                return n
        return self.max_executors

    def with_overrides(self, **changes: Any) -> SimParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvaluationDefaults:
    """Defaults of ``hrl-autoscaler evaluate``."""

    seeds: int = 5
    """Five seeds as in the seed report's ablation, enough for a t-based 95% interval."""

    episode_steps: int = 2880
    """One simulated day at 30 s per decision: covers diurnal and periodic scenarios."""

    controllers: tuple[str, ...] = ("static-max", "hpa", "spark-da", "ds2", "oracle")
    target_utilisation: float = 0.7
    """Used to size the initial allocation identically for every controller."""

    slo_attainment_target: float = 0.99
    """The ``slo`` objective asks 99% of steps to meet the latency SLO."""

    slo_penalty: float = 10.0
    """Score lost per unit of missing attainment: 1 point of attainment below 99% costs 0.1,
    more than the whole cost range (1.0) is worth over ten points, so the SLO dominates."""

    r_meta_latency_numerator: float = 1000.0
    r_meta_cost_weight: float = 0.1
    """R_meta = 1000/(mean latency ms + 1) - 0.1 * mean cost per hour, as in the seed."""

    extra: dict[str, Any] = field(default_factory=dict)


EVALUATION = EvaluationDefaults()


def hours(steps: int, params: SimParams) -> float:
    return steps * params.decision_interval_s / 3600.0


def ceil_int(x: float) -> int:
    return math.ceil(x - 1e-9)


def _guardrail_defaults() -> Any:
    # Imported here: core.guardrails is pure and imports nothing from this module.
    from hrl_autoscaler.runtime.core.guardrails import GuardrailSettings

    return GuardrailSettings()


# =============================================================================================
# The operator's runtime settings (``hrl-autoscaler run``)
# =============================================================================================
# Sources, lowest priority first: the defaults below, an optional YAML file (``--config FILE``
# or ``HRL_AUTOSCALER_CONFIG``; keys are the field names), environment variables with the prefix
# ``HRL_AUTOSCALER_`` (nested fields joined by ``__``: ``HRL_AUTOSCALER_DEFAULTS__MODE=recommend``,
# ``HRL_AUTOSCALER_QUERIES__LATENCY=...``), then command-line flags. Unknown keys are errors, so
# a typo in a config file is reported instead of silently ignored.

OPERATOR_ENV_PREFIX = "HRL_AUTOSCALER_"
_GUARDRAIL_DEFAULTS = _guardrail_defaults()
CONFIG_FILE_ENV = OPERATOR_ENV_PREFIX + "CONFIG"
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("hrl_autoscaler_config_file", default=None)

Mode = Literal["auto", "recommend", "paused"]
MODES: tuple[Mode, ...] = ("auto", "recommend", "paused")
Objective = Literal["slo", "r_meta"]
OBJECTIVE_NAMES: tuple[Objective, ...] = ("slo", "r_meta")

# Sane ranges of the per-application settings (annotations, chart defaults, stored state). A
# value outside them is a typo or an attack, never a setting: 1e308 passes "finite" but three of
# them sum to inf and normalise to 0, and 10^3000 executors overflow every float they meet.
WEIGHT_MAX = 1000.0
"""alpha/beta/gamma are normalised to sum to 1, so only their ratios matter; 1000:1 is already
a corner of the simplex, and three weights at most 1000 cannot overflow their sum."""
EXECUTORS_LIMIT = 1000
"""Largest min-/max-executors accepted: 50x the policy's action space (1..20) and far beyond a
single streaming application here; the DS2 fallback decides outside the trained range."""
LATENCY_SLO_MS_MAX = 86_400_000.0
"""A latency SLO above one day (ms) is not a streaming SLO."""
COST_PER_EXECUTOR_HOUR_MAX = 1000.0
"""USD per executor-hour; the largest cloud GPU nodes cost about 100 USD/h."""

_BY_APP = "namespace, application_id, application_name"
_BY_EXECUTOR_APP = "application_id, application_name"
_NOT_DRIVER = '{executor_id!="driver"}'


def _streaming(name: str) -> str:
    """A Structured Streaming gauge of any query name and any ``spark.metrics.namespace``."""
    return '{__name__=~"metrics_.+_spark_streaming_.+_' + name + '_Value"}'


class PrometheusQueries(BaseModel):
    """PromQL templates, each ONE instant query that returns every application at once.

    A cycle therefore costs the same number of queries for 3 or 300 applications. Metric names
    differ between Spark versions and exporters (DESIGN.md), so they are configuration. Each
    result series is matched to a SparkApplication by its ``application_id`` label (equal to
    ``status.sparkApplicationId``; series of an earlier run of the application are dropped), else
    by a name label (``name_labels``) plus a namespace label when present. ``{window}`` is
    replaced by the metrics window as a PromQL duration (e.g. ``30s``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    active_tasks: str = (
        f"sum by ({_BY_EXECUTOR_APP}) "
        f"(avg_over_time(metrics_executor_activeTasks{_NOT_DRIVER}[{{window}}]))"
    )
    """Busy task slots (Spark 4 ``activeTasks``), averaged over the window so that one scrape
    between two micro-batches does not read as an idle application."""
    total_cores: str = f"sum by ({_BY_EXECUTOR_APP}) (metrics_executor_totalCores{_NOT_DRIVER})"
    """Task slots of the running executors: cpu utilisation = active_tasks / total_cores."""
    running_executors: str = (
        f"count by ({_BY_EXECUTOR_APP}) (metrics_executor_totalCores{_NOT_DRIVER})"
    )
    """Executors registered now (the driver excluded)."""
    memory_used: str = (
        f"sum by ({_BY_EXECUTOR_APP}) (metrics_executor_memoryUsed_bytes{_NOT_DRIVER})"
    )
    memory_max: str = f"sum by ({_BY_EXECUTOR_APP}) (metrics_executor_maxMemory_bytes{_NOT_DRIVER})"
    """Memory utilisation = memory_used / memory_max (storage memory of the executors)."""
    input_rate: str = f"sum by ({_BY_APP}) ({_streaming('inputRate_total')})"
    """Events/s arriving, summed over the application's streaming queries."""
    processing_rate: str = f"sum by ({_BY_APP}) ({_streaming('processingRate_total')})"
    """Events/s processed, summed over the application's streaming queries."""
    latency: str = f"max by ({_BY_APP}) ({_streaming('latency')})"
    """Micro-batch latency in ms; the slowest query counts."""
    backlog: str = "sum by (namespace, group) (kafka_consumergroup_group_lag)"
    """Events behind the source (consumer-group lag, group = application name). Optional: an
    application without lag series is decided with a backlog of 0."""
    last_seen: str = f"max by ({_BY_APP}) (timestamp({_streaming('latency')}))"
    """Unix time of the newest latency sample: older than ``max_metric_age_s`` = stale."""
    name_labels: tuple[str, ...] = ("application_name", "group")
    """Labels holding the SparkApplication's name, tried in order."""
    namespace_labels: tuple[str, ...] = ("namespace", "exported_namespace")
    """Labels holding its namespace, tried in order (series without one match by name alone
    when that name is unique among the managed applications)."""

    def templates(self) -> dict[str, str]:
        """Every query by name, in a fixed order."""
        return {name: getattr(self, name) for name in QUERY_NAMES}


QUERY_NAMES: tuple[str, ...] = (
    "active_tasks",
    "total_cores",
    "running_executors",
    "memory_used",
    "memory_max",
    "input_rate",
    "processing_rate",
    "latency",
    "backlog",
    "last_seen",
)


class AnnotationDefaults(BaseModel):
    """What an application gets for each ``hrl-autoscaler.io/`` annotation it does not set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight_policy: str = "meta"
    """``meta`` (the TD3 meta-controller retunes alpha/beta/gamma), ``fixed`` (the annotations
    as written) or a preset name: the hierarchical controller is the point of the project."""
    objective: Objective = "slo"
    """What the meta-controller optimises: ``slo`` (cheapest while 99% of intervals meet
    ``latency-slo-ms``) or ``r_meta`` (the seed's formula, which mostly rewards latency)."""
    min_executors: int = Field(default=MIN_EXECUTORS, ge=1, le=EXECUTORS_LIMIT)
    max_executors: int = Field(default=MAX_EXECUTORS, ge=1, le=EXECUTORS_LIMIT)
    """Bounds of the policy's action space (1..20); wider bounds (up to ``EXECUTORS_LIMIT``)
    are allowed, the DS2 fallback decides whenever the count leaves what the policy was
    trained on."""
    mode: Mode = "auto"
    """``auto`` acts, ``recommend`` only reports, ``paused`` does nothing."""
    actuation: Actuation = "restart"
    """``restart`` (patch ``spec.executor.instances``: the Spark Operator restarts the
    application) works everywhere; ``in-place`` needs the driver agent, so it is opt-in."""
    latency_slo_ms: float = Field(default=2000.0, gt=0, le=LATENCY_SLO_MS_MAX, allow_inf_nan=False)
    """The latency SLO of the ``slo`` objective, ms; 2 s is what the meta-controller was
    trained with when a scenario names none."""
    cost_per_executor_hour: float = Field(
        default=0.49, gt=0, le=COST_PER_EXECUTOR_HOUR_MAX, allow_inf_nan=False
    )
    """USD per executor-hour (the simulator's price), used to score cost in the slow loop."""

    @field_validator("weight_policy")
    @classmethod
    def _weight_policy(cls, value: str) -> str:
        from hrl_autoscaler.runtime.core.weights import PRESETS

        accepted = ("meta", "fixed", *sorted(PRESETS))
        if value not in accepted:
            raise ValueError(f"weight_policy {value!r} is not one of {', '.join(accepted)}")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> AnnotationDefaults:
        if self.min_executors > self.max_executors:
            raise ValueError(
                f"min_executors ({self.min_executors}) > max_executors ({self.max_executors})"
            )
        return self


class GuardrailDefaults(BaseModel):
    """Guardrails between the policy and the cluster. Defaults are the evaluation's
    (:class:`~hrl_autoscaler.runtime.core.guardrails.GuardrailSettings`), so the operator
    does what was measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    restart_cooldown_s: float = Field(default=300.0, ge=0)
    """No change within this many seconds of the last one in ``restart`` actuation: every
    change costs a restart (~90 s of downtime), so at most one per 5 minutes."""
    in_place_cooldown_s: float = Field(default=0.0, ge=0)
    """Cooldown in ``in-place`` actuation: changes are cheap, scale-down confirmations suffice."""
    max_step: int = Field(default=_GUARDRAIL_DEFAULTS.max_step, ge=1)
    """At most this many executors added or removed per decision."""
    scale_down_confirmations: int = Field(
        default=_GUARDRAIL_DEFAULTS.scale_down_confirmations, ge=1
    )
    """Consecutive lower proposals needed before scaling down (HPA's stabilisation window)."""
    deadband: int = Field(default=_GUARDRAIL_DEFAULTS.deadband, ge=0)
    """Proposals within this many executors of the current count are ignored (hysteresis)."""
    slo_guard: bool = True
    """Raise the policy's proposal to DS2's sizing while latency stays far above the SLO
    (:mod:`hrl_autoscaler.runtime.core.sloguard`): cost-leaning weights cannot park an
    application."""
    slo_guard_latency_factor: float = Field(default=3.0, ge=1.0)
    """Latency above this multiple of the application's SLO counts as a breach."""
    slo_guard_cycles: int = Field(default=3, ge=1)
    """Consecutive breaching decisions before the guard acts; it lets go at latency <= SLO."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class OperatorSettings(BaseSettings):
    """Every option of ``hrl-autoscaler run``: type, default, unit and why."""

    model_config = SettingsConfigDict(
        env_prefix=OPERATOR_ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    # -- what to watch ------------------------------------------------------------------------
    kubeconfig: Path | None = None
    """Kubeconfig file; None = the in-cluster service account, else ``$KUBECONFIG``."""
    namespaces: Annotated[tuple[str, ...], NoDecode] = ()
    """Namespaces to watch (comma-separated in the environment); empty = cluster-wide."""
    policies_dir: Path | None = None
    """Directory with ``ppo/`` and ``meta-<objective>/``; None = ``$HRL_AUTOSCALER_POLICIES``,
    else the repository's ``policies/`` (``/app/policies`` in the image)."""

    # -- the two loops ------------------------------------------------------------------------
    decision_interval_s: float = Field(default=30.0, gt=0)
    """Fast loop period, s: the PPO policy was trained on 30 s decisions."""
    meta_interval_s: float = Field(default=600.0, gt=0)
    """Slow loop period, s: the meta-controller was trained on windows of 20 decisions."""
    meta_min_samples: int = Field(default=3, ge=1)
    """A meta decision waits until its window holds this many decisions with metrics (after
    an outage or an operator restart the window is refilled first)."""
    metrics_window_s: float | None = Field(default=None, gt=0)
    """The ``{window}`` of the queries, s; None = one decision interval."""
    max_metric_age_s: float = Field(default=120.0, gt=0)
    """Hold when the newest streaming sample is older than this, s (a hung driver)."""
    first_batch_grace_s: float = Field(default=180.0, ge=0)
    """Hold a (re)started run until its first micro-batch completes, at most this long, s; 0 =
    never hold. Until then Spark reports input rate, processing rate and latency 0 while every
    task slot is busy with the start-up, which reads as an overloaded application. Past the
    grace the operator decides anyway (a first batch that long is itself news)."""

    # -- Prometheus ---------------------------------------------------------------------------
    prometheus_url: str = "http://localhost:9090"
    """Base URL of the Prometheus HTTP API (``/api/v1/query`` is appended)."""
    prometheus_bearer_token: SecretStr | None = None
    prometheus_bearer_token_file: Path | None = None
    """Bearer token, or a file re-read on every cycle (projected service-account tokens rotate)."""
    prometheus_username: str | None = None
    prometheus_password: SecretStr | None = None
    """HTTP basic auth (both or neither)."""
    prometheus_timeout_s: float = Field(default=5.0, gt=0)
    """Deadline for one cycle's queries together, s: a hung Prometheus costs a cycle at most
    this (each query's HTTP timeout is what is left of it), so a cycle fits in a decision
    interval."""
    prometheus_verify_tls: bool = True
    prometheus_ca_file: Path | None = None
    """CA bundle for an https Prometheus with a private CA."""
    queries: PrometheusQueries = PrometheusQueries()

    # -- per-application defaults and guardrails ----------------------------------------------
    defaults: AnnotationDefaults = AnnotationDefaults()
    guardrails: GuardrailDefaults = GuardrailDefaults()
    fallback_tolerance: float = Field(default=0.05, ge=0)
    """How far (in normalised units) an observation may leave the training bounds before the
    DS2 fallback decides instead of the policy."""
    default_executor_rate_eps: float = Field(default=1000.0, gt=0)
    """Events/s one executor is assumed to process until it has been measured (processing
    rate / busy executors); it sets the observation's rate scale."""
    capacity_smoothing: float = Field(default=0.3, gt=0, le=1)
    """Weight of a new per-executor rate measurement in its moving average."""

    # -- actuation, state and reporting -------------------------------------------------------
    actuation_retries: int = Field(default=3, ge=1)
    """Attempts per patch on 409 Conflict, each on a freshly read object."""
    history_size: int = Field(default=20, ge=1)
    """Decisions and meta updates kept in each application's state ConfigMap."""
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)
    """``/metrics``, ``/healthz`` and ``/readyz``; 0 = any free port (logged)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # -- several replicas ---------------------------------------------------------------------
    peering: bool = False
    """Use kopf peering so that only one replica acts (needs the KopfPeering CRDs of
    ``manifests/peering.yaml``). Off by default: one replica with ``strategy: Recreate``
    needs no CRD and no election."""
    peering_name: str = "hrl-autoscaler"
    peering_priority: int | None = None
    """Replicas of equal priority all pause (kopf's rule), so each needs its own: None picks a
    random one at start, and the highest live replica acts."""
    peering_lifetime_s: int = Field(default=60, ge=5)
    """A silent replica is presumed dead after this many seconds; then the next one acts."""
    identity: str | None = None
    """This replica's peering identity; None = ``$POD_NAME``, else host and pid."""

    @field_validator("namespaces", mode="before")
    @classmethod
    def _namespaces(cls, value: Any) -> Any:
        return _split_commas(value)

    @model_validator(mode="after")
    def _auth(self) -> OperatorSettings:
        if (self.prometheus_username is None) != (self.prometheus_password is None):
            raise ValueError("prometheus_username and prometheus_password go together")
        if self.prometheus_bearer_token is not None and self.prometheus_username is not None:
            raise ValueError("choose bearer-token or basic auth for Prometheus, not both")
        return self

    @property
    def window_s(self) -> float:
        return self.metrics_window_s or self.decision_interval_s

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _CONFIG_FILE.get()
        if config_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def load_operator_settings(config_file: Path | None = None, **overrides: Any) -> OperatorSettings:
    """Settings from defaults < YAML file < environment < ``overrides`` (command-line flags).

    ``config_file`` (else ``$HRL_AUTOSCALER_CONFIG``) must exist: a missing file is an error,
    not an empty configuration. ``None`` overrides are ignored (flags not given). Raises
    ``ValueError`` (pydantic's ``ValidationError``) naming every bad key and value.
    """
    env_file = os.environ.get(CONFIG_FILE_ENV)
    path = config_file or (Path(env_file) if env_file else None)
    if path is not None and not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    token = _CONFIG_FILE.set(path)
    try:
        return OperatorSettings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _CONFIG_FILE.reset(token)


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
    scale_in_grace_s: float = Field(default=10.0, ge=0)
    """Scale-in kills idle executors only (no task lost); an executor still busy after this
    many seconds of surplus is killed anyway (its tasks rerun elsewhere), so a saturated
    application still shrinks. Micro-batches last seconds, so most executors turn idle well
    within 10 s; waiting longer would break the 15 s budget for applying a decision (measured:
    a busy executor held a 3 -> 1 scale-in for 18 s with a 30 s grace)."""
    kill_timeout_s: float = Field(default=60.0, gt=0)
    """An executor asked to leave that is still registered after this long is asked again."""
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """Serve the agent's gauges (``hrl_autoscaler_agent_*``) on this port at ``/metrics``;
    None = off, 0 = any free port (logged)."""
    metrics_host: str = "0.0.0.0"

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
