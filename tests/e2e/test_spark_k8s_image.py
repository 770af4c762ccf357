"""Real Spark on the real node: ``spark-submit --deploy-mode cluster`` with our Spark image.

The Spark image (the Dockerfile's ``spark-job`` target on the Debian base, built by buildah, no
registry) is imported into the node's containerd; the venv's own ``spark-submit`` (the pyspark
wheel, with Spark's Kubernetes backend and the fabric8 client) submits a tiny PySpark batch job
to the API server as users do, authenticated by the cluster's CA and a service-account token of
its own (``spark-submitter``). The driver pod (service account ``spark``; both bound to a Role
for what the submission and the driver create) starts two executor
pods; everything runs in kubelet's containers with ``imagePullPolicy: Never``. The test asserts
the driver Succeeded, both executors ran (the job reports which hosts ran partitions) and the
sum is right, and prints how long each phase took.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from hrl_autoscaler.tools.devenv.images import ensure_spark_image, import_image
from hrl_autoscaler.tools.devenv.node.handle import NodeHandle

pytestmark = pytest.mark.node

NAMESPACE = "spark-image"
DRIVER_POD = "sum-job-driver"
JOB = "local:///opt/hrl-autoscaler/sum_job.py"
N, PARTITIONS = 1_000_000, 8
EXECUTORS = 2
#: What Spark's driver creates and watches: its executors, their headless service and config maps
#: (and PVCs, when executors ask for them).
SUBMITTER = "spark-submitter"
#: What Spark creates and watches: the submission client the driver pod, its config map and
#: headless service; the driver its executors (and PVCs, when executors ask for them).
SPARK_RBAC = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: spark, namespace: %(ns)s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: %(submitter)s, namespace: %(ns)s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: spark, namespace: %(ns)s}
rules:
- apiGroups: [""]
  resources: [pods, services, configmaps, persistentvolumeclaims]
  verbs: [create, get, list, watch, delete, deletecollection, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: spark, namespace: %(ns)s}
subjects:
- {kind: ServiceAccount, name: spark, namespace: %(ns)s}
- {kind: ServiceAccount, name: %(submitter)s, namespace: %(ns)s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: spark}
"""


def _progress(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class SubmissionAuth:
    """The API server, its CA and a bearer token, as files Spark's submission confs name.

    A token, not the kubeconfig's client certificate: the devenv's keys are EC (P-256), and
    the fabric8 client inside spark-submit reads EC keys only with BouncyCastle, which pyspark
    does not ship ("Invalid DER: object is not integer" from its PKCS#1 reader)."""

    server: str
    ca_cert: Path
    token_file: Path

    def confs(self) -> dict[str, str]:
        prefix = "spark.kubernetes.authenticate.submission"
        return {
            f"{prefix}.caCertFile": str(self.ca_cert),
            f"{prefix}.oauthTokenFile": str(self.token_file),
        }


def submission_auth(node_env: NodeHandle, directory: Path) -> SubmissionAuth:
    """The current context's server and CA from the kubeconfig, and a token for the submitter's
    service account (``kubectl create token``: short-lived, nothing stored in the cluster)."""
    config = yaml.safe_load(node_env.kubeconfig.read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert = directory / "ca.crt"
    ca_cert.write_bytes(base64.b64decode(cluster["cluster"]["certificate-authority-data"]))
    token = node_env.kubectl("create", "token", SUBMITTER, "-n", NAMESPACE, "--duration=1h")
    token_file = directory / "token"
    token_file.write_text(token.stdout.strip())
    token_file.chmod(0o600)
    return SubmissionAuth(str(cluster["cluster"]["server"]), ca_cert, token_file)


def spark_submit_command(image: str, auth: SubmissionAuth) -> list[str]:
    """The submission: cluster mode, our image never pulled, small requests (2 CPUs here)."""
    confs = {
        "spark.kubernetes.container.image": image,
        "spark.kubernetes.container.image.pullPolicy": "Never",
        "spark.kubernetes.namespace": NAMESPACE,
        "spark.kubernetes.authenticate.driver.serviceAccountName": "spark",
        "spark.kubernetes.driver.pod.name": DRIVER_POD,
        "spark.executor.instances": str(EXECUTORS),
        "spark.kubernetes.driver.request.cores": "100m",
        "spark.kubernetes.executor.request.cores": "100m",
        "spark.driver.memory": "512m",
        "spark.executor.memory": "512m",
        # Waits for the driver to end and reports its state (the default, said for the reader).
        "spark.kubernetes.submission.waitAppCompletion": "true",
        "spark.kubernetes.report.interval": "2s",
        **auth.confs(),
    }
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "spark-submit"), "--master", f"k8s://{auth.server}"]
    command += ["--deploy-mode", "cluster", "--name", "hrl-sum-job"]
    for key, value in confs.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, JOB, str(N), str(PARTITIONS)]


