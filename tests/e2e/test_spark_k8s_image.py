"""Real Spark on the real node: ``spark-submit --deploy-mode cluster`` with our Spark image.

The Spark image (the Dockerfile's ``spark-job`` target on the Debian base, built by buildah, no
registry) is imported into the node's containerd; the venv's own ``spark-submit`` (the pyspark
wheel, with Spark's Kubernetes backend and the fabric8 client) submits a tiny PySpark batch job
to the API server as users do, authenticated by the cluster's CA and a token of a submitter
service account (``tools/spark/k8s_auth.py``). The driver pod (service account ``spark``, bound
to a Role for what the driver creates) starts two executor pods; everything runs in kubelet's
containers with ``imagePullPolicy: Never``. The test asserts the driver Succeeded, both
executors ran (the job reports which hosts ran partitions) and the sum is right, and prints how
long each phase took. A second job streams from Spark's ``rate``
source and scales itself in place (2 -> 3 -> 2 executors) with the in-place agent's bridge:
the executor pods follow ``requestTotalExecutors`` on the node while the query runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hrl_autoscaler.tools.devenv.images import ensure_spark_image, import_image
from hrl_autoscaler.tools.devenv.node.handle import NodeHandle
from hrl_autoscaler.tools.devenv.sparkop.manifests import driver_rbac
from hrl_autoscaler.tools.spark.k8s_auth import SparkClientAuth, mint_auth

pytestmark = [pytest.mark.node, pytest.mark.spark_k8s]

NAMESPACE = "spark-image"
N, PARTITIONS = 1_000_000, 8
EXECUTORS = 2
SCALE_TO = 3


def _progress(message: str) -> None:
    print(message, flush=True)


def spark_submit_command(
    image: str, auth: SparkClientAuth, name: str, job: str, *args: str
) -> list[str]:
    """The submission: cluster mode, our image never pulled, small requests (2 CPUs here)."""
    confs = {
        "spark.kubernetes.container.image": image,
        "spark.kubernetes.container.image.pullPolicy": "Never",
        "spark.kubernetes.namespace": NAMESPACE,
        "spark.kubernetes.authenticate.driver.serviceAccountName": "spark",
        "spark.kubernetes.driver.pod.name": f"{name}-driver",
        "spark.executor.instances": str(EXECUTORS),
        "spark.kubernetes.driver.request.cores": "100m",
        "spark.kubernetes.executor.request.cores": "100m",
        "spark.driver.memory": "512m",
        "spark.executor.memory": "512m",
        # Waits for the driver to end and reports its state (the default, said for the reader).
        "spark.kubernetes.submission.waitAppCompletion": "true",
        "spark.kubernetes.report.interval": "2s",
        **auth.submission_confs(),
    }
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "spark-submit"), "--master", f"k8s://{auth.server}"]
    command += ["--deploy-mode", "cluster", "--name", name]
    for key, value in confs.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, f"local:///opt/hrl-autoscaler/{job}", *args]


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
        running = 0
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
                if phase == "Running" and pod["metadata"].get("deletionTimestamp") is None:
                    self.executors_running.add(name)
                    running += 1
        if running:
            self.mark(f"{running} executors Running")


@dataclass(frozen=True)
class SparkNamespace:
    """The image on the node and a namespace where Spark may run, with the submitter's auth."""

    image: str
    auth: SparkClientAuth


@dataclass
class Run:
    """One submission's outcome."""

    returncode: int
    submit_log: str
    driver_log: str
    driver_phase: str
    timeline: Timeline

    def context(self) -> str:
        return f"spark-submit:\n{self.submit_log[-4000:]}\ndriver log:\n{self.driver_log[-6000:]}"


def _pods(node_env: NodeHandle, prefix: str) -> list[dict[str, Any]]:
    """The namespace's pods of one application: Spark names them ``<app name>-driver`` (set
    here) and ``<app name>-<id>-exec-<n>``."""
    result = node_env.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json", check=False)
    if result.returncode != 0:
        return []
    items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return [pod for pod in items if pod["metadata"]["name"].startswith(f"{prefix}-")]


