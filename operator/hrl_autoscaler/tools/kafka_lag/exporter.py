"""The lag exporter: a Prometheus collector that reads Kafka on every scrape.

Reading on the scrape (not on a timer) means a sample is never older than the scrape that
returns it, and when Kafka does not answer the lag series are simply absent: the operator's
backlog query then sees no data (its "no backlog series" case) instead of a frozen number
that looks fresh. The failure is logged and counted
(``kafka_lag_exporter_errors_total``, ``kafka_lag_exporter_up 0``); the process goes on, and a
new admin client is made on the next scrape.

Series (names as KMinion exports them, so dashboards and the operator's default
``sum by (namespace, group) (kafka_consumergroup_group_lag)`` work with either):

* ``kafka_consumergroup_group_lag{group, topic[, namespace]}``: records behind the log end;
* ``kafka_consumergroup_group_offset{group, topic[, namespace]}``: sum of committed offsets;
* ``kafka_topic_partition_high_water_mark{topic, partition}``: log-end offset;
* ``kafka_lag_exporter_up``, ``kafka_lag_exporter_errors_total``,
  ``kafka_lag_exporter_scrape_seconds``: the exporter's own health.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hrl_autoscaler.tools.kafka_lag.reader import Admin, Snapshot, close_quietly, read_snapshot

log = logging.getLogger("hrl_autoscaler.tools.kafka_lag")

AdminFactory = Callable[[], Admin]


class LagCollector(Collector):
    """Collects a fresh :class:`Snapshot` per scrape (serialised: one read at a time)."""

    def __init__(
        self,
        admin_factory: AdminFactory,
        groups: Sequence[str] = (),
        namespace: str | None = None,
    ) -> None:
        self._factory = admin_factory
        self._admin: Admin | None = None
        self.groups = list(groups)
        self.namespace = namespace
        self.errors = 0
        """Failed reads so far (exported as ``kafka_lag_exporter_errors_total``)."""
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def read(self) -> Snapshot | None:
        """A snapshot, or None after logging and counting the failure (the client is reset)."""
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = self._factory()
                snapshot = read_snapshot(self._admin, self.groups)
            except Exception as exc:  # any failure: no data, counted, go on
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("reading consumer-group lag failed: %s", self.last_error)
                self.errors += 1
                self._reset()
                return None
            self.last_error = None
            return snapshot

    def _reset(self) -> None:
        admin, self._admin = self._admin, None
        close_quietly(admin, log)

    def close(self) -> None:
        with self._lock:
            self._reset()

    def collect(self) -> Iterator[Any]:
        started = time.monotonic()
        snapshot = self.read()
        up = GaugeMetricFamily(
            "kafka_lag_exporter_up", "1 when the last scrape read Kafka, 0 when it failed"
        )
        up.add_metric([], 0.0 if snapshot is None else 1.0)
        took = GaugeMetricFamily(
            "kafka_lag_exporter_scrape_seconds", "How long reading Kafka took in this scrape, s"
        )
        took.add_metric([], time.monotonic() - started)
        errors = CounterMetricFamily(
            "kafka_lag_exporter_errors",
            "Scrapes that could not read Kafka (unreachable broker, request error)",
            value=self.errors,
        )
        yield up
        yield took
        yield errors
        if snapshot is None:
            return  # no lag series at all: absent, not stale
        extra = ["namespace"] if self.namespace is not None else []
        values = [self.namespace] if self.namespace is not None else []
        lag = GaugeMetricFamily(
            "kafka_consumergroup_group_lag",
            "Records between the group's committed offsets and the log end, per topic "
            "(a partition without a commit counts its whole log)",
            labels=["group", "topic", *extra],
        )
        offset = GaugeMetricFamily(
            "kafka_consumergroup_group_offset",
            "Sum of the group's committed offsets over the topic's partitions",
            labels=["group", "topic", *extra],
        )
        for row in snapshot.lags:
            lag.add_metric([row.group, row.topic, *values], float(row.lag))
            offset.add_metric([row.group, row.topic, *values], float(row.offset))
        hwm = GaugeMetricFamily(
            "kafka_topic_partition_high_water_mark",
            "Log-end offset of each partition of the groups' topics",
            labels=["topic", "partition"],
        )
        for (topic, partition), end in sorted(snapshot.end_offsets.items()):
            hwm.add_metric([topic, str(partition)], float(end))
        yield lag
        yield offset
        yield hwm


def build_registry(
    admin_factory: AdminFactory, groups: Sequence[str] = (), namespace: str | None = None
) -> tuple[CollectorRegistry, LagCollector]:
    """A registry with just the lag collector (one per exporter)."""
    registry = CollectorRegistry()
    collector = LagCollector(admin_factory, groups, namespace)
    registry.register(collector)
    return registry, collector


__all__ = ["AdminFactory", "LagCollector", "build_registry"]
