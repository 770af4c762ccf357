"""From Prometheus answers to metrics records: matching, completeness, staleness, capacity."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from hrl_autoscaler.config import QUERY_NAMES, SimParams, load_operator_settings
from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot
from hrl_autoscaler.runtime.core.sampling import (
    AppSample,
    Collection,
    Series,
    SeriesMatcher,
    assign,
    build_metrics,
    unavailable_reason,
)
from hrl_autoscaler.runtime.core.sizing import (
    observation_scale,
    single_executor_rate,
    smoothed,
    true_rate_per_executor,
)
from hrl_autoscaler.runtime.k8s.prometheus import PrometheusCollector, promql_duration, render

A = AppSnapshot(AppKey("iot", "hospital"), "u1", "1", app_id="spark-a2")
B = AppSnapshot(AppKey("billing", "hospital"), "u2", "1", app_id=None)
C = AppSnapshot(AppKey("iot", "meters"), "u3", "1", app_id="spark-c1")


def test_series_match_by_id_then_namespace_and_name_then_unique_name() -> None:
    m = SeriesMatcher([A, B, C])
    assert m.match({"application_id": "spark-a2", "application_name": "x"}) == A.key
    assert m.match({"application_name": "hospital", "namespace": "billing"}) == B.key
    assert m.match({"group": "hospital", "namespace": "iot"}) == A.key
    assert m.match({"application_name": "meters"}) == C.key  # unique without namespace
    assert m.match({"application_name": "hospital"}) is None  # ambiguous without namespace
    assert m.match({"application_name": "unknown", "namespace": "iot"}) is None
    assert m.match({"value": "no name label"}) is None


def test_series_of_an_earlier_run_are_dropped() -> None:
    m = SeriesMatcher([A, C])
    old_run = {"application_id": "spark-a1", "application_name": "hospital", "namespace": "iot"}
    assert m.match(old_run) is None


def test_assign_sums_and_takes_the_max_of_latency() -> None:
    results = {
        "input_rate": [
            Series({"application_id": "spark-c1"}, 100.0),
            Series({"application_name": "meters", "namespace": "iot"}, 50.0),
        ],
        "latency": [
            Series({"application_id": "spark-c1"}, 300.0),
            Series({"application_id": "spark-c1", "query": "b"}, 900.0),
        ],
    }
    samples = assign(results, SeriesMatcher([A, C]))
    assert samples[C.key].values == {"input_rate": 150.0, "latency": 900.0}
    assert A.key not in samples


def _full() -> AppSample:
    return AppSample(
        {
            "active_tasks": 3.0,
            "total_cores": 4.0,
            "running_executors": 4.0,
            "memory_used": 1.0,
            "memory_max": 4.0,
            "input_rate": 5000.0,
            "processing_rate": 4800.0,
            "latency": 1200.0,
            "last_seen": 1000.0,
        }
    )


def test_unavailable_reasons() -> None:
    key = A.key
    ok = Collection({key: _full()})
    assert unavailable_reason(key, ok, now_s=1030.0, max_age_s=120.0) is None
    assert unavailable_reason(key, ok, now_s=1200.0, max_age_s=120.0) == (
        "stale: newest streaming sample is 200 s old (limit 120 s)"
    )
    assert unavailable_reason(key, Collection({}), 0.0, 120.0) == (
        "no series for active_tasks, total_cores, running_executors, memory_used, memory_max, "
        "input_rate, processing_rate, latency"
    )
    partial = _full()
    del partial.values["latency"]
    failed = Collection({key: partial}, query_errors={"latency": "bad_data: parse error"})
    assert unavailable_reason(key, failed, 1000.0, 120.0) == (
        "queries failed: latency (bad_data: parse error)"
    )
    down = Collection.failed("ConnectError: refused")
    assert (
        unavailable_reason(key, down, 0.0, 1.0) == "prometheus unavailable: ConnectError: refused"
    )


def test_build_metrics_ratios_and_defaults() -> None:
    sample = _full()
    m = build_metrics(sample, executors=5, restarting=False, now_s=12.0)
    assert m.cpu_utilisation == 0.75
    assert m.memory_utilisation == 0.25
    assert (m.executors, m.running_executors, m.backlog_events) == (5, 4, 0.0)
    sample.values["active_tasks"] = 9.0  # more busy slots than cores: clipped, not > 1
    assert build_metrics(sample, 5, False, 0.0).cpu_utilisation == 1.0


def test_capacity_is_measured_ds2_style_and_smoothed() -> None:
    params = SimParams()
    m = build_metrics(_full(), 4, False, 0.0)
    rate = true_rate_per_executor(m)
    assert rate == pytest.approx(4800 / 3)
    assert single_executor_rate(4800 / 3, m.running_executors, params) == pytest.approx(
        4800 / 3 * (1 + 0.03 * 3)
    )
    idle = AppSample({**_full().values, "active_tasks": 0.2})
    assert true_rate_per_executor(build_metrics(idle, 4, False, 0.0)) is None
    assert smoothed(1000.0, None, 0.3) == 1000.0
    assert smoothed(1000.0, 2000.0, 0.3) == pytest.approx(1300.0)
    # the simulator's own executor rate gives the simulator's own scale
    assert observation_scale(1000.0, params).rate_scale_eps == pytest.approx(params.rate_scale_eps)


# -- the Prometheus adapter ----------------------------------------------------------------------


def _vector(result: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def test_one_query_per_metric_whatever_the_number_of_applications() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = dict(httpx.QueryParams(request.content.decode()))["query"]
        seen.append(query)
        assert request.headers["Authorization"] == "Bearer tok"
        series = [
            {
                "metric": {"application_id": f"id-{i}", "application_name": f"app-{i}"},
                "value": [0, "2"],
            }
            for i in range(200)
        ]
        return httpx.Response(200, json=_vector(series))

    settings = load_operator_settings(prometheus_bearer_token="tok", decision_interval_s=15)
    collector = PrometheusCollector(settings, transport=httpx.MockTransport(handler))
    apps = [
        AppSnapshot(AppKey("ns", f"app-{i}"), f"u{i}", "1", app_id=f"id-{i}") for i in range(200)
    ]
    collection = collector.collect(apps)
    collector.close()
    assert collection.queries == len(QUERY_NAMES) == len(seen)
    assert len(collection.samples) == 200
    assert collection.samples[AppKey("ns", "app-7")].values["total_cores"] == 2.0
    assert any("[15000ms]" in q for q in seen)  # {window} = the decision interval


def test_failed_queries_and_an_unreachable_server_are_told_apart() -> None:
    def bad_latency(request: httpx.Request) -> httpx.Response:
        query = dict(httpx.QueryParams(request.content.decode()))["query"]
        if "latency" in query and "timestamp" not in query:
            body = {"status": "error", "errorType": "bad_data", "error": "parse error"}
            return httpx.Response(400, content=json.dumps(body))
        return httpx.Response(200, json=_vector([]))

    collector = PrometheusCollector(
        load_operator_settings(), transport=httpx.MockTransport(bad_latency)
    )
    collection = collector.collect([A])
    assert collection.error is None
    assert collection.query_errors == {"latency": "parse error"}

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    collector = PrometheusCollector(
        load_operator_settings(), transport=httpx.MockTransport(refused)
    )
    collection = collector.collect([A])
    assert collection.error == "ConnectError: connection refused"
    assert collection.queries == len(QUERY_NAMES)


def test_window_rendering() -> None:
    assert promql_duration(30) == "30000ms"
    assert promql_duration(1.5) == "1500ms"
    assert render("rate(x[{window}])", 2) == "rate(x[2000ms])"