@pytest.fixture(scope="module")
def spark_ns(
    node_env: NodeHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SparkNamespace]:
    started = time.monotonic()
    built = ensure_spark_image(_progress)
    size = built.size_bytes / 1e6
    _progress(f"[spark] image {built.ref}: {size:.0f} MB (cached={built.cached})")
    phase = time.monotonic()
    image = import_image(built.archive, node_env.containerd_address)
    _progress(f"[spark] imported {image} in {time.monotonic() - phase:.1f} s")
    node_env.kubectl("apply", "-f", "-", input=driver_rbac(NAMESPACE, "spark", []))
    auth = mint_auth(node_env.api_client, node_env.kubeconfig, tmp_path_factory.mktemp("auth"))
    _progress(f"[spark] image and namespace ready in {time.monotonic() - started:.0f} s")
    yield SparkNamespace(image, auth)
    node_env.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def submit(
    node_env: NodeHandle, spark: SparkNamespace, tmp_path: Path, name: str, job: str, *args: str
) -> Run:
    """Run spark-submit to the end, watching the pods; print the phases."""
    command = spark_submit_command(spark.image, spark.auth, name, job, *args)
    # Only the confs authenticate the client: no KUBECONFIG, and a HOME without ~/.kube.
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    log = tmp_path / "spark-submit.log"
    timeline = Timeline()
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 900
            while process.poll() is None and time.monotonic() < deadline:
                timeline.observe(_pods(node_env, name))
                time.sleep(0.5)
            timeline.observe(_pods(node_env, name))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    timeline.mark("spark-submit returned")
    driver = f"{name}-driver"
    driver_log = node_env.kubectl("logs", "-n", NAMESPACE, driver, check=False).stdout
    phase = node_env.kubectl(
        "get", "pod", "-n", NAMESPACE, driver, "-o", "jsonpath={.status.phase}", check=False
    ).stdout
    phases = "\n".join(f"{mark}: {seconds} s" for mark, seconds in timeline.marks.items())
    _progress(f"[spark] {name} phases (since submit):\n{textwrap.indent(phases, '  ')}")
    for line in driver_log.splitlines():
        if line.startswith(("SUM ", "HOSTS ", "KAFKA ", "SCALED ", "STREAM ")):
            _progress(f"[spark] {name} driver: {line}")
    return Run(process.returncode, log.read_text(), driver_log, phase, timeline)


@pytest.mark.timeout(1200)
def test_spark_submit_cluster_mode_runs_driver_and_executors_on_the_node(
    node_env: NodeHandle, spark_ns: SparkNamespace, tmp_path: Path
) -> None:
    run = submit(node_env, spark_ns, tmp_path, "hrl-sum-job", "sum_job.py", str(N), str(PARTITIONS))
    assert run.returncode == 0, run.context()
    assert run.driver_phase == "Succeeded", run.context()
    assert len(run.timeline.executors_seen) == EXECUTORS, (
        run.timeline.executors_seen,
        run.context(),
    )
    assert len(run.timeline.executors_running) == EXECUTORS, run.context()
    expected = N * (N + 1) // 2
    assert f"SUM n={N} partitions={PARTITIONS} sum={expected} expected={expected}" in run.driver_log
    [hosts] = [line.split()[1:] for line in run.driver_log.splitlines() if line.startswith("HOSTS")]
    assert len(hosts) == EXECUTORS, f"partitions ran on {hosts}, not on {EXECUTORS} executors"
    assert "hrl-sum-job-driver" not in hosts
    assert "KAFKA yes" in run.driver_log, "the Kafka connector's jars are not on the classpath"


@pytest.mark.timeout(1200)
def test_a_streaming_job_scales_in_place_on_the_node(
    node_env: NodeHandle, spark_ns: SparkNamespace, tmp_path: Path
) -> None:
    run = submit(node_env, spark_ns, tmp_path, "hrl-rate-job", "rate_job.py", "50", str(SCALE_TO))
    assert run.returncode == 0, run.context()
    assert run.driver_phase == "Succeeded", run.context()
    scaled = [line for line in run.driver_log.splitlines() if line.startswith("SCALED ")]
    assert [line.split()[1:3] for line in scaled] == [
        [f"from={EXECUTORS}", f"to={SCALE_TO}"],
        [f"from={SCALE_TO}", f"to={EXECUTORS}"],
    ], run.context()
    assert all("seconds=None" not in line for line in scaled), run.context()
    # the third executor was a new pod on the node, started by Spark's Kubernetes allocator
    assert len(run.timeline.executors_seen) == SCALE_TO, run.timeline.executors_seen
    assert f"{SCALE_TO} executors Running" in run.timeline.marks, run.timeline.marks
    [stream] = [line for line in run.driver_log.splitlines() if line.startswith("STREAM ")]
    batches = int(stream.split()[1].removeprefix("batches="))
    assert batches >= 5, stream