@dataclass
class Timeline:
    """When each phase was first seen, in seconds since the submission started."""

    started: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)
    executors_running: set[str] = field(default_factory=set)
    executors_seen: set[str] = field(default_factory=set)

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, round(time.monotonic() - self.started, 1))

    def observe(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            labels = pod["metadata"].get("labels", {})
            phase = pod.get("status", {}).get("phase")
            name = pod["metadata"]["name"]
            if labels.get("spark-role") == "driver":
                self.mark("driver pod created")
                if phase == "Running":
                    self.mark("driver Running")
                if phase in ("Succeeded", "Failed"):
                    self.mark(f"driver {phase}")
            elif labels.get("spark-role") == "executor":
                self.executors_seen.add(name)
                self.mark("first executor pod created")
                if phase == "Running":
                    self.executors_running.add(name)
                    if len(self.executors_running) >= EXECUTORS:
                        self.mark(f"{EXECUTORS} executors Running")


def _pods(node_env: NodeHandle) -> list[dict[str, Any]]:
    result = node_env.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json", check=False)
    if result.returncode != 0:
        return []
    items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return items


@pytest.mark.timeout(1200)
def test_spark_submit_cluster_mode_runs_driver_and_executors_on_the_node(
    node_env: NodeHandle, tmp_path: Path
) -> None:
    wall = time.monotonic()
    built = ensure_spark_image(_progress)
    _progress(f"[spark] image {built.ref}: {built.size_bytes / 1e6:.0f} MB (cached={built.cached})")
    phase = time.monotonic()
    image = import_image(built.archive, node_env.containerd_address)
    _progress(f"[spark] imported {image} in {time.monotonic() - phase:.1f} s")

    node_env.kubectl("create", "namespace", NAMESPACE)
    rbac = SPARK_RBAC % {"ns": NAMESPACE, "submitter": SUBMITTER}
    node_env.kubectl("apply", "-f", "-", input=rbac)
    auth = submission_auth(node_env, tmp_path / "auth")
    command = spark_submit_command(image, auth)
    # Only the confs authenticate the client: no KUBECONFIG, and a HOME without ~/.kube.
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "JAVA_HOME": os.environ.get("JAVA_HOME", ""),
    }
    if not env["JAVA_HOME"]:
        del env["JAVA_HOME"]
    log = tmp_path / "spark-submit.log"
    timeline = Timeline()
    with log.open("w") as out:
        submit = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 900
            while submit.poll() is None and time.monotonic() < deadline:
                timeline.observe(_pods(node_env))
                time.sleep(0.5)
            timeline.observe(_pods(node_env))
        finally:
            if submit.poll() is None:
                submit.kill()
                submit.wait()
    timeline.mark("spark-submit returned")
    submitted = log.read_text()
    driver_log = node_env.kubectl("logs", "-n", NAMESPACE, DRIVER_POD, check=False).stdout
    report = textwrap.indent(
        "\n".join(f"{name}: {seconds} s" for name, seconds in timeline.marks.items()), "  "
    )
    _progress(f"[spark] phases (since submit):\n{report}")
    _progress(f"[spark] wall time with the image and the import: {time.monotonic() - wall:.0f} s")
    for line in driver_log.splitlines():
        if line.startswith(("SUM ", "HOSTS ", "KAFKA ")):
            _progress(f"[spark] driver: {line}")
    context = f"spark-submit:\n{submitted[-4000:]}\ndriver log:\n{driver_log[-6000:]}"
    assert submit.returncode == 0, context
    driver = json.loads(
        node_env.kubectl("get", "pod", "-n", NAMESPACE, DRIVER_POD, "-o", "json").stdout
    )
    assert driver["status"]["phase"] == "Succeeded", context
    assert len(timeline.executors_seen) == EXECUTORS, (timeline.executors_seen, context)
    assert len(timeline.executors_running) == EXECUTORS, (timeline.executors_running, context)
    expected = N * (N + 1) // 2
    assert f"SUM n={N} partitions={PARTITIONS} sum={expected} expected={expected}" in driver_log
    [hosts] = [line.split()[1:] for line in driver_log.splitlines() if line.startswith("HOSTS")]
    assert len(hosts) == EXECUTORS, f"partitions ran on {hosts}, not on {EXECUTORS} executors"
    assert DRIVER_POD not in hosts
    assert "KAFKA yes" in driver_log, "the Kafka connector's jars are not on the classpath"
    node_env.kubectl("delete", "namespace", NAMESPACE, "--wait=false")
