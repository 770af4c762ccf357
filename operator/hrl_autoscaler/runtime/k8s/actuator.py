"""Writes to SparkApplications: executor counts, the in-place target, the reward weights.

Every write re-reads the object, lets the decision loop check that its decision still applies
(mode, actuation, executor count), and merge-patches with the object's ``resourceVersion`` as a
precondition, so a concurrent change by a user or the Spark Operator is never overwritten: the
API server answers 409 Conflict and the write is retried on a fresh object.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.application import (
    GROUP,
    PLURAL,
    VERSION,
    AppKey,
    snapshot_from_body,
)
from hrl_autoscaler.runtime.core.ports import ActuationResult, PatchActuator, Precondition
from hrl_autoscaler.runtime.k8s.client import MERGE_PATCH, api_error, read_json

log = logging.getLogger("hrl_autoscaler.runtime.k8s.actuator")

FIELD_MANAGER = "hrl-autoscaler"


class SparkApplicationActuator(PatchActuator):
    """Implements :class:`hrl_autoscaler.runtime.core.ports.Actuator` with the Kubernetes API."""

    def __init__(
        self, api: k8s_client.ApiClient, retries: int = 3, timeout_s: float = 10.0
    ) -> None:
        self.objects = k8s_client.CustomObjectsApi(api)
        self.retries = retries
        self.timeout_s = timeout_s

    def _get(self, key: AppKey) -> dict[str, Any]:
        response = self.objects.get_namespaced_custom_object(
            GROUP,
            VERSION,
            key.namespace,
            PLURAL,
            key.name,
            _preload_content=False,
            _request_timeout=self.timeout_s,
        )
        return read_json(response)

    def patch(
        self, key: AppKey, body: dict[str, Any], precondition: Precondition
    ) -> ActuationResult:
        """Merge-patch ``body`` when ``precondition`` allows on a fresh read."""
        last = ""
        for attempt in range(1, self.retries + 1):
            try:
                fresh = self._get(key)
            except ApiException as exc:
                if exc.status == 404:
                    return ActuationResult(False, "the application no longer exists")
                return ActuationResult(False, f"read failed: {api_error(exc)}", error=True)
            except Exception as exc:  # network errors: report, the next cycle retries
                return ActuationResult(False, f"read failed: {exc}", error=True)
            snapshot = snapshot_from_body(fresh)
            reason = precondition(snapshot)
            if reason is not None:
                return ActuationResult(False, reason, snapshot)
            patch = copy.deepcopy(body)
            patch.setdefault("metadata", {})["resourceVersion"] = snapshot.resource_version
            try:
                response = self.objects.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    key.namespace,
                    PLURAL,
                    key.name,
                    patch,
                    field_manager=FIELD_MANAGER,
                    field_validation="Strict",
                    _content_type=MERGE_PATCH,
                    _preload_content=False,
                    _request_timeout=self.timeout_s,
                )
            except ApiException as exc:
                if exc.status == 409:
                    last = api_error(exc)
                    log.info("%s: conflict on attempt %d, retrying on a fresh object", key, attempt)
                    continue
                if exc.status == 404:
                    return ActuationResult(False, "the application no longer exists")
                return ActuationResult(False, f"patch rejected: {api_error(exc)}", error=True)
            except Exception as exc:
                return ActuationResult(False, f"patch failed: {exc}", error=True)
            return ActuationResult(True, "patched", snapshot_from_body(read_json(response)))
        return ActuationResult(
            False, f"still conflicting after {self.retries} attempts ({last})", error=True
        )
