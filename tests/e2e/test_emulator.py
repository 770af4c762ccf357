"""The emulated Spark data plane through the whole chain: API server -> emulator -> Prometheus.

The emulator runs as its own process (as in the demo), at 30x speed so a 90 s restart takes 3 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.tools.devenv.prometheus import query, wait_for_value
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

GROUP, VERSION, PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"
NAMESPACE = "emulator-e2e"
SPEED = 30.0
PATHS = {
    "emu-executors": "/metrics/executors/prometheus",
    "emu-streaming": "/metrics/prometheus",
    "emu-lag": "/metrics",
}


def _app(name: str, instances: int, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SparkApplication",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "type": "Python",
            "sparkVersion": "4.0.0",
            "mainApplicationFile": "local:///opt/hrl/iot_stream.py",
            "driver": {"cores": 1, "memory": "512m"},
            "executor": {"instances": instances, "cores": 1, "memory": "512m"},
        },
    }


def _until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


@pytest.fixture(scope="module")
def emulator(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    core: Any = k8s_client.CoreV1Api(devenv.api_client)
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    port_file = tmp_path_factory.mktemp("emulator") / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hrl_autoscaler.tools.devenv.emulator",
            "--kubeconfig",
            str(devenv.kubeconfig),
            "--speed",
            str(SPEED),
            "--tick",
            "0.2",
            "--port-file",
            str(port_file),
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        port = _until("the emulator to serve", lambda: port_file.exists() and port_file.read_text())
        for job, path in PATHS.items():
            devenv.add_scrape_target(job, [f"127.0.0.1:{port}"], metrics_path=path)
        yield k8s_client.CustomObjectsApi(devenv.api_client)
    finally:
        for job in PATHS:
            devenv.remove_scrape_target(job)
        proc.terminate()
        assert proc.wait(timeout=15) == 0, "the emulator did not stop cleanly on SIGTERM"


def _status(api: Any, name: str) -> dict[str, Any]:
    obj = api.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
    return dict(obj.get("status") or {})


def test_application_is_submitted_then_running_with_an_id(
    devenv: DevEnvHandle, emulator: Any
) -> None:
    emulator.create_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        PLURAL,
        _app("emu-lifecycle", 2, {"emulator.hrl-autoscaler.io/rate": "800"}),
    )
    status = _until(
        "state RUNNING",
        lambda: (
            (s := _status(emulator, "emu-lifecycle")).get("applicationState", {}).get("state")
            == "RUNNING"
            and s
        ),
    )
    assert status["sparkApplicationId"].startswith("spark-")
    assert status["submissionAttempts"] == 1
    rate = wait_for_value(
        devenv.prometheus_url,
        'metrics_spark_driver_spark_streaming_iot_inputRate_total_Value{application_name="emu-lifecycle"}',
        lambda v: v > 0,
    )
    assert rate == pytest.approx(800.0)


def test_spec_change_restarts_and_prometheus_shows_the_new_count(
    devenv: DevEnvHandle, emulator: Any
) -> None:
    name = "emu-restart"
    emulator.create_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        PLURAL,
        _app(name, 2, {"emulator.hrl-autoscaler.io/rate": "1500"}),
    )
    cores = f'sum(metrics_executor_totalCores{{application_name="{name}"}})'
    assert wait_for_value(devenv.prometheus_url, cores, lambda v: v == 2) == 2
    first_id = _status(emulator, name)["sparkApplicationId"]

    emulator.patch_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, name, {"spec": {"executor": {"instances": 5}}}
    )
    seen: set[str] = set()

    def running_again() -> dict[str, Any] | None:
        status = _status(emulator, name)
        state = status.get("applicationState", {}).get("state", "")
        seen.add(state)
        return status if state == "RUNNING" and status["sparkApplicationId"] != first_id else None

    status = _until("the restarted application", running_again)
    assert seen & {"INVALIDATING", "PENDING_RERUN"}, f"no restart state was seen: {seen}"
    assert status["submissionAttempts"] == 2
    assert wait_for_value(devenv.prometheus_url, cores, lambda v: v == 5) == 5
    ids = {
        s["metric"]["application_id"]
        for s in query(
            devenv.prometheus_url, f'metrics_executor_totalCores{{application_name="{name}"}}'
        )
    }
    assert ids == {status["sparkApplicationId"]}


def test_in_place_target_annotation_scales_without_restart(
    devenv: DevEnvHandle, emulator: Any
) -> None:
    name = "emu-in-place"
    annotations = {
        "emulator.hrl-autoscaler.io/rate": "1500",
        "hrl-autoscaler.io/actuation": "in-place",
    }
    emulator.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, _app(name, 2, annotations)
    )
    cores = f'sum(metrics_executor_totalCores{{application_name="{name}"}})'
    assert wait_for_value(devenv.prometheus_url, cores, lambda v: v == 2) == 2
    before = _status(emulator, name)

    emulator.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        PLURAL,
        name,
        {"metadata": {"annotations": {"hrl-autoscaler.io/target-executors": "6"}}},
    )
    assert wait_for_value(devenv.prometheus_url, cores, lambda v: v == 6) == 6
    after = _status(emulator, name)
    assert after["sparkApplicationId"] == before["sparkApplicationId"]
    assert after["submissionAttempts"] == 1
    assert after["applicationState"]["state"] == "RUNNING"


def test_under_provisioned_application_builds_lag_and_latency(
    devenv: DevEnvHandle, emulator: Any
) -> None:
    name = "emu-overload"
    emulator.create_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        PLURAL,
        _app(name, 1, {"emulator.hrl-autoscaler.io/rate": "4000"}),
    )
    lag = f'kafka_consumergroup_group_lag{{group="{name}"}}'
    first = wait_for_value(devenv.prometheus_url, lag, lambda v: v > 0)
    assert wait_for_value(devenv.prometheus_url, lag, lambda v: v > first * 1.5) > first
    latency = f'metrics_spark_driver_spark_streaming_iot_latency_Value{{application_name="{name}"}}'
    assert wait_for_value(devenv.prometheus_url, latency, lambda v: v > 5000) > 5000
