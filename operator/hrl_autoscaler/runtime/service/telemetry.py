"""The operator's own metrics (``hrl_autoscaler_*``), in a registry of their own.

Implements :class:`hrl_autoscaler.runtime.core.ports.Telemetry`. Per-application series are
removed when an application stops being managed, so deleted applications do not linger in
dashboards.

The Grafana dashboard (``charts/hrl-autoscaler/dashboards/hrl-autoscaler.json``) reads these
series, so three rules hold here:
- every per-application series has the labels ``namespace`` and ``application`` (the
  SparkApplication's), whatever exporter the Spark metrics come from;
- counters that dashboards query with ``rate``/``increase`` are created at 0 as soon as their
  label set is known (``increase`` cannot see the first event of a series born at 1, and a
  panel over a counter that never fired would show "No data" instead of 0);
- what the operator decided *on* (the observed rates, latency, SLO, cost) is exported beside
  what it decided, so a panel can compare the two without joining Spark's label names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from hrl_autoscaler.config import QUERY_NAMES
from hrl_autoscaler.runtime.core.annotations import AppSettings
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.pipeline import STAGES
from hrl_autoscaler.runtime.core.ports import CycleSummary, DecisionRecord
from hrl_autoscaler.runtime.core.weights import Weights
from hrl_autoscaler.runtime.service.adaptive_metrics import AdaptiveMetrics
from hrl_autoscaler.runtime.service.modifier_metrics import ModifierMetrics

APP = ["namespace", "application"]
CYCLE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DECISION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1)
DIRECTIONS = ("up", "down")
"""Directions of a scaling action (a hold is no action)."""


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # *_created series double the output and say nothing a dashboard needs.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.adaptive = AdaptiveMetrics(r)
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
        # -- what each decision was made on, and what it cost (dashboard: Application row) ---
        self.latency_slo = Gauge(
            "hrl_autoscaler_latency_slo_seconds",
            "latency SLO in force (annotation latency-slo-ms, in seconds): the line the "
            "latency panel draws and the slo objective scores against",
            APP,
            registry=r,
        )
        self.cost_per_hour = Gauge(
            "hrl_autoscaler_cost_per_hour",
            "USD per hour of the executors in force (current executors x annotation "
            "cost-per-executor-hour): the cost the meta-controller's objective counts",
            APP,
            registry=r,
        )
        self.observed_input_rate = Gauge(
            "hrl_autoscaler_observed_input_rate",
            "events/s arriving (Structured Streaming inputRate-total) as read for the last "
            "decision; absent while the operator holds for lack of metrics",
            APP,
            registry=r,
        )
        self.observed_processing_rate = Gauge(
            "hrl_autoscaler_observed_processing_rate",
            "events/s processed (processingRate-total) as read for the last decision",
            APP,
            registry=r,
        )
        self.observed_latency = Gauge(
            "hrl_autoscaler_observed_latency_seconds",
            "micro-batch latency as read for the last decision, s (compare with "
            "hrl_autoscaler_latency_slo_seconds of the same application)",
            APP,
            registry=r,
        )
        self.observed_backlog = Gauge(
            "hrl_autoscaler_observed_backlog",
            "events behind the source (consumer lag) as read for the last decision",
            APP,
            registry=r,
        )
        self.running = Gauge(
            "hrl_autoscaler_running_executors",
            "executors registered with the driver at the last decision (lags "
            "hrl_autoscaler_current_executors while new ones start)",
            APP,
            registry=r,
        )
        # -- events as counters (dashboard annotations) ------------------------------------------
        self.scaling_actions = Counter(
            "hrl_autoscaler_scaling_actions",
            "scaling actions written to SparkApplications (auto mode; holds, skips and "
            "recommendations excluded), by direction (up|down) and actuation (restart|in-place); "
            "created at 0 for the application's actuation so increase() sees the first one",
            [*APP, "direction", "actuation"],
            registry=r,
        )
        self.weight_updates = Counter(
            "hrl_autoscaler_weight_updates",
            "reward weights retuned by the meta-controller (a WeightsUpdated event), by "
            "objective; created at 0 for applications in meta weight-policy",
            [*APP, "objective"],
            registry=r,
        )
        # -- the operator's own health (README: "Health") ----------------------------------------
        self.cycle_failures = Counter(
            "hrl_autoscaler_cycle_failures",
            "steps of a decision cycle that raised, by stage (prepare|report|collect|decide|"
            "meta|persist: one application's, isolated from the others; cycle: a whole tick). "
            "The StepFailed event names the application",
            ["stage"],
            registry=r,
        )
        self.prometheus_up = Gauge(
            "hrl_autoscaler_prometheus_up",
            "1 when the last cycle's metrics collection got answers from Prometheus, 0 while "
            "it is unreachable, hung past the deadline or refusing (every application holds)",
            registry=r,
        )
        self.holding = Gauge(
            "hrl_autoscaler_holding_applications",
            "managed applications that made no decision in the last cycle for lack of usable "
            "metrics (Prometheus down, series missing or stale)",
            registry=r,
        )
        self.modifiers = ModifierMetrics(r)
        for stage in (*STAGES, "cycle"):
            self.cycle_failures.labels(stage)
        for query in ("all", *QUERY_NAMES):  # a panel over errors shows 0, not "No data"
            self.prometheus_errors.labels(query)
        self._modes: dict[AppKey, tuple[str, str, str]] = {}
        self._objectives: dict[AppKey, str] = {}
        self._decided: dict[AppKey, set[tuple[str, str, str]]] = {}
        self._scaling_labels: dict[AppKey, set[tuple[str, str]]] = {}
        self._update_labels: dict[AppKey, set[str]] = {}

    def _app(self, key: AppKey) -> tuple[str, str]:
        return (key.namespace, key.name)

    def app_seen(self, key: AppKey, settings: AppSettings, weights: Weights, current: int) -> None:
        ns, name = self._app(key)
        self.current.labels(ns, name).set(current)
        self.latency_slo.labels(ns, name).set(settings.latency_slo_ms / 1000.0)
        self.cost_per_hour.labels(ns, name).set(current * settings.cost_per_executor_hour)
        # Series at 0 from the first sight of the application (see the module docstring);
        # labels() leaves an existing child (e.g. a hold's 1) as it is.
        self.metrics_unavailable.labels(ns, name)
        self.fallbacks.labels(ns, name)
        self.actuation_errors.labels(ns, name)
        self.modifiers.seen(key, settings)
        for way in DIRECTIONS:
            self._scaling(key, way, settings.actuation)
        if settings.weight_policy == "meta":
            self._weight_updates(key, settings.objective)
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
        self.modifiers.decided(key, record.excluded)
        if record.metrics is not None:
            self._observed(ns, name, record.metrics)

    def _observed(self, ns: str, name: str, m: SystemMetrics) -> None:
        self.observed_input_rate.labels(ns, name).set(m.input_rate_eps)
        self.observed_processing_rate.labels(ns, name).set(m.processing_rate_eps)
        self.observed_latency.labels(ns, name).set(m.latency_ms / 1000.0)
        self.observed_backlog.labels(ns, name).set(m.backlog_events)
        self.running.labels(ns, name).set(m.running_executors)

    def unavailable(self, key: AppKey, reason: str | None) -> None:
        ns, name = self._app(key)
        self.metrics_unavailable.labels(ns, name).set(0 if reason is None else 1)
        if reason is not None:  # a gap in the panels, not a stale value drawn as if read now
            for gauge in self._observed_gauges():
                _remove(gauge, ns, name)

    def _observed_gauges(self) -> tuple[Gauge, ...]:
        return (
            self.observed_input_rate,
            self.observed_processing_rate,
            self.observed_latency,
            self.observed_backlog,
            self.running,
        )

    def fallback(self, key: AppKey) -> None:
        self.fallbacks.labels(*self._app(key)).inc()

    def meta(self, key: AppKey, objective: str, score: float) -> None:
        ns, name = self._app(key)
        previous = self._objectives.get(key)
        if previous is not None and previous != objective:
            self.meta_reward.remove(ns, name, previous)
        self.meta_reward.labels(ns, name, objective).set(score)
        self._objectives[key] = objective

    def scaled(self, key: AppKey, current: int, target: int, actuation: str) -> None:
        way = "up" if target > current else "down"
        self._scaling(key, way, actuation).inc()

    def weights_updated(self, key: AppKey, objective: str) -> None:
        self._weight_updates(key, objective).inc()

    def _scaling(self, key: AppKey, way: str, actuation: str) -> Counter:
        self._scaling_labels.setdefault(key, set()).add((way, actuation))
        return self.scaling_actions.labels(*self._app(key), way, actuation)

    def _weight_updates(self, key: AppKey, objective: str) -> Counter:
        self._update_labels.setdefault(key, set()).add(objective)
        return self.weight_updates.labels(*self._app(key), objective)

    def actuation_error(self, key: AppKey) -> None:
        self.actuation_errors.labels(*self._app(key)).inc()

    def step_failed(self, stage: str) -> None:
        """A failure outside any cycle's summary: a whole tick that raised (``cycle``)."""
        self.cycle_failures.labels(stage).inc()

    def cycle(self, summary: CycleSummary) -> None:
        for stage, count in summary.failed.items():
            self.cycle_failures.labels(stage).inc(count)
        if summary.managed and summary.skipped is None:
            self.prometheus_up.set(0 if summary.prometheus_error is not None else 1)
        self.holding.set(summary.unavailable)
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
        self.adaptive.forget(key)
        ns, name = self._app(key)
        self.modifiers.forget(key)
        for gauge in (
            self.current,
            self.target,
            self.proposed,
            self.metrics_unavailable,
            self.latency_slo,
            self.cost_per_hour,
            *self._observed_gauges(),
        ):
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
        for way, actuation in self._scaling_labels.pop(key, set()):
            _remove(self.scaling_actions, ns, name, way, actuation)
        for objective in self._update_labels.pop(key, set()):
            _remove(self.weight_updates, ns, name, objective)


def _remove(metric: Gauge | Counter, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
