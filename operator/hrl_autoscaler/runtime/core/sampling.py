"""From query results to the :class:`SystemMetrics` a decision sees.

The collector runs each PromQL template once for all applications; this module assigns the
returned series to applications (by ``application_id``, else by name and namespace), decides
whether an application's metrics are complete and fresh, and builds its metrics record.
Pure functions over plain data: the Prometheus client lives in ``hrl_autoscaler.runtime.k8s``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hrl_autoscaler.config.metrics import MAX_COMBINED, REQUIRED_QUERIES
from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot
from hrl_autoscaler.runtime.core.metrics import SystemMetrics


@dataclass(frozen=True)
class Series:
    """One series of an instant query's result."""

    labels: Mapping[str, str]
    value: float


@dataclass
class AppSample:
    """The values of one application, by query name (absent = no series matched)."""

    values: dict[str, float] = field(default_factory=dict)

    def add(self, query: str, value: float) -> None:
        if query not in self.values:
            self.values[query] = value
        elif query in MAX_COMBINED:
            self.values[query] = max(self.values[query], value)
        else:
            self.values[query] += value


@dataclass(frozen=True)
class Collection:
    """One cycle's metrics for every application, and what went wrong collecting them."""

    samples: Mapping[AppKey, AppSample]
    error: str | None = None
    """Set when Prometheus could not be asked at all (every application holds)."""
    query_errors: Mapping[str, str] = field(default_factory=dict)
    """Queries that failed on their own (bad template, timeout), with the reason."""
    queries: int = 0
    """How many queries this cycle sent (the benchmark checks it does not grow with apps)."""

    @classmethod
    def failed(cls, error: str, queries: int = 0) -> Collection:
        return cls(samples={}, error=error, queries=queries)


class SeriesMatcher:
    """Finds the application a series belongs to.

    1. ``application_id`` equal to an application's ``status.sparkApplicationId``;
    2. else its name label and, when the series has one, its namespace label; a series without
       namespace matches only a name that is unique among the managed applications.
    A series whose ``application_id`` names another run of a known application (one from before
    a restart) matches nothing: its numbers describe executors that are gone.
    """

    def __init__(
        self,
        apps: Iterable[AppSnapshot],
        name_labels: Sequence[str] = ("application_name", "group"),
        namespace_labels: Sequence[str] = ("namespace", "exported_namespace"),
    ) -> None:
        self.name_labels = tuple(name_labels)
        self.namespace_labels = tuple(namespace_labels)
        self.by_id: dict[str, AppKey] = {}
        self.ids: dict[AppKey, str | None] = {}
        self.by_name: dict[str, list[AppKey]] = {}
        for app in apps:
            self.ids[app.key] = app.app_id
            if app.app_id:
                self.by_id[app.app_id] = app.key
            self.by_name.setdefault(app.key.name, []).append(app.key)

    def _first(self, labels: Mapping[str, str], names: Sequence[str]) -> str | None:
        for name in names:
            value = labels.get(name)
            if value:
                return value
        return None

    def match(self, labels: Mapping[str, str]) -> AppKey | None:
        app_id = labels.get("application_id")
        if app_id and app_id in self.by_id:
            return self.by_id[app_id]
        name = self._first(labels, self.name_labels)
        if name is None:
            return None
        candidates = self.by_name.get(name, [])
        namespace = self._first(labels, self.namespace_labels)
        if namespace is not None:
            candidates = [k for k in candidates if k.namespace == namespace]
        if len(candidates) != 1:
            return None
        key = candidates[0]
        known_id = self.ids.get(key)
        if app_id and known_id and app_id != known_id:
            return None
        return key


def assign(
    results: Mapping[str, Sequence[Series]], matcher: SeriesMatcher
) -> dict[AppKey, AppSample]:
    """Every query's series, assigned to applications and combined per application."""
    samples: dict[AppKey, AppSample] = {}
    for query, series in results.items():
        for s in series:
            key = matcher.match(s.labels)
            if key is not None:
                samples.setdefault(key, AppSample()).add(query, s.value)
    return samples


def unavailable_reason(
    key: AppKey, collection: Collection, now_s: float, max_age_s: float
) -> str | None:
    """Why this application's metrics cannot be used now, or None when they can."""
    if collection.error is not None:
        return f"prometheus unavailable: {collection.error}"
    sample = collection.samples.get(key)
    missing = [q for q in REQUIRED_QUERIES if sample is None or q not in sample.values]
    if missing:
        failed = [
            f"{q} ({collection.query_errors[q]})" for q in missing if q in collection.query_errors
        ]
        if failed:
            return "queries failed: " + "; ".join(failed)
        return "no series for " + ", ".join(missing)
    assert sample is not None
    seen = sample.values.get("last_seen")
    if seen is not None and now_s - seen > max_age_s:
        return (
            f"stale: newest streaming sample is {now_s - seen:.0f} s old (limit {max_age_s:.0f} s)"
        )
    return None


def first_batch_pending(sample: AppSample) -> bool:
    """True while the run has not completed a micro-batch: Spark's streaming gauges read
    ``lastProgress`` and report 0 for latency and both rates until there is one. A completed
    batch always took some milliseconds, so latency 0 with nothing processed means none yet."""
    v = sample.values
    return v.get("latency", 0.0) <= 0.0 and v.get("processing_rate", 0.0) <= 0.0


def _ratio(num: float, den: float) -> float:
    if den <= 0:
        return 0.0
    value = num / den
    return 0.0 if value < 0 else 1.0 if value > 1 else value


def build_metrics(
    sample: AppSample, executors: int, restarting: bool, now_s: float
) -> SystemMetrics:
    """The metrics record of one application (the sample must be complete, see REQUIRED_QUERIES)."""
    v = sample.values
    return SystemMetrics(
        input_rate_eps=max(0.0, v["input_rate"]),
        processing_rate_eps=max(0.0, v["processing_rate"]),
        backlog_events=max(0.0, v.get("backlog", 0.0)),
        cpu_utilisation=_ratio(v["active_tasks"], v["total_cores"]),
        memory_utilisation=_ratio(v["memory_used"], v["memory_max"]),
        latency_ms=max(0.0, v["latency"]),
        executors=executors,
        running_executors=max(0, round(v["running_executors"])),
        restarting=restarting,
        time_s=now_s,
    )
