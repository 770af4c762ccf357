"""The operator's Helm chart installed on the local node, as users install it.

``helm install`` of ``charts/hrl-autoscaler`` with our image imported into the node's containerd
(``imagePullPolicy: Never``: nothing can be pulled here), into a namespace that enforces the Pod
Security Standards' restricted level, and a wait for the operator pod to be Ready. Shared by
the chart tests and the Spark-on-Kubernetes tests, which need the operator as a pod too.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client

from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.images import ensure_operator_image, import_image
from hrl_autoscaler.tools.devenv.images.settings import REPO
from hrl_autoscaler.tools.devenv.node.handle import NodeHandle
from hrl_autoscaler.tools.devenv.sparkapps import wait_for

CHART = REPO / "charts" / "hrl-autoscaler"
RELEASE = "hrl"
OPERATOR_NS = "hrl-system"


@dataclass
class Helm:
    """helm and kubectl as devenv builds them, pointed at the node's cluster."""

    helm_bin: Path
    kubectl_bin: Path
    env: dict[str, str]

    def run(self, binary: Path, *args: str, check: bool, timeout: float) -> Any:
        result = subprocess.run(
            [str(binary), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{binary.name} {' '.join(args)}:\n{result.stderr}")
        return result

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> Any:
        return self.run(self.helm_bin, *args, check=check, timeout=timeout)

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> Any:
        return self.run(self.kubectl_bin, *args, check=check, timeout=timeout)

    def exec(self, pod: str, namespace: str, *command: str) -> Any:
        return self.kubectl("exec", "-n", namespace, pod, "--", *command, check=False)


@dataclass
class Install:
    """The chart installed on the node: the tools, the image and the operator pod."""

    tools: Helm
    api: k8s_client.ApiClient
    image: str
    pod: str
    ready_s: float
    kubeconfig: Path
    release: str = RELEASE
    namespace: str = OPERATOR_NS

    def uninstall(self) -> None:
        self.tools.helm("uninstall", self.release, "-n", self.namespace, "--wait", check=False)
        self.tools.kubectl(
            "delete", "namespace", self.namespace, "--wait=true", check=False, timeout=120
        )

    def logs(self) -> str:
        return str(self.tools.kubectl("logs", "-n", self.namespace, self.pod, check=False).stdout)


def operator_pod(
    core: k8s_client.CoreV1Api, release: str = RELEASE, namespace: str = OPERATOR_NS
) -> k8s_client.V1Pod | None:
    pods = core.list_namespaced_pod(
        namespace,
        label_selector=f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator",
    ).items
    return pods[0] if len(pods) == 1 else None


def ready(pod: k8s_client.V1Pod | None) -> bool:
    if pod is None or not pod.status or not pod.status.conditions:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def install_operator(
    node: NodeHandle,
    values: Mapping[str, Any],
    work: Path,
    progress: Any = print,
    *,
    release: str = RELEASE,
    namespace: str = OPERATOR_NS,
) -> Install:
    """Build (or reuse) and import the operator image, ``helm install`` the chart with
    ``values`` (the image is filled in) and wait for the operator pod to be Ready."""
    built = ensure_operator_image(progress)
    image = import_image(built.archive, node.containerd_address)
    binaries = ensure_binaries(progress, require_prometheus=False)
    tools = Helm(
        binaries.helm,
        binaries.kubectl,
        {
            "HOME": str(work / "helm-home"),
            "KUBECONFIG": str(node.kubeconfig),
            "PATH": "/usr/bin:/bin",
        },
    )
    core = k8s_client.CoreV1Api(node.api_client)
    # The operator's namespace enforces the Pod Security Standards' restricted level: the API
    # server refuses the chart's pods (operator and helm test) unless they comply.
    restricted = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn")}
    core.create_namespace(
        k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name=namespace, labels=restricted))
    )
    repository, _, tag = image.rpartition(":")
    merged = {
        **values,
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
    }
    values_file = work / f"{release}-values.yaml"
    values_file.write_text(yaml.safe_dump(merged))
    started = time.monotonic()
    tools.helm("install", release, str(CHART), "-n", namespace, "-f", str(values_file))
    pod = wait_for(
        "the operator pod Ready",
        lambda: p if ready(p := operator_pod(core, release, namespace)) else None,
        180,
    )
    return Install(
        tools=tools,
        api=node.api_client,
        image=image,
        pod=str(pod.metadata.name if pod.metadata else ""),
        ready_s=time.monotonic() - started,
        kubeconfig=node.kubeconfig,
        release=release,
        namespace=namespace,
    )


__all__ = ["CHART", "OPERATOR_NS", "RELEASE", "Helm", "Install", "install_operator", "operator_pod"]
