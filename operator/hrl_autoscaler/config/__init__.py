"""Every option in one place: type, default, unit and why (the package's settings facade).

Split by audience, all re-exported here so that ``from hrl_autoscaler.config import X`` is the
one way to read a setting:

- :mod:`.sim`: the simulator (``SimParams``), the evaluation's defaults and the shared literals
  (executor bounds, actuation modes);
- :mod:`.operator`: the operator's runtime settings (``OperatorSettings``: defaults, YAML file,
  ``HRL_AUTOSCALER_*`` environment, flags), the per-application defaults and guardrails, the
  PromQL templates and the limits of annotation values;
- :mod:`.metrics`: the metrics a decision needs, one table (PromQL, required, combination);
- :mod:`.tools`: the load generator, the calibration and the in-place executor agent.

The settings layer imports nothing from ``runtime``, ``research`` or ``tools``.
"""

from __future__ import annotations

from hrl_autoscaler.config.guardrails import GuardrailDefaults
from hrl_autoscaler.config.metrics import (
    METRIC_SPECS,
    QUERY_NAMES,
    MetricSpec,
    PrometheusQueries,
)
from hrl_autoscaler.config.operator import (
    CONFIG_FILE_ENV,
    COST_PER_EXECUTOR_HOUR_MAX,
    EXECUTORS_LIMIT,
    LATENCY_SLO_MS_MAX,
    MODES,
    OBJECTIVE_NAMES,
    OPERATOR_ENV_PREFIX,
    PRIORITY_MAX,
    SLO_CLASSES,
    WEIGHT_MAX,
    WEIGHT_PRESETS,
    AnnotationDefaults,
    Mode,
    Objective,
    OperatorSettings,
    SloClass,
    load_operator_settings,
)
from hrl_autoscaler.config.sim import (
    ACTUATIONS,
    EVALUATION,
    MAX_EXECUTORS,
    MIN_EXECUTORS,
    Actuation,
    EvaluationDefaults,
    SimParams,
    ceil_int,
    hours,
)
from hrl_autoscaler.config.tools import (
    AGENT_ENV_PREFIX,
    CALIBRATION,
    LOADGEN,
    CalibrationDefaults,
    ExecutorAgentSettings,
    LoadgenDefaults,
)

__all__ = [
    "ACTUATIONS",
    "AGENT_ENV_PREFIX",
    "CALIBRATION",
    "CONFIG_FILE_ENV",
    "COST_PER_EXECUTOR_HOUR_MAX",
    "EVALUATION",
    "EXECUTORS_LIMIT",
    "LATENCY_SLO_MS_MAX",
    "LOADGEN",
    "MAX_EXECUTORS",
    "METRIC_SPECS",
    "MIN_EXECUTORS",
    "MODES",
    "OBJECTIVE_NAMES",
    "OPERATOR_ENV_PREFIX",
    "PRIORITY_MAX",
    "QUERY_NAMES",
    "SLO_CLASSES",
    "WEIGHT_MAX",
    "WEIGHT_PRESETS",
    "Actuation",
    "AnnotationDefaults",
    "CalibrationDefaults",
    "EvaluationDefaults",
    "ExecutorAgentSettings",
    "GuardrailDefaults",
    "LoadgenDefaults",
    "MetricSpec",
    "Mode",
    "Objective",
    "OperatorSettings",
    "PrometheusQueries",
    "SimParams",
    "SloClass",
    "ceil_int",
    "hours",
    "load_operator_settings",
]
