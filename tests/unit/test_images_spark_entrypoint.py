"""The Spark image's entrypoint, run for real with fake ``spark-submit`` and ``java`` that print
the argv they get: what Spark's Kubernetes backend passes in must become the right command."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hrl_autoscaler.tools.devenv.images.settings import REPO

ENTRYPOINT = REPO / "operator" / "hrl_autoscaler" / "tools" / "spark" / "entrypoint.sh"
PRINT_ARGV = '#!/bin/sh\nfor a in "$0" "$@"; do printf "%s\\n" "$a"; done\n'

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the entrypoint is bash")


def _tree(tmp_path: Path) -> dict[str, str]:
    """A SPARK_HOME and a JAVA_HOME whose commands print their argv; the base environment."""
    for tool in ("spark/bin/spark-submit", "java/bin/java"):
        path = tmp_path / tool
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PRINT_ARGV)
        path.chmod(0o755)
    return {
        "PATH": "/usr/bin:/bin",
        "SPARK_HOME": str(tmp_path / "spark"),
        "JAVA_HOME": str(tmp_path / "java"),
    }


def _run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ENTRYPOINT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _argv(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Under tini (present in the image, maybe on a host) the command is the same.
    return [Path(lines[0]).name, *lines[1:]]


def test_the_driver_runs_spark_submit_in_client_mode_bound_to_the_pod_ip(tmp_path: Path) -> None:
    env = {**_tree(tmp_path), "SPARK_DRIVER_BIND_ADDRESS": "10.88.0.7"}
    submitted = [
        "--properties-file",
        "/opt/spark/conf/spark.properties",
        "--class",
        "org.apache.spark.deploy.PythonRunner",
        "local:///opt/hrl-autoscaler/sum_job.py",
        "1000",
    ]
    assert _argv(_run(tmp_path, env, "driver", *submitted)) == [
        "spark-submit",
        "--conf",
        "spark.driver.bindAddress=10.88.0.7",
        "--conf",
        "spark.executorEnv.SPARK_DRIVER_POD_IP=10.88.0.7",
        "--deploy-mode",
        "client",
        *submitted,
    ]


def test_the_executor_runs_the_kubernetes_backend_from_the_environment(tmp_path: Path) -> None:
    env = {
        **_tree(tmp_path),
        "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@drv-svc.ns.svc:7078",
        "SPARK_EXECUTOR_ID": "2",
        "SPARK_EXECUTOR_CORES": "1",
        "SPARK_APPLICATION_ID": "spark-abc",
        "SPARK_EXECUTOR_POD_IP": "10.88.0.9",
        "SPARK_EXECUTOR_POD_NAME": "app-exec-2",
        "SPARK_RESOURCE_PROFILE_ID": "0",
        "SPARK_EXECUTOR_MEMORY": "512m",
        "SPARK_JAVA_OPT_10": "-Dlast=10",
        "SPARK_JAVA_OPT_0": "-Dfirst=0",
        "SPARK_JAVA_OPT_2": "-Dspark.driver.port=7078",
        "SPARK_CLASSPATH": "/extra/lib/*",
    }
    spark_home = env["SPARK_HOME"]
    assert _argv(_run(tmp_path, env, "executor")) == [
        "java",
        "-Dfirst=0",
        "-Dspark.driver.port=7078",
        "-Dlast=10",
        "-Xms512m",
        "-Xmx512m",
        "-cp",
        f"{spark_home}/conf:/extra/lib/*:{spark_home}/jars/*:{tmp_path}",
        "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
        "--driver-url",
        "spark://CoarseGrainedScheduler@drv-svc.ns.svc:7078",
        "--executor-id",
        "2",
        "--cores",
        "1",
        "--app-id",
        "spark-abc",
        "--hostname",
        "10.88.0.9",
        "--resourceProfileId",
        "0",
        "--podName",
        "app-exec-2",
    ]


def test_an_executor_without_its_environment_names_what_is_missing(tmp_path: Path) -> None:
    result = _run(tmp_path, _tree(tmp_path), "executor")
    assert result.returncode == 64
    assert "SPARK_DRIVER_URL is not set" in result.stderr


def test_a_driver_without_its_pod_ip_says_so(tmp_path: Path) -> None:
    result = _run(tmp_path, _tree(tmp_path), "driver", "--class", "x")
    assert result.returncode != 0
    assert "SPARK_DRIVER_BIND_ADDRESS" in result.stderr


def test_anything_else_runs_as_given(tmp_path: Path) -> None:
    result = _run(tmp_path, _tree(tmp_path), "sh", "-c", 'echo "python job $0"', "ok")
    assert result.returncode == 0
    assert result.stdout == "python job ok\n"


def test_the_entrypoint_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (`make system-deps`)")
    result = subprocess.run(
        [shellcheck, str(ENTRYPOINT)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout
    assert os.access(ENTRYPOINT, os.X_OK)
