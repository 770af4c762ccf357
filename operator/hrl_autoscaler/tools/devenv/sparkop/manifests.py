"""The objects a real Spark application on the local node needs: its driver's RBAC and its
SparkApplication, handed to the submission role. Shared by the Spark-on-Kubernetes tests
(and anything that runs the IoT job on the node), the same shape as manifests/examples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hrl_autoscaler.runtime.core.annotations import ENABLED_LABEL, PREFIX
from hrl_autoscaler.runtime.core.application import GROUP, VERSION
from hrl_autoscaler.tools.devenv.sparkop.controller import MODE_ANNOTATION, SUBMIT_MODE

IOT_JOB = "local:///opt/hrl-autoscaler/iot_job.py"
#: Structured Streaming metrics under the names the operator's PromQL matches
#: (``metrics_spark_driver_spark_streaming_iot_*``), and the operator owning the executor count.
METRICS_CONF = {
    "spark.sql.streaming.metricsEnabled": "true",
    "spark.metrics.namespace": "spark",
    "spark.metrics.conf.*.sink.prometheusServlet.class": (
        "org.apache.spark.metrics.sink.PrometheusServlet"
    ),
    "spark.metrics.conf.*.sink.prometheusServlet.path": "/metrics/prometheus",
    "spark.ui.prometheus.enabled": "true",
    "spark.dynamicAllocation.enabled": "false",
}


def driver_rbac(namespace: str, service_account: str, applications: Sequence[str]) -> str:
    """Namespace, service account, Role and RoleBinding (YAML) for Spark drivers: their
    executor pods and what Spark creates beside them, plus ``get`` on their own
    SparkApplications (the in-place agent reads the target annotation)."""
    agent_rule = (
        f"""- apiGroups: [sparkoperator.k8s.io]
  resources: [sparkapplications]
  resourceNames: [{", ".join(applications)}]
  verbs: [get]
"""
        if applications
        else ""  # an empty resourceNames would grant every application
    )
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {namespace}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {service_account}, namespace: {namespace}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {service_account}, namespace: {namespace}}}
rules:
- apiGroups: [""]
  resources: [pods, services, configmaps, persistentvolumeclaims]
  verbs: [get, list, watch, create, update, patch, delete, deletecollection]
{agent_rule}---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {service_account}, namespace: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {service_account}}}
subjects:
- {{kind: ServiceAccount, name: {service_account}, namespace: {namespace}}}
"""


def iot_application(
    name: str,
    namespace: str,
    image: str,
    arguments: Sequence[str],
    *,
    service_account: str,
    executors: int = 1,
    host_dirs: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
    enabled: bool = False,
) -> dict[str, Any]:
    """The IoT job as a SparkApplication the submission role runs with ``spark-submit``.

    ``host_dirs``: mount path -> host directory (``hostPath``: one node, so the host, the
    driver and the executors share it). ``settings``: ``hrl-autoscaler.io/`` annotations
    without the prefix; ``enabled`` labels it for the operator.
    """
    mounts = sorted((host_dirs or {}).items())
    volumes = [
        {"name": f"host-{i}", "hostPath": {"path": path, "type": "Directory"}}
        for i, (_, path) in enumerate(mounts)
    ]
    pod: dict[str, Any] = {
        "cores": 1,
        "coreRequest": "100m",  # the node has two cores; the JVMs share them as they can
        "memory": "512m",
        "volumeMounts": [
            {"name": f"host-{i}", "mountPath": mount} for i, (mount, _) in enumerate(mounts)
        ],
    }
    annotations = {MODE_ANNOTATION: SUBMIT_MODE}
    annotations.update({PREFIX + k: v for k, v in (settings or {}).items()})
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SparkApplication",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {ENABLED_LABEL: "true" if enabled else "false"},
            "annotations": annotations,
        },
        "spec": {
            "type": "Python",
            "mode": "cluster",
            "sparkVersion": "4.1.1",
            "image": image,
            "imagePullPolicy": "Never",
            "mainApplicationFile": IOT_JOB,
            "arguments": list(arguments),
            "sparkConf": dict(METRICS_CONF),
            "volumes": volumes,
            "driver": {**pod, "serviceAccount": service_account},
            "executor": {**pod, "instances": executors},
        },
    }


__all__ = ["IOT_JOB", "METRICS_CONF", "driver_rbac", "iot_application"]
