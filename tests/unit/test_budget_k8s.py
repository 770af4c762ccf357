"""The Kubernetes side of ExecutorBudgets without an API server: the CRD files, the status
patch, the events' involved object, the status writer's retries, and the budget metrics.

The real API server checks the same things end to end in tests/e2e/test_budget.py.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.spec import (
    ACCEPTED,
    BUDGET_API_VERSION,
    BUDGET_GROUP,
    BUDGET_KIND,
    BUDGET_PLURAL,
    BudgetKey,
)
from hrl_autoscaler.runtime.core.ports import BudgetRef
from hrl_autoscaler.runtime.core.reporting import Reason, simple_event
from hrl_autoscaler.runtime.k8s.budgets import (
    STATUS_FIELDS,
    KubernetesBudgetSink,
    budget_object,
    status_patch,
)
from hrl_autoscaler.runtime.k8s.events import object_event_body
from hrl_autoscaler.runtime.service.budget_metrics import BudgetMetrics

REPO = Path(__file__).resolve().parents[2]
CHART_CRD = REPO / "charts" / "hrl-autoscaler" / "crds" / "executorbudgets.yaml"
PLAIN_CRD = REPO / "manifests" / "crds" / "executorbudgets.yaml"
REF = BudgetRef("team-a", "shared", "uid-1")


def _crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(PLAIN_CRD.read_text())
    return crd


def _walk(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = [schema]
    for child in (schema.get("properties") or {}).values():
        found += _walk(child)
    if isinstance(schema.get("items"), dict):
        found += _walk(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        found += _walk(schema["additionalProperties"])
    return found


# -- the CRD -------------------------------------------------------------------------------------


def test_the_chart_and_the_manifests_ship_the_same_crd() -> None:
    assert CHART_CRD.read_text() == PLAIN_CRD.read_text()


def test_the_crd_names_the_operators_api() -> None:
    crd = _crd()
    assert crd["metadata"]["name"] == f"{BUDGET_PLURAL}.{BUDGET_GROUP}"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"], spec["names"]["kind"]) == (
        BUDGET_GROUP,
        "Namespaced",
        BUDGET_KIND,
    )
    assert "eb" in spec["names"]["shortNames"]
    [version] = spec["versions"]
    assert f"{BUDGET_GROUP}/{version['name']}" == BUDGET_API_VERSION
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Policy", "Limit", "Used", "Utilisation", "Apps", "Ready", "Age"]


def test_the_schema_types_every_field_and_leaves_the_values_to_the_operator() -> None:
    """Ranges, enums and CEL rules would turn a bad value into a rejected apply with no
    Warning on the object; the operator validates instead (and keeps the last good spec)."""
    [version] = _crd()["spec"]["versions"]
    root = version["schema"]["openAPIV3Schema"]
    spec = root["properties"]["spec"]
    assert set(spec["properties"]) == {k for k in ACCEPTED if k != "spec"}
    for node in _walk(root):
        assert not {"minimum", "maximum", "enum", "x-kubernetes-validations", "pattern"} & set(
            node
        ), node
    for name, field in spec["properties"].items():
        assert field.get("type"), name
        assert field.get("description"), name
    assert "Warning" in root["description"]
    assert "last good spec" in root["description"]


def test_the_status_schema_declares_every_field_the_operator_writes() -> None:
    [version] = _crd()["spec"]["versions"]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert set(status) == set(STATUS_FIELDS)
    row = status["allocations"]["items"]["properties"]
    assert set(row) == {"application", "cap", "executors", "wanted", "index"}


# -- the status patch and the events ------------------------------------------------------------


def test_the_status_patch_clears_the_fields_that_no_longer_apply() -> None:
    patch = status_patch({"observedGeneration": 3, "policy": "whittle"})
    assert patch["status"]["observedGeneration"] == 3
    assert patch["status"]["policy"] == "whittle"
    assert patch["status"]["limitCostPerHour"] is None
    assert set(patch["status"]) == set(STATUS_FIELDS)


def test_an_event_about_a_budget_names_the_budget() -> None:
    event = simple_event(Reason.BUDGET_INVALID, field="spec.maxExecutors", value="-3")
    body = object_event_body(
        budget_object(REF), event, "replica-1", datetime(2026, 1, 2, tzinfo=UTC)
    )
    assert body["involvedObject"] == {
        "apiVersion": BUDGET_API_VERSION,
        "kind": BUDGET_KIND,
        "name": "shared",
        "namespace": "team-a",
        "uid": "uid-1",
    }
    assert body["metadata"] == {"generateName": "shared.", "namespace": "team-a"}
    assert body["type"] == "Warning"
    assert body["reason"] == "BudgetInvalid"


# -- the status writer --------------------------------------------------------------------------


class FakeObjects:
    """Records status patches; fails the first ``failures`` of them."""

    def __init__(self, failures: int = 0, status: int = 500) -> None:
        self.failures = failures
        self.error_status = status
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.calls = 0
        self.lock = threading.Lock()

    def patch_namespaced_custom_object_status(
        self, group: str, version: str, ns: str, plural: str, name: str, body: Any, **kw: Any
    ) -> None:
        assert kw["_content_type"] == "application/merge-patch+json"
        with self.lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise ApiException(status=self.error_status, reason="boom")
            self.patches.append((ns, name, body))


class FakeEvents:
    def __init__(self) -> None:
        self.posted: list[tuple[Any, Any]] = []

    def emit_about(self, obj: Any, event: Any) -> None:
        self.posted.append((obj, event))


def _sink(objects: FakeObjects, metrics: BudgetMetrics | None = None) -> KubernetesBudgetSink:
    api: Any = _NoApi()
    events: Any = FakeEvents()
    sink = KubernetesBudgetSink(api, events, metrics, retry_s=0.05)
    sink.objects = objects
    return sink


class _NoApi:
    """CustomObjectsApi(api) only keeps the client; nothing is called on it here."""


def _wait(check: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_failed_status_patch_is_retried_with_the_newest_status() -> None:
    objects = FakeObjects(failures=2)
    sink = _sink(objects)
    try:
        sink.status(REF, {"observedGeneration": 1})
        sink.status(REF, {"observedGeneration": 2})
        _wait(lambda: objects.patches)
        assert sink.flush(5.0)
        written = [body["status"]["observedGeneration"] for _, _, body in objects.patches]
        assert written[-1] == 2
        assert all(g in (1, 2) for g in written)
    finally:
        sink.close()


def test_a_deleted_budget_is_not_retried() -> None:
    objects = FakeObjects(failures=1, status=404)
    sink = _sink(objects)
    try:
        sink.status(REF, {"observedGeneration": 1})
        _wait(lambda: objects.calls >= 1)
        assert sink.flush(2.0)
        time.sleep(0.2)
        assert objects.calls == 1
    finally:
        sink.close()


def test_events_go_to_the_poster_about_the_budget_object() -> None:
    sink = _sink(FakeObjects())
    try:
        sink.event(REF, simple_event(Reason.BUDGET_EMPTY, selector="x=y"))
        events: Any = sink.events
        [(obj, event)] = events.posted
        assert (obj.kind, obj.namespace, obj.name, obj.uid) == (
            BUDGET_KIND,
            "team-a",
            "shared",
            "uid-1",
        )
        assert event.reason is Reason.BUDGET_EMPTY
    finally:
        sink.close()


# -- the metrics ---------------------------------------------------------------------------------


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def _status(caps: dict[str, int], used: int, limit: int = 10) -> dict[str, Any]:
    return {
        "policy": "whittle",
        "usedExecutors": used,
        "limitExecutors": limit,
        "allocatedExecutors": sum(caps.values()),
        "utilisation": used / limit,
        "allocations": [
            {"application": f"apps/{name}", "cap": cap, "executors": cap, "wanted": cap + 1}
            | ({"index": 0.5} if name == "a" else {})
            for name, cap in caps.items()
        ],
    }


B = (("budget", "team-a/shared"),)


def _app(name: str) -> tuple[tuple[str, str], ...]:
    return (("application", name), ("budget", "team-a/shared"), ("namespace", "apps"))


def test_metrics_follow_the_written_status() -> None:
    registry = CollectorRegistry()
    metrics = BudgetMetrics(registry)
    sink = _sink(FakeObjects(), metrics)
    try:
        sink.status(REF, _status({"a": 6, "b": 4}, used=9))
        got = _samples(registry)
        assert got[("hrl_autoscaler_budget_limit_executors", B)] == 10
        assert got[("hrl_autoscaler_budget_used_executors", B)] == 9
        assert got[("hrl_autoscaler_budget_allocated_executors", B)] == 10
        assert got[("hrl_autoscaler_budget_utilisation", B)] == pytest.approx(0.9)
        assert got[("hrl_autoscaler_budget_cap_executors", _app("a"))] == 6
        assert got[("hrl_autoscaler_budget_cap_executors", _app("b"))] == 4
        assert got[("hrl_autoscaler_budget_index", _app("a"))] == 0.5
        assert ("hrl_autoscaler_budget_index", _app("b")) not in got
        # counters exist at 0 before anything happened
        assert got[("hrl_autoscaler_budget_limited_total", _app("b"))] == 0
        assert got[("hrl_autoscaler_budget_exceedances_total", B)] == 0

        sink.limited(REF, AppKey("apps", "b"), 7, 4)
        sink.limited(REF, AppKey("apps", "b"), 8, 4)
        sink.status(REF, _status({"a": 6, "b": 4}, used=11))  # over the limit: counted
        sink.status(REF, _status({"a": 7}, used=7))  # b left the budget: its series go
        got = _samples(registry)
        assert got[("hrl_autoscaler_budget_exceedances_total", B)] == 1
        assert got[("hrl_autoscaler_budget_cap_executors", _app("a"))] == 7
        assert ("hrl_autoscaler_budget_cap_executors", _app("b")) not in got
        assert ("hrl_autoscaler_budget_limited_total", _app("b")) not in got

        cost_only = _status({"a": 7}, used=7)
        del cost_only["limitExecutors"]
        sink.status(REF, cost_only)
        assert ("hrl_autoscaler_budget_limit_executors", B) not in _samples(registry)
    finally:
        sink.close()


def test_a_deleted_budget_leaves_no_series() -> None:
    registry = CollectorRegistry()
    metrics = BudgetMetrics(registry)
    metrics.status(REF, _status({"a": 6, "b": 4}, used=9))
    metrics.limited(REF, AppKey("apps", "a"), 8, 6)
    metrics.forget(BudgetKey("team-a", "shared"))
    left = [name for name, labels in _samples(registry) if dict(labels).get("budget")]
    assert left == []


def test_the_limited_counter_counts_each_cut() -> None:
    registry = CollectorRegistry()
    metrics = BudgetMetrics(registry)
    for _ in range(3):
        metrics.limited(REF, AppKey("apps", "c"), 5, 2)
    assert _samples(registry)[("hrl_autoscaler_budget_limited_total", _app("c"))] == 3
