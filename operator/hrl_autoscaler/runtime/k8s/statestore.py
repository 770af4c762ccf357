"""The state ConfigMap of each application (``hrl-autoscaler-state-<name>`` in its namespace).

Owned by the SparkApplication (ownerReference), so deleting the application deletes its state.
Labelled, so one LIST per cycle start finds every state after an operator restart.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.application import API_VERSION, KIND, AppKey, AppSnapshot
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.ports import StateStoreError
from hrl_autoscaler.runtime.k8s.client import MERGE_PATCH, api_error, read_json

log = logging.getLogger("hrl_autoscaler.runtime.k8s.state")

STATE_KEY = "state.json"
NAME_PREFIX = "hrl-autoscaler-state-"
MANAGED_BY = {"app.kubernetes.io/managed-by": "hrl-autoscaler"}
APP_LABEL = "hrl-autoscaler.io/application"
SELECTOR = "app.kubernetes.io/managed-by=hrl-autoscaler," + APP_LABEL


def configmap_name(app_name: str) -> str:
    """A valid ConfigMap name for the application (hashed when it would be too long)."""
    name = NAME_PREFIX + app_name
    if len(name) <= 253:
        return name
    digest = hashlib.sha256(app_name.encode()).hexdigest()[:10]
    return name[:242] + "-" + digest


def _label_value(app_name: str) -> str:
    """Label values are at most 63 characters."""
    if len(app_name) <= 63:
        return app_name
    return app_name[:52] + "-" + hashlib.sha256(app_name.encode()).hexdigest()[:10]


def configmap_body(app: AppSnapshot, state: AppState) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(app.key.name),
            "namespace": app.key.namespace,
            "labels": {**MANAGED_BY, APP_LABEL: _label_value(app.key.name)},
            "annotations": {"hrl-autoscaler.io/application-name": app.key.name},
            "ownerReferences": [
                {"apiVersion": API_VERSION, "kind": KIND, "name": app.key.name, "uid": app.uid}
            ],
        },
        "data": {STATE_KEY: state.to_json()},
    }


class ConfigMapStateStore:
    """Implements :class:`hrl_autoscaler.runtime.core.ports.StateStore`."""

    def __init__(
        self, api: k8s_client.ApiClient, namespaces: Sequence[str] = (), timeout_s: float = 10.0
    ) -> None:
        self.core = k8s_client.CoreV1Api(api)
        self.namespaces = tuple(namespaces)
        self.timeout_s = timeout_s

    def _list(self) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "label_selector": SELECTOR,
            "_preload_content": False,
            "_request_timeout": self.timeout_s,
        }
        if not self.namespaces:
            return list(read_json(self.core.list_config_map_for_all_namespaces(**kwargs))["items"])
        items: list[dict[str, Any]] = []
        for namespace in self.namespaces:
            items += read_json(self.core.list_namespaced_config_map(namespace, **kwargs))["items"]
        return items

    def load_all(self) -> dict[AppKey, AppState]:
        try:
            items = self._list()
        except ApiException as exc:
            raise StateStoreError(f"listing state ConfigMaps failed: {api_error(exc)}") from None
        except Exception as exc:
            raise StateStoreError(f"listing state ConfigMaps failed: {exc}") from None
        states: dict[AppKey, AppState] = {}
        for item in items:
            meta = item.get("metadata") or {}
            name = (meta.get("annotations") or {}).get("hrl-autoscaler.io/application-name")
            key = AppKey(str(meta.get("namespace")), str(name))
            if not name:
                continue
            try:
                states[key] = AppState.from_json((item.get("data") or {}).get(STATE_KEY, ""))
            except ValueError as exc:
                log.warning("%s: stored state ignored (%s); starting afresh", key, exc)
        return states

    def save(self, app: AppSnapshot, state: AppState) -> None:
        body: Any = configmap_body(app, state)
        name = body["metadata"]["name"]
        try:
            self.core.patch_namespaced_config_map(
                name,
                app.key.namespace,
                body,
                _content_type=MERGE_PATCH,
                _preload_content=False,
                _request_timeout=self.timeout_s,
            )
            return
        except ApiException as exc:
            if exc.status != 404:
                raise StateStoreError(f"updating {name}: {api_error(exc)}") from None
        except Exception as exc:
            raise StateStoreError(f"updating {name}: {exc}") from None
        try:
            self.core.create_namespaced_config_map(
                app.key.namespace, body, _preload_content=False, _request_timeout=self.timeout_s
            )
        except ApiException as exc:
            raise StateStoreError(f"creating {name}: {api_error(exc)}") from None
        except Exception as exc:
            raise StateStoreError(f"creating {name}: {exc}") from None
