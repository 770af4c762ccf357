"""The operator's runtime settings (``hrl-autoscaler run``): type, default, unit and why.

pydantic-settings: defaults, a YAML file, environment variables, then flags. The per-application
defaults (annotations) and the guardrails are here too, with the value limits every source of a
setting is held to.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from hrl_autoscaler.config.guardrails import GuardrailDefaults
from hrl_autoscaler.config.metrics import PrometheusQueries
from hrl_autoscaler.config.periods import parse_periods
from hrl_autoscaler.config.sim import MAX_EXECUTORS, MIN_EXECUTORS, Actuation

# =============================================================================================
# The operator's runtime settings (``hrl-autoscaler run``)
# =============================================================================================
# Sources, lowest priority first: the defaults below, an optional YAML file (``--config FILE``
# or ``HRL_AUTOSCALER_CONFIG``; keys are the field names), environment variables with the prefix
# ``HRL_AUTOSCALER_`` (nested fields joined by ``__``: ``HRL_AUTOSCALER_DEFAULTS__MODE=recommend``,
# ``HRL_AUTOSCALER_QUERIES__LATENCY=...``), then command-line flags. Unknown keys are errors, so
# a typo in a config file is reported instead of silently ignored.

OPERATOR_ENV_PREFIX = "HRL_AUTOSCALER_"
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

SloClass = Literal["latency-critical", "standard", "best-effort"]
SLO_CLASSES: dict[str, float] = {"latency-critical": 10.0, "standard": 1.0, "best-effort": 0.1}
"""The priority of each SLO class under an ExecutorBudget: a latency-critical application's
violation weighs ten standard ones (it gets executors first in a contention), a best-effort
one's a tenth. ``hrl-autoscaler.io/priority`` overrides the number."""
PRIORITY_MAX = 1000.0

WEIGHT_PRESETS: tuple[str, ...] = ("balanced", "cost-first", "latency-first", "throughput-first")
"""Names of the weight presets (``hrl-autoscaler.io/weight-policy``), sorted: the keys of
:data:`hrl_autoscaler.runtime.core.weights.PRESETS`, which holds their weights. Written here
so that validating a setting imports nothing above the settings layer; tests/unit/
test_settings.py holds the two equal."""


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
    """USD per executor-hour (the simulator's price), used to score cost in the slow loop and
    to count an ExecutorBudget's ``maxCostPerHour``."""
    slo_class: SloClass = "standard"
    """Its class under an ExecutorBudget (see :data:`SLO_CLASSES`)."""
    excluded_periods: str = Field(default="", max_length=2000)
    """Maintenance windows in which ``auto`` only recommends (``hrl-autoscaler.io/
    excluded-periods``; syntax in :mod:`hrl_autoscaler.config.periods`, checked when the
    operator starts); ``""`` = none. A fleet-wide freeze belongs here, one application's in its
    annotation."""

    @field_validator("excluded_periods")
    @classmethod
    def _excluded_periods(cls, value: str) -> str:
        parse_periods(value)  # a typo stops the operator at start, naming the period
        return value.strip()

    restart_time_tracking: bool = True
    """Measure each restart (and in-place executor start-up) and plan the restart cooldown and
    DS2's catch-up with the slowest recent one instead of the assumed 90 s (Flink's
    ``restart.time-tracking.enabled``)."""
    ineffective_scaling_detection: bool = True
    """Hold scale-ups after one that added less than ``ineffective_scaling_threshold`` of the
    capacity it was expected to add, until the load changes (Flink's
    ``scaling.effectiveness.detection.enabled``)."""
    ineffective_scaling_threshold: float = Field(default=0.1, gt=0, le=1, allow_inf_nan=False)
    """Flink's ``scaling.effectiveness.threshold``: observed over expected capacity gain."""

    @field_validator("weight_policy")
    @classmethod
    def _weight_policy(cls, value: str) -> str:
        accepted = ("meta", "fixed", *WEIGHT_PRESETS)
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
    resync_interval_s: float = Field(default=60.0, gt=0)
    """Re-list the SparkApplications this often, s, under the watch. The watch is the fast
    path, but events it misses (across a kube-apiserver restart, or a delete while a watch was
    being re-established) are not replayed. A LIST per watched namespace per minute bounds how
    long a missed application goes unmanaged, as informers' resync does; an application absent
    from two lists in a row is dropped."""
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
    input_checkpoint_s: float = Field(default=300.0, gt=0)
    """How often the forecasts' input history is copied into the state ConfigMap, s. It grows
    by one rate per decision; saving it every 5 minutes (one write per application per 10
    decisions) costs a restarted operator at most 5 minutes of it, against the 2 hours the
    anticipation needs to find a period from nothing."""
    http_host: str = "0.0.0.0"  # noqa: S104 - in a pod, probes and Prometheus come to the pod IP
    """Listen address of the HTTP server: all interfaces, as the kubelet's probes and
    Prometheus reach the pod on its IP (a NetworkPolicy narrows who may); ``127.0.0.1`` locally."""
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

    @classmethod
    def built_in(cls) -> OperatorSettings:
        """The defaults alone: no environment, no config file. What ``evaluate`` and the meta
        training environment run the decision path under, so that both measure the same
        operator whoever runs them."""
        return cls.model_validate({})

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
    if path is not None:
        refuse_plain_credentials(path)
    token = _CONFIG_FILE.set(path)
    try:
        return OperatorSettings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _CONFIG_FILE.reset(token)


#: Settings that are credentials: never read from the config file.
CREDENTIAL_KEYS = ("prometheus_bearer_token", "prometheus_password")


def refuse_plain_credentials(path: Path) -> None:
    """Raise ValueError when the config file holds a credential in plain text.

    The config file is a ConfigMap in a cluster (readable by anyone who may read ConfigMaps,
    shown by ``kubectl describe``, kept in Helm's release history). Credentials come from a
    Secret instead: ``prometheus_bearer_token_file`` mounted from it, or the environment
    variables ``HRL_AUTOSCALER_PROMETHEUS_BEARER_TOKEN`` / ``..._PASSWORD`` set from it with a
    ``secretKeyRef`` (what the chart does)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return  # the settings source reports an unreadable file with its own error
    if not isinstance(data, dict):
        return
    found = [key for key in CREDENTIAL_KEYS if data.get(key) not in (None, "")]
    if found:
        raise ValueError(
            f"{', '.join(found)} in the config file {path}: credentials come from a Secret "
            "(prometheus_bearer_token_file mounted from it, or HRL_AUTOSCALER_"
            "PROMETHEUS_BEARER_TOKEN / HRL_AUTOSCALER_PROMETHEUS_PASSWORD from a secretKeyRef), "
            "never from a config file"
        )
