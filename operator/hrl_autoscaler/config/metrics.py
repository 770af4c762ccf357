"""The metrics a decision needs: one table from which everything about them derives.

Each :class:`MetricSpec` names one instant query, its default PromQL (every application at
once), whether a decision can be made without it, and how several series of one application
combine. :class:`PrometheusQueries` (the operator's ``queries`` settings, with one field per
spec), :data:`QUERY_NAMES`, :data:`REQUIRED_QUERIES` and :data:`MAX_COMBINED` (read by
``runtime.core.sampling``) are all built from :data:`METRIC_SPECS`; adding a metric is one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

_BY_APP = "namespace, application_id, application_name"
_BY_EXECUTOR_APP = "application_id, application_name"
_NOT_DRIVER = '{executor_id!="driver"}'


def _streaming(name: str) -> str:
    """A Structured Streaming gauge of any query name and any ``spark.metrics.namespace``."""
    return '{__name__=~"metrics_.+_spark_streaming_.+_' + name + '_Value"}'


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    promql: str
    meaning: str
    required: bool = True
    """False: an application without series is decided with 0 (``backlog``) or without the
    check it feeds (``last_seen``)."""
    combine: Literal["sum", "max"] = "sum"
    """How two series of the same application combine (two streaming queries, two exporters)."""


METRIC_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "active_tasks",
        f"sum by ({_BY_EXECUTOR_APP}) "
        f"(avg_over_time(metrics_executor_activeTasks{_NOT_DRIVER}[{{window}}]))",
        "Busy task slots (Spark 4 ``activeTasks``), averaged over the window so that one scrape "
        "between two micro-batches does not read as an idle application.",
    ),
    MetricSpec(
        "total_cores",
        f"sum by ({_BY_EXECUTOR_APP}) (metrics_executor_totalCores{_NOT_DRIVER})",
        "Task slots of the running executors: cpu utilisation = active_tasks / total_cores.",
    ),
    MetricSpec(
        "running_executors",
        f"count by ({_BY_EXECUTOR_APP}) (metrics_executor_totalCores{_NOT_DRIVER})",
        "Executors registered now (the driver excluded).",
    ),
    MetricSpec(
        "memory_used",
        f"sum by ({_BY_EXECUTOR_APP}) (metrics_executor_memoryUsed_bytes{_NOT_DRIVER})",
        "Storage memory used by the executors.",
    ),
    MetricSpec(
        "memory_max",
        f"sum by ({_BY_EXECUTOR_APP}) (metrics_executor_maxMemory_bytes{_NOT_DRIVER})",
        "Memory utilisation = memory_used / memory_max (storage memory of the executors).",
    ),
    MetricSpec(
        "input_rate",
        f"sum by ({_BY_APP}) ({_streaming('inputRate_total')})",
        "Events/s arriving, summed over the application's streaming queries.",
    ),
    MetricSpec(
        "processing_rate",
        f"sum by ({_BY_APP}) ({_streaming('processingRate_total')})",
        "Events/s processed, summed over the application's streaming queries.",
    ),
    MetricSpec(
        "latency",
        f"max by ({_BY_APP}) ({_streaming('latency')})",
        "Micro-batch latency in ms; the slowest query counts.",
        combine="max",
    ),
    MetricSpec(
        "backlog",
        "sum by (namespace, group) (kafka_consumergroup_group_lag)",
        "Events behind the source (consumer-group lag, group = application name). Optional: an "
        "application without lag series is decided with a backlog of 0.",
        required=False,
    ),
    MetricSpec(
        "last_seen",
        f"max by ({_BY_APP}) (timestamp({_streaming('latency')}))",
        "Unix time of the newest latency sample: older than ``max_metric_age_s`` = stale.",
        required=False,
        combine="max",
    ),
)

QUERY_NAMES: tuple[str, ...] = tuple(s.name for s in METRIC_SPECS)
#: Queries without which no decision is made (the observation needs every one of them).
REQUIRED_QUERIES: tuple[str, ...] = tuple(s.name for s in METRIC_SPECS if s.required)
#: Queries whose series are combined by ``max`` (the others are summed).
MAX_COMBINED: frozenset[str] = frozenset(s.name for s in METRIC_SPECS if s.combine == "max")


class _QueriesBase(BaseModel):
    """PromQL templates, each ONE instant query that returns every application at once.

    A cycle therefore costs the same number of queries for 3 or 300 applications. Metric names
    differ between Spark versions and exporters (DESIGN.md), so they are configuration. Each
    result series is matched to a SparkApplication by its ``application_id`` label (equal to
    ``status.sparkApplicationId``; series of an earlier run of the application are dropped), else
    by a name label (``name_labels``) plus a namespace label when present. ``{window}`` is
    replaced by the metrics window as a PromQL duration (e.g. ``30s``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name_labels: tuple[str, ...] = ("application_name", "group")
    """Labels holding the SparkApplication's name, tried in order."""
    namespace_labels: tuple[str, ...] = ("namespace", "exported_namespace")
    """Labels holding its namespace, tried in order (series without one match by name alone
    when that name is unique among the managed applications)."""

    def templates(self) -> dict[str, str]:
        """Every query by name, in the table's order."""
        return {name: str(getattr(self, name)) for name in QUERY_NAMES}


_QUERY_FIELDS: dict[str, Any] = {
    s.name: (str, Field(default=s.promql, description=s.meaning)) for s in METRIC_SPECS
}
if TYPE_CHECKING:  # the fields come from the table, which a type checker cannot run

    class PrometheusQueries(_QueriesBase):
        pass

else:
    PrometheusQueries = create_model(  # one str field per spec, its PromQL the default
        "PrometheusQueries", __base__=_QueriesBase, __module__=__name__, **_QUERY_FIELDS
    )
