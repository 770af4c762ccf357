"""The chart's pods pass the Pod Security Standards ``restricted`` level on the real API server.

``helm template`` renders the chart (default values, and with every optional mount: the
Prometheus token and CA from Secrets); the operator Deployment's pod template and the
``helm test`` pod are created as Pods in a namespace labelled
``pod-security.kubernetes.io/enforce=restricted``, where kube-apiserver's PodSecurity admission
must admit them. A privileged variant of the same pod (and others that each break one rule) must
be rejected there, so the test can fail: the admission is really enforcing.

No kubelet is needed: admission happens when the Pod is created; the Pods then stay Pending.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.tools.devenv.binaries import KUBERNETES_VERSION, find_binaries
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

CHART = Path(__file__).resolve().parents[2] / "charts" / "hrl-autoscaler"
MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "operator.yaml"
NAMESPACE = "pss-restricted"
RELEASE = "rel"
ALL_MOUNTS = (
    "--set",
    "prometheus.auth.bearerToken.secretName=prom-token",
    "--set",
    "prometheus.tls.ca.secretName=prom-ca",
    "--set",
    "prometheus.url=https://prometheus.monitoring.svc:9090",
)


def _render(*args: str) -> list[dict[str, Any]]:
    helm = find_binaries(require_helm=True, require_prometheus=False).helm
    result = subprocess.run(
        [
            str(helm),
            "template",
            RELEASE,
            str(CHART),
            "-n",
            NAMESPACE,
            "--kube-version",
            KUBERNETES_VERSION,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name -> Pod body: the Deployment's pod template and every Pod the chart renders."""
    pods: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if doc["kind"] == "Deployment":
            template = copy.deepcopy(doc["spec"]["template"])
            name = doc["metadata"]["name"] + "-operator"
            pods[name] = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": template["metadata"].get("labels", {})},
                "spec": template["spec"],
            }
        elif doc["kind"] == "Pod":
            pod = copy.deepcopy(doc)
            pod["metadata"] = {"name": pod["metadata"]["name"]}
            pods[pod["metadata"]["name"]] = pod
    return pods


@pytest.fixture(scope="module")
def core(devenv: DevEnvHandle) -> Iterator[k8s_client.CoreV1Api]:
    api = k8s_client.CoreV1Api(devenv.api_client)
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    api.create_namespace({"metadata": {"name": NAMESPACE, "labels": labels}})
    try:
        yield api
    finally:
        api.delete_namespace(NAMESPACE)


def _create(core: k8s_client.CoreV1Api, pod: dict[str, Any]) -> str | None:
    """None when admitted (the pod is deleted again), else the API server's refusal."""
    # no controller-manager creates service accounts here, and the ServiceAccount admission
    # wants the pod's account to exist
    account = pod["spec"].get("serviceAccountName") or "default"
    try:
        core.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": account}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    try:
        core.create_namespaced_pod(NAMESPACE, pod)
    except ApiException as exc:
        return f"{exc.status}: {exc.body}"
    core.delete_namespaced_pod(pod["metadata"]["name"], NAMESPACE, grace_period_seconds=0)
    return None


@pytest.mark.parametrize("values", [(), ALL_MOUNTS], ids=["defaults", "all-mounts"])
def test_the_charts_pods_are_admitted_under_restricted(
    core: k8s_client.CoreV1Api, values: tuple[str, ...]
) -> None:
    pods = _pods(_render(*values))
    assert any(name.endswith("-operator") for name in pods), sorted(pods)
    assert any("test-connection" in name for name in pods), sorted(pods)  # helm test pod
    for name, pod in pods.items():
        assert _create(core, pod) is None, name
    # and each operator container holds every restricted rule by itself, not by luck of defaults
    for pod in pods.values():
        for container in pod["spec"]["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            assert context["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_plain_manifests_pod_is_admitted_under_restricted(
    core: k8s_client.CoreV1Api,
) -> None:
    """``manifests/operator.yaml`` (the install without Helm) holds the same rules."""
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    pods = _pods(docs)
    assert len(pods) == 1, sorted(pods)
    for name, pod in pods.items():
        assert _create(core, pod) is None, name


def _privileged(pod: dict[str, Any]) -> None:
    """A privileged container (which the API's validation also wants escalating)."""
    context = pod["spec"]["containers"][0]["securityContext"]
    context["privileged"] = True
    context["allowPrivilegeEscalation"] = True


def _escalating(pod: dict[str, Any]) -> None:
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True


def _root(pod: dict[str, Any]) -> None:
    pod["spec"]["securityContext"]["runAsNonRoot"] = False
    pod["spec"]["containers"][0]["securityContext"].pop("runAsNonRoot", None)


def _capability(pod: dict[str, Any]) -> None:
    pod["spec"]["containers"][0]["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}


def _unconfined(pod: dict[str, Any]) -> None:
    for context in (
        pod["spec"]["securityContext"],
        pod["spec"]["containers"][0]["securityContext"],
    ):
        context["seccompProfile"] = {"type": "Unconfined"}


def _host_path(pod: dict[str, Any]) -> None:
    pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (_privileged, "privileged"),
        (_escalating, "allowPrivilegeEscalation != false"),
        (_root, "runAsNonRoot != true"),
        (_capability, "unrestricted capabilities"),
        (_unconfined, "seccompProfile"),
        (_host_path, "restricted volume types"),
    ],
    ids=["privileged", "privilege-escalation", "root", "capability", "unconfined", "hostpath"],
)
def test_a_variant_breaking_a_rule_is_rejected(
    core: k8s_client.CoreV1Api, change: Callable[[dict[str, Any]], None], rule: str
) -> None:
    """The negative control: the admission enforces, so the positive test can fail."""
    [pod] = [p for n, p in _pods(_render()).items() if n.endswith("-operator")]
    change(pod)
    pod["metadata"]["name"] += "-bad"
    refusal = _create(core, pod)
    assert refusal is not None, f"a pod with {rule} was admitted"
    assert refusal.startswith("403"), refusal
    assert "violates PodSecurity" in refusal, refusal
    assert rule in refusal, refusal
