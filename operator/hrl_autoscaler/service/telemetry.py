"""The operator's own metrics (``hrl_autoscaler_*``), in a registry of their own.

Implements :class:`hrl_autoscaler.core.pipeline.Telemetry`. Per-application series are removed
when an application stops being managed, so deleted applications do not linger in dashboards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from hrl_autoscaler.core.annotations import AppSettings
from hrl_autoscaler.core.application import AppKey
from hrl_autoscaler.core.pipeline import CycleSummary, DecisionRecord
from hrl_autoscaler.core.weights import Weights

APP = ["namespace", "application"]
CYCLE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DECISION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1)


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # *_created series double the output and say nothing a dashboard needs.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.current = Gauge(
            "hrl_autoscaler_current_executors",
            "executors in force (spec or in-place target)",
            APP,
            registry=r,
        )
        self.target = Gauge(
            "hrl_autoscaler_target_executors",
            "executors decided (or recommended) this cycle",
            APP,
            registry=r,
        )
        self.proposed = Gauge(
            "hrl_autoscaler_proposed_executors",
            "executors proposed before the guardrails",
            APP,
            registry=r,
        )
        self.weight = Gauge(
            "hrl_autoscaler_weight", "reward weight in force", [*APP, "weight"], registry=r
        )
        self.mode = Gauge(
            "hrl_autoscaler_mode",
            "1 for the mode and weight policy in force",
            [*APP, "mode", "actuation", "weight_policy"],
            registry=r,
        )
        self.meta_reward = Gauge(
            "hrl_autoscaler_meta_reward",
            "objective score of the last meta window",
            [*APP, "objective"],
            registry=r,
        )
        self.metrics_unavailable = Gauge(
            "hrl_autoscaler_metrics_unavailable",
            "1 while holding for lack of metrics",
            APP,
            registry=r,
        )
        self.decisions = Counter(
            "hrl_autoscaler_decisions",
            "decisions by direction and mode",
            [*APP, "direction", "mode", "controller"],
            registry=r,
        )
        self.fallbacks = Counter(
            "hrl_autoscaler_fallbacks", "switches to the DS2 fallback", APP, registry=r
        )
        self.actuation_errors = Counter(
            "hrl_autoscaler_actuation_errors",
            "writes to SparkApplications that failed",
            APP,
            registry=r,
        )
        self.decision_seconds = Histogram(
            "hrl_autoscaler_decision_seconds",
            "time to decide for one application (observe, policy, guardrails)",
            buckets=DECISION_BUCKETS,
            registry=r,
        )
        self.cycle_seconds = Histogram(
            "hrl_autoscaler_cycle_seconds",
            "time of one decision cycle for every application",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.last_cycle_seconds = Gauge(
            "hrl_autoscaler_last_cycle_seconds",
            "duration of the last decision cycle",
            registry=r,
        )
        self.cycles = Counter(
            "hrl_autoscaler_cycles", "decision cycles run (as leader)", registry=r
        )
        self.prometheus_errors = Counter(
            "hrl_autoscaler_prometheus_errors", "failed Prometheus queries", ["query"], registry=r
        )
        self.prometheus_queries = Counter(
            "hrl_autoscaler_prometheus_queries", "Prometheus queries sent", registry=r
        )
        self.managed = Gauge(
            "hrl_autoscaler_managed_applications",
            "applications labelled for autoscaling",
            registry=r,
        )
        self.events_dropped = Counter(
            "hrl_autoscaler_events_dropped",
            "events not posted because the queue was full",
            registry=r,
        )
        self.leader = Gauge(
            "hrl_autoscaler_leader", "1 when this replica acts, 0 while it stands by", registry=r
        )
        self.policy_info = Gauge(
            "hrl_autoscaler_policy_info",
            "loaded policy artifacts (value 1)",
            ["kind", "name", "sha256", "schema_version"],
            registry=r,
        )
        self._modes: dict[AppKey, tuple[str, str, str]] = {}
        self._objectives: dict[AppKey, str] = {}
        self._decided: dict[AppKey, set[tuple[str, str, str]]] = {}

    def _app(self, key: AppKey) -> tuple[str, str]:
        return (key.namespace, key.name)

    def app_seen(self, key: AppKey, settings: AppSettings, weights: Weights, current: int) -> None:
        ns, name = self._app(key)
        self.current.labels(ns, name).set(current)
        for label, value in zip(("alpha", "beta", "gamma"), weights.as_tuple(), strict=True):
            self.weight.labels(ns, name, label).set(value)
        mode = (settings.mode, settings.actuation, settings.weight_policy)
        previous = self._modes.get(key)
        if previous != mode:
            if previous is not None:
                self.mode.remove(ns, name, *previous)
            self.mode.labels(ns, name, *mode).set(1)
            self._modes[key] = mode

    def decision(self, key: AppKey, record: DecisionRecord) -> None:
        ns, name = self._app(key)
        self.target.labels(ns, name).set(record.target)
        self.proposed.labels(ns, name).set(record.proposed)
        labels = (record.direction, record.mode, record.controller)
        self.decisions.labels(ns, name, *labels).inc()
        self._decided.setdefault(key, set()).add(labels)
        self.decision_seconds.observe(record.seconds)

    def unavailable(self, key: AppKey, reason: str | None) -> None:
        self.metrics_unavailable.labels(*self._app(key)).set(0 if reason is None else 1)

    def fallback(self, key: AppKey) -> None:
        self.fallbacks.labels(*self._app(key)).inc()

    def meta(self, key: AppKey, objective: str, score: float) -> None:
        ns, name = self._app(key)
        previous = self._objectives.get(key)
        if previous is not None and previous != objective:
            self.meta_reward.remove(ns, name, previous)
        self.meta_reward.labels(ns, name, objective).set(score)
        self._objectives[key] = objective

    def actuation_error(self, key: AppKey) -> None:
        self.actuation_errors.labels(*self._app(key)).inc()

    def cycle(self, summary: CycleSummary) -> None:
        self.cycle_seconds.observe(summary.seconds)
        self.last_cycle_seconds.set(summary.seconds)
        self.cycles.inc()
        self.managed.set(summary.apps)
        self.prometheus_queries.inc(summary.queries)
        errors: Mapping[str, str] = summary.query_errors
        if summary.prometheus_error is not None:
            self.prometheus_errors.labels("all").inc()
        for query in errors:
            self.prometheus_errors.labels(query).inc()

    def event_dropped(self) -> None:
        self.events_dropped.inc()

    def forget(self, key: AppKey) -> None:
        ns, name = self._app(key)
        for gauge in (self.current, self.target, self.proposed, self.metrics_unavailable):
            _remove(gauge, ns, name)
        for counter in (self.fallbacks, self.actuation_errors):
            _remove(counter, ns, name)
        for weight in ("alpha", "beta", "gamma"):
            _remove(self.weight, ns, name, weight)
        mode = self._modes.pop(key, None)
        if mode is not None:
            _remove(self.mode, ns, name, *mode)
        objective = self._objectives.pop(key, None)
        if objective is not None:
            _remove(self.meta_reward, ns, name, objective)
        for labels in self._decided.pop(key, set()):
            _remove(self.decisions, ns, name, *labels)


def _remove(metric: Gauge | Counter, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
