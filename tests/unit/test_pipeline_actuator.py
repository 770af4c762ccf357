"""The SparkApplication actuator: optimistic concurrency, conflicts retried on fresh objects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot
from hrl_autoscaler.runtime.k8s.actuator import SparkApplicationActuator

KEY = AppKey("iot", "hospital")


@dataclass
class Raw:
    data: bytes


class FakeObjects:
    """CustomObjectsApi with a resourceVersion that moves on every read (a busy object)."""

    def __init__(self, conflicts: int = 0, fail: int | None = None) -> None:
        self.version = 10
        self.conflicts = conflicts
        self.fail = fail
        self.patches: list[dict[str, Any]] = []

    def _body(self) -> dict[str, Any]:
        return {
            "metadata": {
                "name": KEY.name,
                "namespace": KEY.namespace,
                "uid": "u",
                "resourceVersion": str(self.version),
                "labels": {"hrl-autoscaler.io/enabled": "true"},
            },
            "spec": {"executor": {"instances": 2}},
        }

    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Raw:
        self.version += 1
        return Raw(json.dumps(self._body()).encode())

    def patch_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Raw:
        body = args[5]
        self.patches.append(body)
        assert kwargs["_content_type"] == "application/merge-patch+json"
        assert kwargs["field_validation"] == "Strict"
        if self.fail is not None:
            raise ApiException(status=self.fail, reason="Unprocessable Entity")
        if self.conflicts:
            self.conflicts -= 1
            raise ApiException(status=409, reason="Conflict")
        result = self._body()
        result["spec"]["executor"]["instances"] = body["spec"]["executor"]["instances"]
        return Raw(json.dumps(result).encode())


def _actuator(objects: FakeObjects) -> SparkApplicationActuator:
    actuator = SparkApplicationActuator(k8s_client.ApiClient(), retries=3)
    actuator.objects = objects  # type: ignore[assignment]
    return actuator


def _scale(n: int) -> dict[str, Any]:
    return {"spec": {"executor": {"instances": n}}}


def _always(_: AppSnapshot) -> str | None:
    return None


def test_a_patch_carries_the_fresh_resource_version() -> None:
    objects = FakeObjects()
    result = _actuator(objects).patch(KEY, _scale(6), _always)
    assert result.applied
    assert result.snapshot is not None
    assert result.snapshot.spec_executors == 6
    assert objects.patches[0]["metadata"]["resourceVersion"] == "11"


def test_conflicts_are_retried_on_a_fresh_object() -> None:
    objects = FakeObjects(conflicts=2)
    result = _actuator(objects).patch(KEY, _scale(6), _always)
    assert result.applied
    assert [p["metadata"]["resourceVersion"] for p in objects.patches] == ["11", "12", "13"]


def test_endless_conflicts_give_up_with_an_error() -> None:
    result = _actuator(FakeObjects(conflicts=5)).patch(KEY, _scale(6), _always)
    assert not result.applied
    assert result.error
    assert result.detail.startswith("still conflicting after 3 attempts")


def test_a_failed_precondition_writes_nothing() -> None:
    objects = FakeObjects()
    result = _actuator(objects).patch(KEY, _scale(6), lambda fresh: "mode changed to paused")
    assert not result.applied
    assert not result.error
    assert result.detail == "mode changed to paused"
    assert objects.patches == []


def test_a_rejected_patch_is_an_error_with_the_servers_reason() -> None:
    result = _actuator(FakeObjects(fail=422)).patch(KEY, _scale(6), _always)
    assert result.error
    assert result.detail == "patch rejected: 422 Unprocessable Entity"
