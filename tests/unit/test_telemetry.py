"""The operator's own metrics as Prometheus would scrape them (the dashboard's inputs).

Each test reads the real exposition text of :class:`OperatorMetrics` (the same bytes /metrics
serves), parsed with prometheus_client's parser, so a renamed series or a lost label shows up
here before it shows up as an empty dashboard panel.
"""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hrl_autoscaler.config import QUERY_NAMES, AnnotationDefaults
from hrl_autoscaler.runtime.core.annotations import PREFIX, AppSettings, resolve_settings
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.pipeline import STAGES
from hrl_autoscaler.runtime.core.ports import CycleSummary, DecisionRecord
from hrl_autoscaler.runtime.core.weights import Weights
from hrl_autoscaler.runtime.service.telemetry import OperatorMetrics

KEY = AppKey("iot", "hospital")
METRICS = SystemMetrics(5000.0, 4200.0, 1500.0, 0.9, 0.4, 2300.0, 4, 3)


def _settings(**annotations: str) -> AppSettings:
    body = {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()}
    return resolve_settings(body, AnnotationDefaults(), None).settings


def _samples(metrics: OperatorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition by (name, sorted labels)."""
    text = generate_latest(metrics.registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _app(**extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"namespace": "iot", "application": "hospital", **extra}.items()))


def test_app_seen_exports_slo_cost_and_zero_counters() -> None:
    m = OperatorMetrics()
    settings = _settings(latency_slo_ms="1500", cost_per_executor_hour="0.5", actuation="in-place")
    m.app_seen(KEY, settings, Weights.of(0.2, 0.3, 0.5), 4)
    s = _samples(m)
    assert s[("hrl_autoscaler_latency_slo_seconds", _app())] == 1.5
    assert s[("hrl_autoscaler_cost_per_hour", _app())] == 2.0
    for way in ("up", "down"):
        labels = _app(direction=way, actuation="in-place")
        assert s[("hrl_autoscaler_scaling_actions_total", labels)] == 0.0
    assert s[("hrl_autoscaler_fallbacks_total", _app())] == 0.0
    assert s[("hrl_autoscaler_actuation_errors_total", _app())] == 0.0
    # meta is the default weight policy: its update counter exists at 0 from the start
    assert s[("hrl_autoscaler_weight_updates_total", _app(objective="slo"))] == 0.0
    for query in ("all", *QUERY_NAMES):
        assert s[("hrl_autoscaler_prometheus_errors_total", (("query", query),))] == 0.0


def test_fixed_weights_export_no_update_counter() -> None:
    m = OperatorMetrics()
    m.app_seen(KEY, _settings(weight_policy="latency-first"), Weights.of(0.05, 0.9, 0.05), 2)
    names = {name for name, _ in _samples(m)}
    assert "hrl_autoscaler_weight_updates_total" not in names


def test_decisions_export_what_they_were_made_on_and_holds_remove_it() -> None:
    m = OperatorMetrics()
    m.app_seen(KEY, _settings(), Weights.of(1, 1, 1), 4)
    m.decision(KEY, DecisionRecord(4, 6, 7, "ppo", "auto", 0.0002, METRICS))
    s = _samples(m)
    assert s[("hrl_autoscaler_observed_input_rate", _app())] == 5000.0
    assert s[("hrl_autoscaler_observed_processing_rate", _app())] == 4200.0
    assert s[("hrl_autoscaler_observed_latency_seconds", _app())] == 2.3
    assert s[("hrl_autoscaler_observed_backlog", _app())] == 1500.0
    assert s[("hrl_autoscaler_running_executors", _app())] == 3.0
    m.unavailable(KEY, "stale: 95 s old")
    s = _samples(m)
    assert ("hrl_autoscaler_observed_latency_seconds", _app()) not in s
    assert s[("hrl_autoscaler_metrics_unavailable", _app())] == 1.0
    assert s[("hrl_autoscaler_target_executors", _app())] == 6.0  # the decision stays


def test_scaling_and_weight_updates_count_by_direction_and_objective() -> None:
    m = OperatorMetrics()
    m.app_seen(KEY, _settings(actuation="restart"), Weights.of(1, 1, 1), 2)
    m.scaled(KEY, 2, 6, "restart")
    m.scaled(KEY, 6, 9, "restart")
    m.scaled(KEY, 9, 5, "restart")
    m.weights_updated(KEY, "slo")
    s = _samples(m)
    assert (
        s[("hrl_autoscaler_scaling_actions_total", _app(direction="up", actuation="restart"))]
        == 2.0
    )
    assert (
        s[("hrl_autoscaler_scaling_actions_total", _app(direction="down", actuation="restart"))]
        == 1.0
    )
    assert s[("hrl_autoscaler_weight_updates_total", _app(objective="slo"))] == 1.0


def test_forget_removes_every_series_of_the_application() -> None:
    m = OperatorMetrics()
    other = AppKey("iot", "metering")
    for key in (KEY, other):
        m.app_seen(key, _settings(actuation="in-place"), Weights.of(1, 1, 1), 3)
        m.decision(key, DecisionRecord(3, 4, 4, "ppo", "auto", 0.0001, METRICS))
        m.scaled(key, 3, 4, "in-place")
        m.weights_updated(key, "slo")
        m.meta(key, "slo", 0.42)
    m.forget(KEY)
    left = [labels for (_, labels) in _samples(m) if ("application", "hospital") in labels]
    assert left == []
    assert any(("application", "metering") in labels for (_, labels) in _samples(m))


def test_cycle_counts_failed_steps_and_says_whether_prometheus_answered() -> None:
    """The counts come from the cycle's summary; a whole failed tick is counted by the loop."""
    m = OperatorMetrics()
    s = _samples(m)
    for stage in (*STAGES, "cycle"):
        assert s[("hrl_autoscaler_cycle_failures_total", (("stage", stage),))] == 0.0
    m.cycle(CycleSummary(3, 3, 1, 0, 2, 10, 0.1, "timed out", failed={"decide": 2, "meta": 1}))
    m.step_failed("cycle")
    s = _samples(m)
    assert s[("hrl_autoscaler_cycle_failures_total", (("stage", "decide"),))] == 2.0
    assert s[("hrl_autoscaler_cycle_failures_total", (("stage", "meta"),))] == 1.0
    assert s[("hrl_autoscaler_cycle_failures_total", (("stage", "cycle"),))] == 1.0
    assert s[("hrl_autoscaler_prometheus_up", ())] == 0.0
    assert s[("hrl_autoscaler_holding_applications", ())] == 2.0
    m.cycle(CycleSummary(3, 3, 3, 0, 0, 10, 0.1))
    s = _samples(m)
    assert s[("hrl_autoscaler_prometheus_up", ())] == 1.0
    assert s[("hrl_autoscaler_holding_applications", ())] == 0.0
    assert s[("hrl_autoscaler_cycle_failures_total", (("stage", "decide"),))] == 2.0
