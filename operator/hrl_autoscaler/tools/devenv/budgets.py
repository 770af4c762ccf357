"""ExecutorBudgets on the local control plane: building them and a small client (plain dicts).

Used by the e2e tests and the dashboard run; the CRD comes with the local control plane
(:func:`hrl_autoscaler.tools.devenv.crds.default_crd_paths`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.budget.spec import (
    BUDGET_API_VERSION,
    BUDGET_GROUP,
    BUDGET_KIND,
    BUDGET_PLURAL,
    BUDGET_VERSION,
)
from hrl_autoscaler.tools.devenv.sparkapps import SeenEvent, list_events

MERGE_PATCH = "application/merge-patch+json"


def executor_budget(
    name: str,
    max_executors: int | None = None,
    *,
    policy: str | None = None,
    interval_s: float | None = None,
    match_labels: Mapping[str, str] | None = None,
    namespaces: Sequence[str] | None = None,
    max_cost_per_hour: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An ExecutorBudget; ``extra`` spec fields go in as given (for bad objects)."""
    spec: dict[str, Any] = {}
    if namespaces is not None:
        spec["namespaces"] = list(namespaces)
    if match_labels is not None:
        spec["selector"] = {"matchLabels": dict(match_labels)}
    if max_executors is not None:
        spec["maxExecutors"] = max_executors
    if max_cost_per_hour is not None:
        spec["maxCostPerHour"] = max_cost_per_hour
    if policy is not None:
        spec["policy"] = policy
    if interval_s is not None:
        spec["intervalSeconds"] = interval_s
    spec.update(extra)
    return {
        "apiVersion": BUDGET_API_VERSION,
        "kind": BUDGET_KIND,
        "metadata": {"name": name},
        "spec": spec,
    }


class Budgets:
    """The calls the tests make on ExecutorBudgets and their events."""

    def __init__(self, api: k8s_client.ApiClient) -> None:
        # Typed as Any: responses are read raw (_preload_content=False), not as models.
        self.core: Any = k8s_client.CoreV1Api(api)
        self.objects: Any = k8s_client.CustomObjectsApi(api)

    def _args(self, namespace: str) -> tuple[str, str, str, str]:
        return (BUDGET_GROUP, BUDGET_VERSION, namespace, BUDGET_PLURAL)

    def create(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = self.objects.create_namespaced_custom_object(
            *self._args(namespace), dict(body), _preload_content=False
        )
        created: dict[str, Any] = json.loads(response.data)
        return created

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            response = self.objects.get_namespaced_custom_object(
                *self._args(namespace), name, _preload_content=False
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        found: dict[str, Any] = json.loads(response.data)
        return found

    def status(self, namespace: str, name: str) -> dict[str, Any]:
        return dict((self.get(namespace, name) or {}).get("status") or {})

    def patch_spec(self, namespace: str, name: str, spec: Mapping[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object(
            *self._args(namespace),
            name,
            {"spec": dict(spec)},
            _content_type=MERGE_PATCH,
            _preload_content=False,
        )

    def delete(self, namespace: str, name: str) -> None:
        try:
            self.objects.delete_namespaced_custom_object(
                *self._args(namespace), name, _preload_content=False
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def delete_all(self, namespace: str) -> None:
        self.objects.delete_collection_namespaced_custom_object(
            *self._args(namespace), _preload_content=False
        )

    def events(self, namespace: str, name: str | None = None) -> list[SeenEvent]:
        """Events on ExecutorBudgets in ``namespace`` (of one budget), oldest first."""
        return list_events(self.core, namespace, BUDGET_KIND, name)
