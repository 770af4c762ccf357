"""Spark 4's metric names for the emulated applications, in Prometheus text format.

Three paths, as a real deployment has them:
- ``/metrics/executors/prometheus``: the driver UI's executor endpoint (Spark 4 names, labelled
  ``application_id``, ``application_name``, ``executor_id``; ``driver`` included).
- ``/metrics/prometheus``: the PrometheusServlet sink with ``spark.metrics.namespace=spark`` and
  ``spark.sql.streaming.metricsEnabled=true`` for the query named ``iot``. A real servlet has no
  application labels; Prometheus adds them from the driver pod's labels when it scrapes through
  Kubernetes service discovery. One emulator serves every application, so it adds them itself.
- ``/metrics``: the consumer-group lag (the backlog), named as kafka-lag-exporter names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hrl_autoscaler.tools.devenv.emulator.app import EXECUTOR_MEMORY_BYTES, EmulatedApp

STREAMING_PREFIX = "metrics_spark_driver_spark_streaming_iot_"
APP_LABELS = ["application_id", "application_name", "namespace"]
EXECUTOR_LABELS = ["application_id", "application_name", "executor_id"]

Snapshot = Callable[[], list[EmulatedApp]]


class ExecutorCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        names = {
            "activeTasks": "number of tasks running now",
            "totalCores": "cores of the executor",
            "maxTasks": "task slots of the executor",
            "memoryUsed_bytes": "storage memory used",
            "maxMemory_bytes": "storage memory available",
        }
        gauges = {
            k: GaugeMetricFamily(f"metrics_executor_{k}", v, labels=EXECUTOR_LABELS)
            for k, v in names.items()
        }
        duration = CounterMetricFamily(
            "metrics_executor_totalDuration_seconds",
            "time spent running tasks",
            labels=EXECUTOR_LABELS,
        )
        completed = CounterMetricFamily(
            "metrics_executor_completedTasks", "tasks completed", labels=EXECUTOR_LABELS
        )
        for app in self.snapshot():
            if not app.serving_metrics or app.last is None:
                continue
            running = app.last.running_executors
            busy = running if app.first_batch_pending else round(app.last.cpu_utilisation * running)
            memory = app.last.memory_utilisation * EXECUTOR_MEMORY_BYTES
            share = 1.0 / max(running, 1)
            for i in range(running + 1):
                executor = "driver" if i == 0 else str(i)
                labels = [app.app_id, app.name, executor]
                cores = 0.0 if i == 0 else 1.0
                gauges["activeTasks"].add_metric(labels, 1.0 if 0 < i <= busy else 0.0)
                gauges["totalCores"].add_metric(labels, cores)
                gauges["maxTasks"].add_metric(labels, cores)
                gauges["memoryUsed_bytes"].add_metric(labels, memory)
                gauges["maxMemory_bytes"].add_metric(labels, float(EXECUTOR_MEMORY_BYTES))
                duration.add_metric(labels, 0.0 if i == 0 else app.busy_seconds * share)
                completed.add_metric(labels, 0.0 if i == 0 else app.completed_tasks * share)
        yield from gauges.values()
        yield duration
        yield completed


class StreamingCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        families = {
            "inputRate_total_Value": "events arriving per second (inputRate-total)",
            "processingRate_total_Value": "events processed per second (processingRate-total)",
            "latency_Value": "latency of the last micro-batch in milliseconds",
        }
        out = {
            k: GaugeMetricFamily(STREAMING_PREFIX + k, v, labels=[*APP_LABELS, "type"])
            for k, v in families.items()
        }
        for app in self.snapshot():
            if not app.serving_metrics or app.last is None:
                continue
            labels = [app.app_id, app.name, app.namespace, "gauges"]
            dt = app.last.dt_s
            pending = app.first_batch_pending
            out["inputRate_total_Value"].add_metric(
                labels, 0.0 if pending else app.last.arrived / dt
            )
            out["processingRate_total_Value"].add_metric(
                labels, 0.0 if pending else app.last.processed / dt
            )
            out["latency_Value"].add_metric(labels, 0.0 if pending else app.last.latency_ms)
        yield from out.values()


class LagCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        lag = GaugeMetricFamily(
            "kafka_consumergroup_group_lag",
            "events behind the head of the topic",
            labels=["group", "topic", "namespace"],
        )
        for app in self.snapshot():
            if app.last is not None:
                lag.add_metric([app.name, "iot-events", app.namespace], app.last.backlog_after)
        yield lag


def registries(snapshot: Snapshot) -> dict[str, CollectorRegistry]:
    """One registry per HTTP path."""
    out = {}
    for path, collector in (
        ("/metrics/executors/prometheus", ExecutorCollector(snapshot)),
        ("/metrics/prometheus", StreamingCollector(snapshot)),
        ("/metrics", LagCollector(snapshot)),
    ):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        out[path] = registry
    return out
