"""The Kubernetes API client: configuration, and raw JSON calls.

Responses are read as plain JSON (``_preload_content=False``) instead of the client's models:
model deserialisation is slow for 200 applications a cycle and adds nothing to dicts the
decision loop reads as dicts anyway.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

MERGE_PATCH = "application/merge-patch+json"


def api_client(kubeconfig: Path | None = None) -> k8s_client.ApiClient:
    """A client for ``kubeconfig``; else in-cluster credentials; else ``$KUBECONFIG``."""
    if kubeconfig is not None:
        if not kubeconfig.is_file():
            raise FileNotFoundError(f"kubeconfig {kubeconfig} does not exist")
        client: k8s_client.ApiClient = k8s_config.new_client_from_config(
            config_file=str(kubeconfig)
        )
        return client
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = k8s_client.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)
        return k8s_client.ApiClient(configuration)
    default: k8s_client.ApiClient = k8s_config.new_client_from_config()
    return default


def read_json(response: Any) -> dict[str, Any]:
    """The JSON body of a ``_preload_content=False`` response."""
    data: dict[str, Any] = json.loads(response.data)
    return data


def api_error(exc: ApiException) -> str:
    """A one-line description of an API error (status, reason, the server's message)."""
    message = ""
    if exc.body:
        try:
            message = json.loads(exc.body).get("message", "")
        except (ValueError, AttributeError):
            message = str(exc.body)[:200]
    return f"{exc.status} {exc.reason}" + (f": {message}" if message else "")


def close_client(api: k8s_client.ApiClient) -> None:
    """Close the client's connection pool (and its thread pool, if one was started)."""
    api.close()
