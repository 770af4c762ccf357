"""Real Spark on Kubernetes (issue 14): executor pods scaled in place, and the restart.

Everything here is what a user's cluster would run, on the local node: our Spark image (built
from the Dockerfile's ``spark-job`` target on the Debian base, imported into the node's
containerd), submitted by the local Spark Operator role with ``spark-submit --master k8s://...
--deploy-mode cluster`` from the SparkApplication's spec (``tools/devenv/sparkop``), the driver
running as a service account whose Role lets it create its executor pods and read its own
SparkApplication. The in-place agent inside the driver reads ``hrl-autoscaler.io/target-
executors`` with that service account and asks Spark's Kubernetes backend for the executors:
pods appear and go while the application id and the driver pod stay. The IoT job reads event
files that a writer on the host puts in a ``hostPath`` volume (one node: every pod sees it).

The test writes the target annotation itself, as the operator would: what is measured is the
actuation, from the annotation to executor pods Running and registered with the driver.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client

from hrl_autoscaler.runtime.core.annotations import TARGET_ANNOTATION
from hrl_autoscaler.runtime.core.application import GROUP, PLURAL, VERSION
from hrl_autoscaler.tools.devenv.components import Emulator
from hrl_autoscaler.tools.devenv.images import ensure_spark_image
from hrl_autoscaler.tools.devenv.node.handle import NodeHandle
from hrl_autoscaler.tools.devenv.sparkapps import wait_for
from hrl_autoscaler.tools.devenv.sparkop.manifests import driver_rbac, iot_application
from hrl_autoscaler.tools.devenv.sparkop.pods import ApplicationPods
from hrl_autoscaler.tools.spark.testing import EventFileWriter, ScalingTiming, time_scaling

pytestmark = [pytest.mark.node, pytest.mark.spark_k8s, pytest.mark.timeout(1500)]

NAMESPACE = "spark-k8s"
NAME = "iot-k8s"
SERVICE_ACCOUNT = "hrl-spark-driver"
RATE_EPS = 50.0
#: Changes each way (up, down) timed through the agent: the issue asks for median and max.
CHANGES = ((2, 1), (3, 1), (2, 1), (3, 2), (3, 1))
UP_TARGET_S = 60.0
DOWN_TARGET_S = 30.0
#: A pod start on this 2-core machine with a JVM in it: well under a minute, twice that allowed.
SCALE_TIMEOUT_S = 150.0


def _progress(message: str) -> None:
    print(message, flush=True)


def _application(image: str, data: Path) -> dict[str, Any]:
    # The checkpoint (the streaming state the executors write) must be shared: an executor
    # added later reads state another one wrote, as on a cluster's shared storage.
    arguments = [
        "--input-dir=/data/events",
        "--checkpoint-dir=/data/checkpoint",
        f"--app-name={NAME}",
        "--trigger-s=2",
        "--work-factor=200",
        "--agent=annotation",
        "--agent-poll-interval-s=1",
        "--min-executors=1",
        "--max-executors=3",
    ]
    return iot_application(
        NAME,
        NAMESPACE,
        image,
        arguments,
        service_account=SERVICE_ACCOUNT,
        host_dirs={"/data": str(data)},
    )


@dataclass
class Running:
    objects: k8s_client.CustomObjectsApi
    core: k8s_client.CoreV1Api
    emulator: Emulator
    writer: EventFileWriter
    timings: list[ScalingTiming] = field(default_factory=list)

    @property
    def pods(self) -> ApplicationPods:
        return ApplicationPods(self.core, NAMESPACE, NAME)

    def app(self) -> dict[str, Any]:
        return dict(
            self.objects.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
        )

    def state(self) -> tuple[str, str | None]:
        status = self.app().get("status") or {}
        return (status.get("applicationState") or {}).get("state", ""), status.get(
            "sparkApplicationId"
        )

    def driver(self) -> k8s_client.V1Pod | None:
        return self.pods.driver()

    def executors_running(self, app_id: str) -> int:
        return self.pods.running_executors(app_id)

    def set_target(self, target: int) -> None:
        body = {"metadata": {"annotations": {TARGET_ANNOTATION: str(target)}}}
        self.objects.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME, body)

    def wait_running(self, *, not_id: str | None = None, timeout_s: float = 300.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state, app_id = self.state()
            if state == "RUNNING" and app_id and app_id != not_id:
                return app_id
            if state in ("FAILED", "SUBMISSION_FAILED"):
                break
            time.sleep(1.0)
        raise AssertionError(f"{NAME} not RUNNING: {self.app().get('status')}\n{self.logs()}")

    def ui_url(self) -> str:
        driver = self.driver()
        assert driver is not None, "no driver pod"
        assert driver.status.pod_ip, "the driver pod has no IP yet"
        return f"http://{driver.status.pod_ip}:4040"

    def logs(self) -> str:
        return (
            f"--- driver log:\n{self.pods.driver_log()}\n"
            f"--- emulator log:\n{self.emulator.process.log_tail()}"
        )


@pytest.fixture(scope="module")
def running(node_env: NodeHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    started = time.monotonic()
    image = ensure_spark_image(_progress)
    node_env.import_image(image.archive)
    _progress(f"[spark-k8s] image {image.ref} ready in {time.monotonic() - started:.0f} s")
    node_env.kubectl("apply", "-f", "-", input=driver_rbac(NAMESPACE, SERVICE_ACCOUNT, [NAME]))
    work = tmp_path_factory.mktemp("spark-k8s")
    data = work / "data"
    (data / "events").mkdir(parents=True)
    for path in (data, data / "events"):
        path.chmod(0o777)  # the driver and executors run as uid 185
    writer = EventFileWriter(data / "events", rate_eps=RATE_EPS).start()
    emulator = Emulator(node_env.kubeconfig, work / "emulator", 1.0, 1.0, spark_submit=True)
    objects = k8s_client.CustomObjectsApi(node_env.api_client)
    stack = Running(objects, k8s_client.CoreV1Api(node_env.api_client), emulator, writer)
    try:
        objects.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, _application(image.ref, data)
        )
        yield stack
    finally:
        try:
            objects.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
            deadline = time.monotonic() + 60
            while stack.driver() is not None and time.monotonic() < deadline:
                time.sleep(1.0)
        finally:
            emulator.stop()
            writer.stop()
            node_env.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_submitted_application_runs_with_its_executor_pods(running: Running) -> None:
    started = time.monotonic()
    app_id = running.wait_running()
    deadline = time.monotonic() + 180
    while running.executors_running(app_id) < 1 and time.monotonic() < deadline:
        time.sleep(1.0)
    _progress(
        f"[spark-k8s] {app_id} RUNNING with its executor in {time.monotonic() - started:.0f} s"
    )
    assert running.executors_running(app_id) == 1, running.logs()
    status = wait_for(
        "the executor RUNNING in the status",
        lambda: (
            s
            if list((s := running.app()["status"]).get("executorState", {}).values()) == ["RUNNING"]
            else None
        ),
        30,
    )
    assert status["driverInfo"]["podName"] == f"{NAME}-driver"


def test_in_place_changes_add_and_remove_executor_pods(running: Running) -> None:
    app_id = running.wait_running()
    driver = running.driver()
    assert driver is not None
    driver_uid = driver.metadata.uid
    ui_url = running.ui_url()
    for up, down in CHANGES:
        for target in (up, down):
            timing = time_scaling(
                lambda: running.executors_running(app_id),
                app_id,
                ui_url,
                running.set_target,
                target,
                timeout_s=SCALE_TIMEOUT_S,
            )
            running.timings.append(timing)
            _progress(
                f"[spark-k8s] in place {timing.before} -> {timing.after}: pods Running "
                f"{timing.launched_s:.1f} s, registered with the driver {timing.driver_s:.1f} s"
            )
    ups = [max(t.launched_s, t.driver_s) for t in running.timings if t.after > t.before]
    downs = [max(t.launched_s, t.driver_s) for t in running.timings if t.after < t.before]
    _progress(
        f"[spark-k8s] up: median {statistics.median(ups):.1f} s, max {max(ups):.1f} s "
        f"(target {UP_TARGET_S:.0f}); down: median {statistics.median(downs):.1f} s, "
        f"max {max(downs):.1f} s (target {DOWN_TARGET_S:.0f})"
    )
    # the same application and the same driver pod throughout: no restart
    assert running.state() == ("RUNNING", app_id)
    driver = running.driver()
    assert driver is not None
    assert driver.metadata.uid == driver_uid
    assert max(ups) <= UP_TARGET_S * 2, running.timings
    assert max(downs) <= DOWN_TARGET_S * 2, running.timings


def test_spec_change_resubmits_with_a_new_application_id(running: Running) -> None:
    """The restart actuation: a changed ``spec.executor.instances`` deletes the driver and
    submits again, as the Spark Operator does."""
    old_id = running.wait_running()
    driver = running.driver()
    assert driver is not None
    old_uid = driver.metadata.uid
    started = time.monotonic()
    # restart actuation owns the count through the spec: no in-place target for the new driver
    body = {
        "metadata": {"annotations": {TARGET_ANNOTATION: None}},
        "spec": {"executor": {"instances": 2}},
    }
    running.objects.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME, body)
    new_id = running.wait_running(not_id=old_id)
    deadline = time.monotonic() + 180
    while running.executors_running(new_id) < 2 and time.monotonic() < deadline:
        time.sleep(1.0)
    _progress(
        f"[spark-k8s] restart {old_id} -> {new_id} with 2 executors in "
        f"{time.monotonic() - started:.0f} s"
    )
    assert running.executors_running(new_id) == 2, running.logs()
    assert running.executors_running(old_id) == 0
    driver = running.driver()
    assert driver is not None
    assert driver.metadata.uid != old_uid
    assert running.app()["status"]["submissionAttempts"] == 2
