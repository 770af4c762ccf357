"""The real local node (issue 18): kubelet, containerd, kube-proxy, CNI and CoreDNS on this
machine, next to the local control plane. Root only (the ``node_env`` fixture skips otherwise).

Pods run the busybox image built from Debian's ``busybox-static`` (no registry); a web
Deployment behind a Service is reached from a client pod by name (CoreDNS) and ClusterIP
(kube-proxy); the client reads the API with its in-cluster service-account token; and the last
test stops the node and lists what the host still has of it (nothing, if the stop is clean).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hrl_autoscaler.tools.devenv.node.config import BUSYBOX_IMAGE
from hrl_autoscaler.tools.devenv.node.handle import NodeHandle
from hrl_autoscaler.tools.devenv.node.images import busybox_spec
from hrl_autoscaler.tools.devenv.node.oci import write_archive

pytestmark = [pytest.mark.node]

NAMESPACE = "node-e2e"
POD_RUNNING_SECONDS = 10.0

WORKLOADS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: httpd
        image: {BUSYBOX_IMAGE}
        imagePullPolicy: Never
        command:
        - sh
        - -c
        - echo hello-from-web > /tmp/index.html && exec httpd -f -p 8080 -h /tmp
        ports: [{{containerPort: 8080}}]
        readinessProbe:
          tcpSocket: {{port: 8080}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NAMESPACE}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def _client_pod(name: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {NAMESPACE}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: {BUSYBOX_IMAGE}
    imagePullPolicy: Never
    command: ["sleep", "3600"]
"""


def _wait(what: str, check: object, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if callable(check) and check():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached after {timeout:.0f}s")


@pytest.fixture(scope="module")
def workloads(node_env: NodeHandle) -> Iterator[NodeHandle]:
    node_env.kubectl("apply", "-f", "-", input=WORKLOADS)
    node_env.kubectl(
        "-n", NAMESPACE, "rollout", "status", "deployment/web", "--timeout=60s", timeout=90
    )
    yield node_env
    node_env.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="module")
def client(workloads: NodeHandle) -> str:
    workloads.kubectl("apply", "-f", "-", input=_client_pod("client"))
    workloads.kubectl(
        "-n", NAMESPACE, "wait", "pod/client", "--for=condition=Ready", "--timeout=60s", timeout=90
    )
    return "client"


def _exec(node: NodeHandle, pod: str, *command: str) -> str:
    return node.kubectl("-n", NAMESPACE, "exec", pod, "--", *command, timeout=60).stdout


def test_node_is_ready(node_env: NodeHandle) -> None:
    node = json.loads(node_env.kubectl("get", "node", node_env.node_name, "-o", "json").stdout)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready, node["status"]
    assert ready[0]["status"] == "True", ready
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.35.4"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_pod_runs_within_budget(workloads: NodeHandle) -> None:
    """A pod from the locally built busybox image is Running <= 10 s after it is created."""
    workloads.kubectl("apply", "-f", "-", input=_client_pod("quick"))

    def running() -> bool:
        phase = workloads.kubectl(
            "-n", NAMESPACE, "get", "pod", "quick", "-o", "jsonpath={.status.phase}"
        ).stdout
        return phase == "Running"

    took = _wait("pod quick Running", running, 60)
    workloads.kubectl("-n", NAMESPACE, "delete", "pod", "quick", "--wait=false")
    assert took <= POD_RUNNING_SECONDS, f"pod Running after {took:.1f}s"


def test_imported_archive_runs_as_a_pod(workloads: NodeHandle, tmp_path: Path) -> None:
    """The path the chart test takes for the project's image: an OCI archive imported into
    the node's containerd (``k8s.io`` namespace) runs as a pod without any registry."""
    reference = "hrl-autoscaler.local/imported:0.1.0"
    write_archive(replace(busybox_spec(), reference=reference), tmp_path / "image.tar")
    workloads.import_image(tmp_path / "image.tar")
    assert reference in workloads.images()
    pod = _client_pod("imported").replace(BUSYBOX_IMAGE, reference)
    workloads.kubectl("apply", "-f", "-", input=pod)
    workloads.kubectl(
        "-n",
        NAMESPACE,
        "wait",
        "pod/imported",
        "--for=condition=Ready",
        "--timeout=60s",
        timeout=90,
    )
    workloads.kubectl("-n", NAMESPACE, "delete", "pod", "imported", "--wait=false")


def test_dns_resolves_a_service(workloads: NodeHandle, client: str) -> None:
    ip = workloads.kubectl(
        "-n", NAMESPACE, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    answer = _exec(workloads, client, "nslookup", f"web.{NAMESPACE}.svc.cluster.local")
    assert ip in answer, answer


def test_pod_reaches_pod_through_service(workloads: NodeHandle, client: str) -> None:
    """By the short name (the pod's DNS search path) to the ClusterIP, DNATed by kube-proxy.
    busybox ``nc`` speaks the HTTP: Debian's static busybox ``wget`` segfaults."""
    request = r'printf "GET / HTTP/1.0\r\n\r\n" | nc -w 5 web 80'
    response = _exec(workloads, client, "sh", "-c", request)
    assert response.startswith("HTTP/1.1 200"), response
    assert response.rstrip().endswith("hello-from-web"), response


def test_pod_reaches_the_host_prometheus(workloads: NodeHandle, client: str) -> None:
    """The loopback-only Prometheus on the host, through its bridge and Service."""
    assert workloads.prometheus_pod_url == "http://prometheus.monitoring.svc:9090"
    request = r'printf "GET /-/ready HTTP/1.0\r\n\r\n" | nc -w 5 prometheus.monitoring.svc 9090'
    response = _exec(workloads, client, "sh", "-c", request)
    assert response.startswith("HTTP/1.0 200") or response.startswith("HTTP/1.1 200"), response


def test_pod_reads_api_with_its_service_account(workloads: NodeHandle, client: str) -> None:
    """The token kubelet projects (signed by the controller manager's key, trusted by the API
    server) authenticates the pod as its service account via ``kubernetes.default.svc``."""
    secrets = "/var/run/secrets/kubernetes.io/serviceaccount"
    ca = _exec(workloads, client, "cat", f"{secrets}/ca.crt")
    assert workloads.env.control_plane is not None
    assert workloads.env.control_plane.certs is not None
    assert ca.strip() == workloads.env.control_plane.certs.ca_cert.read_text().strip()
    # k8s-whoami (in the test image) verifies the server against ca.crt and posts a
    # SelfSubjectReview with the token: first via the env vars kubelet sets, then by DNS name.
    for args in ((), ("kubernetes.default.svc",)):
        answer = json.loads(_exec(workloads, client, "k8s-whoami", *args))
        user = answer["status"]["userInfo"]["username"]
        assert user == f"system:serviceaccount:{NAMESPACE}:default", answer


def test_clean_shutdown_leaves_nothing(node_env: NodeHandle) -> None:
    """Stop the node (the conftest runs this test last) and list what is left, by kind."""
    node_env.stop()
    left = node_env.leftovers()
    assert left.processes == []
    assert left.mounts == []
    assert left.interfaces == []
    assert left.rules == []
    assert left.cgroups == []
    assert not node_env.data_dir.exists()
