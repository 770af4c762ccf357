"""SparkApplications on the local control plane: building them, a small client, reading them back.

Used by the local stack, the demo, the benchmarks and the e2e tests.

The objects are valid against the upstream Spark Operator CRD (what a user would apply), with
the emulator's workload annotations and the operator's per-application annotations.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.annotations import ENABLED_LABEL, PREFIX, TARGET_ANNOTATION
from hrl_autoscaler.runtime.core.application import API_VERSION, GROUP, KIND, PLURAL, VERSION

EMULATOR = "emulator.hrl-autoscaler.io/"
T = TypeVar("T")


def spark_application(
    name: str,
    executors: int = 2,
    settings: Mapping[str, str] | None = None,
    rate_eps: float | None = None,
    scenario: str | None = None,
    peak_rate_eps: float | None = None,
    seed: int | None = None,
    enabled: bool = True,
    first_batch_s: float | None = None,
) -> dict[str, Any]:
    """A SparkApplication; ``settings`` are operator annotations without the prefix."""
    annotations = {PREFIX + k: str(v) for k, v in (settings or {}).items()}
    if rate_eps is not None:
        annotations[EMULATOR + "rate"] = f"{rate_eps:g}"
    if scenario is not None:
        annotations[EMULATOR + "scenario"] = scenario
    if peak_rate_eps is not None:
        annotations[EMULATOR + "peak-rate"] = f"{peak_rate_eps:g}"
    if seed is not None:
        annotations[EMULATOR + "seed"] = str(seed)
    if first_batch_s is not None:
        annotations[EMULATOR + "first-batch-s"] = f"{first_batch_s:g}"
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "labels": {ENABLED_LABEL: "true" if enabled else "false"},
            "annotations": annotations,
        },
        "spec": {
            "type": "Python",
            "mode": "cluster",
            "sparkVersion": "4.0.0",
            "image": "spark:4.0.0",
            "mainApplicationFile": "local:///opt/hrl/iot_stream.py",
            "sparkConf": {"spark.sql.streaming.metricsEnabled": "true"},
            "driver": {"cores": 1, "memory": "512m"},
            "executor": {"instances": executors, "cores": 1, "memory": "512m"},
        },
    }


@dataclass(frozen=True)
class SeenEvent:
    reason: str
    type: str
    message: str
    instance: str
    name: str
    #: ``eventTime`` (microseconds) where the poster set it, else ``creationTimestamp``
    #: (whole seconds, so events within one second would tie).
    at: str


class Cluster:
    """The calls the demo and tests make, returning plain dicts."""

    def __init__(self, api: k8s_client.ApiClient) -> None:
        # Typed as Any: responses are read raw (_preload_content=False), not as models.
        self.core: Any = k8s_client.CoreV1Api(api)
        self.objects: Any = k8s_client.CustomObjectsApi(api)

    def ensure_namespace(self, name: str) -> None:
        try:
            self.core.create_namespace({"metadata": {"name": name}})
        except ApiException as exc:
            if exc.status != 409:
                raise

    def create(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body, _preload_content=False
        )
        created: dict[str, Any] = json.loads(response.data)
        return created

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        response = self.objects.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, _preload_content=False
        )
        found: dict[str, Any] = json.loads(response.data)
        return found

    def list_apps(self, namespace: str) -> list[dict[str, Any]]:
        response = self.objects.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, _preload_content=False
        )
        return list(json.loads(response.data)["items"])

    def annotate(self, namespace: str, name: str, annotations: Mapping[str, str | None]) -> None:
        self.objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"metadata": {"annotations": dict(annotations)}},
            _content_type="application/merge-patch+json",
            _preload_content=False,
        )

    def set_rate(self, namespace: str, name: str, rate_eps: float) -> None:
        self.annotate(namespace, name, {EMULATOR + "rate": f"{rate_eps:g}"})

    def delete_all(self, namespace: str) -> None:
        self.objects.delete_collection_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, _preload_content=False
        )

    def events(self, namespace: str, name: str | None = None) -> list[SeenEvent]:
        """Events on SparkApplications in ``namespace`` (of one application), oldest first."""
        return list_events(self.core, namespace, KIND, name)

    def configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            response = self.core.read_namespaced_config_map(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        found: dict[str, Any] = json.loads(response.data)
        return found


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def current_executors(obj: Mapping[str, Any]) -> int:
    """What the operator would call the current allocation of this object."""
    target = annotations_of(obj).get(TARGET_ANNOTATION)
    in_place = annotations_of(obj).get(PREFIX + "actuation") == "in-place"
    if in_place and target is not None and target.isdigit():
        return int(target)
    return int(obj["spec"]["executor"].get("instances", 1))


def app_state(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("status") or {}).get("applicationState") or {}).get("state", ""))


def written_by(obj: Mapping[str, Any], manager: str) -> list[dict[str, Any]]:
    """The managedFields entries of ``manager`` other than status updates: its writes."""
    return [
        m
        for m in (obj.get("metadata") or {}).get("managedFields") or []
        if m.get("manager") == manager and m.get("subresource") != "status"
    ]


def wait_for(what: str, check: Callable[[], T | None], timeout_s: float, every_s: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; raise naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}; last: {last!r}")


def list_events(
    core: k8s_client.CoreV1Api, namespace: str, kind: str, name: str | None = None
) -> list[SeenEvent]:
    """Events about objects of ``kind`` in ``namespace`` (about one, by ``name``), oldest first."""
    selector = f"involvedObject.kind={kind}"
    if name is not None:
        selector += f",involvedObject.name={name}"
    response: Any = core.list_namespaced_event(  # raw: _preload_content=False
        namespace, field_selector=selector, _preload_content=False
    )
    events = [
        SeenEvent(
            reason=str(e.get("reason", "")),
            type=str(e.get("type", "")),
            message=str(e.get("message", "")),
            instance=str(e.get("reportingInstance", "")),
            name=str(e["involvedObject"].get("name", "")),
            at=str(e.get("eventTime") or e["metadata"].get("creationTimestamp", "")),
        )
        for e in json.loads(response.data)["items"]
    ]
    return sorted(events, key=lambda e: e.at)
