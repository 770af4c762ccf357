"""Make a loopback-only host service (Prometheus) reachable from pods, by a Service name.

Prometheus listens on 127.0.0.1, which a pod cannot reach (its 127.0.0.1 is its own). A
``socat`` forwarder listens on the node's host address at the same port (a different address,
so no clash) and a selectorless Service with an EndpointSlice at that address gives pods a
stable name: ``http://prometheus.monitoring.svc:9090`` for the operator's chart.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client

from hrl_autoscaler.tools.devenv.node.cluster_objects import create
from hrl_autoscaler.tools.devenv.node.hostdeps import NodePreflightError


def forwarder_argv(host_ip: str, port: int) -> list[str]:
    """socat from ``host_ip:port`` to ``127.0.0.1:port``, one child per connection."""
    socat = shutil.which("socat")
    if socat is None:
        raise NodePreflightError("`socat` is missing: apt-get install -y socat (make node-deps)")
    return [
        socat,
        f"TCP-LISTEN:{port},bind={host_ip},fork,reuseaddr",
        f"TCP:127.0.0.1:{port}",
    ]


def service_objects(
    name: str, namespace: str, service_port: int, host_ip: str, port: int
) -> list[dict[str, Any]]:
    """Namespace, selectorless Service and its EndpointSlice at the host address."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"name": "http", "port": service_port, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-host",
                "namespace": namespace,
                "labels": {"kubernetes.io/service-name": name},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [host_ip], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        },
    ]


def apply(api: k8s_client.ApiClient, objects: list[dict[str, Any]]) -> None:
    core = k8s_client.CoreV1Api(api)
    discovery = k8s_client.DiscoveryV1Api(api)
    for obj in objects:
        namespace = obj["metadata"].get("namespace", "")
        if obj["kind"] == "Namespace":
            create(core.create_namespace, obj)
        elif obj["kind"] == "Service":
            create(core.create_namespaced_service, namespace, obj)
        else:
            create(discovery.create_namespaced_endpoint_slice, namespace, obj)


def url(name: str, namespace: str, service_port: int) -> str:
    return f"http://{name}.{namespace}.svc:{service_port}"


def log_path(logs: Path, name: str) -> Path:
    return logs / f"{name}-bridge.log"
