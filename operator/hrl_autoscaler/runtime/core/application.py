"""What the operator knows of one SparkApplication: an immutable snapshot of its object.

Built from the raw object (a dict, as the watch delivers it) without any Kubernetes client, so
the decision loop and its tests work on plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hrl_autoscaler.runtime.core.annotations import (
    ENABLED_LABEL,
    TARGET_ANNOTATION,
    target_annotation,
    weight_annotations,
)
from hrl_autoscaler.runtime.core.records import ScaleRecord, meta_record_annotation
from hrl_autoscaler.runtime.core.weights import Weights

GROUP = "sparkoperator.k8s.io"
VERSION = "v1beta2"
PLURAL = "sparkapplications"
KIND = "SparkApplication"
API_VERSION = f"{GROUP}/{VERSION}"

#: The Spark Operator state in which the driver runs and serves metrics.
RUNNING = "RUNNING"


@dataclass(frozen=True, order=True)
class AppKey:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class AppSnapshot:
    """One SparkApplication as last seen by the watch (or re-read before a patch)."""

    key: AppKey
    uid: str
    resource_version: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    spec_executors: int = 1
    """``spec.executor.instances`` (the Spark Operator's default is 1 when unset)."""
    state: str = ""
    """``status.applicationState.state``; "" before the Spark Operator has seen it."""
    app_id: str | None = None
    """``status.sparkApplicationId``: the ``application_id`` label of this run's metrics."""

    @property
    def enabled(self) -> bool:
        return self.labels.get(ENABLED_LABEL) == "true"

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def current_executors(self, in_place: bool) -> int:
        """The allocation in force: the in-place target when set, else the spec's count."""
        if in_place:
            target = target_annotation(self.annotations)
            if target is not None:
                return target
        return self.spec_executors


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def snapshot_from_body(body: Mapping[str, Any]) -> AppSnapshot:
    """The snapshot of a SparkApplication object (missing fields get the CRD's defaults)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    executor = spec.get("executor") or {}
    state = (status.get("applicationState") or {}).get("state") or ""
    return AppSnapshot(
        key=AppKey(str(meta.get("namespace") or "default"), str(meta.get("name") or "")),
        uid=str(meta.get("uid") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        spec_executors=max(1, _int(executor.get("instances"), 1)),
        state=str(state),
        app_id=str(status["sparkApplicationId"]) if status.get("sparkApplicationId") else None,
    )


def scale_patch(record: ScaleRecord, actuation: str) -> dict[str, Any]:
    """The merge patch of a scaling intent: ``spec.executor.instances`` (restart: the Spark
    Operator resubmits) or the in-place target annotation (the driver's agent applies it),
    with the scale record in the same write: one patch, applied entirely or not at all, so no
    crash can separate the action from what a successor needs to know about it."""
    annotations = record.annotation()
    body: dict[str, Any] = {"metadata": {"annotations": annotations}}
    if actuation == "restart":
        body["spec"] = {"executor": {"instances": record.target}}
    else:
        annotations[TARGET_ANNOTATION] = str(record.target)
    return body


def weights_patch(weights: Weights, at: float | None = None) -> dict[str, Any]:
    """The merge patch that puts meta weights in force (the weight annotations), with the time
    of the update when given (the next meta window starts there, even after a crash)."""
    annotations = weight_annotations(weights)
    if at is not None:
        annotations.update(meta_record_annotation(at))
    return {"metadata": {"annotations": annotations}}
