"""The local Spark Operator role's pure halves: spec -> spark-submit argv, pods -> status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hrl_autoscaler.tools.devenv.sparkop.controller import wants_submission
from hrl_autoscaler.tools.devenv.sparkop.launch import master_url
from hrl_autoscaler.tools.devenv.sparkop.spec import (
    APP_NAME_LABEL,
    SUBMISSION_LABEL,
    SubmissionSpecError,
    submit_command,
)
from hrl_autoscaler.tools.devenv.sparkop.status import application_status

SUBMIT = Path("/opt/spark/bin/spark-submit")
MASTER = "k8s://https://10.0.0.1:6443"


def _app(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "Python",
        "mode": "cluster",
        "sparkVersion": "4.1.1",
        "image": "localhost/spark:1",
        "imagePullPolicy": "Never",
        "mainApplicationFile": "local:///opt/hrl-autoscaler/iot_job.py",
        "arguments": ["--source", "kafka"],
        "driver": {"cores": 1, "coreRequest": "100m", "memory": "512m", "serviceAccount": "spark"},
        "executor": {"instances": 2, "cores": 1, "memory": "512m", "labels": {"team": "iot"}},
    }
    base.update(spec)
    return {"metadata": {"name": "iot", "namespace": "apps"}, "spec": base}


def _confs(argv: tuple[str, ...]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--conf"]
    return dict(p.split("=", 1) for p in pairs)


class TestSubmitCommand:
    def test_maps_the_spec_like_the_spark_operator(self) -> None:
        command = submit_command(_app(), master=MASTER, spark_submit=SUBMIT, submission_id="s1")
        argv = command.argv
        assert argv[:5] == (str(SUBMIT), "--master", MASTER, "--deploy-mode", "cluster")
        assert argv[-3:] == ("local:///opt/hrl-autoscaler/iot_job.py", "--source", "kafka")
        conf = _confs(argv)
        assert conf["spark.kubernetes.namespace"] == "apps"
        assert conf["spark.kubernetes.container.image"] == "localhost/spark:1"
        assert conf["spark.kubernetes.container.image.pullPolicy"] == "Never"
        assert conf["spark.executor.instances"] == "2"
        assert conf["spark.kubernetes.driver.request.cores"] == "100m"
        assert conf["spark.driver.memory"] == "512m"
        assert conf["spark.kubernetes.authenticate.driver.serviceAccountName"] == "spark"
        assert conf["spark.kubernetes.executor.label.team"] == "iot"
        assert conf["spark.kubernetes.submission.waitAppCompletion"] == "false"
        assert conf["spark.kubernetes.driver.pod.name"] == "iot-driver"
        for role in ("driver", "executor"):
            assert conf[f"spark.kubernetes.{role}.label.{APP_NAME_LABEL}"] == "iot"
            assert conf[f"spark.kubernetes.{role}.label.{SUBMISSION_LABEL}"] == "s1"
        assert command.driver_pod == "iot-driver"

    def test_user_conf_wins_except_what_finds_the_pods(self) -> None:
        app = _app(
            sparkConf={
                "spark.executor.instances": "3",
                "spark.kubernetes.driver.pod.name": "elsewhere",
            }
        )
        conf = _confs(
            submit_command(app, master=MASTER, spark_submit=SUBMIT, submission_id="s").argv
        )
        assert conf["spark.executor.instances"] == "3"
        assert conf["spark.kubernetes.driver.pod.name"] == "iot-driver"

    def test_volumes_env_and_dynamic_allocation(self) -> None:
        app = _app(
            volumes=[{"name": "data", "hostPath": {"path": "/var/tmp/x", "type": "Directory"}}],
            dynamicAllocation={"enabled": True, "minExecutors": 1, "maxExecutors": 4},
        )
        app["spec"]["driver"]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        app["spec"]["driver"]["env"] = [{"name": "A", "value": "1"}]
        app["spec"]["executor"]["envVars"] = {"B": "2"}
        conf = _confs(
            submit_command(app, master=MASTER, spark_submit=SUBMIT, submission_id="s").argv
        )
        base = "spark.kubernetes.driver.volumes.hostPath.data"
        assert conf[f"{base}.mount.path"] == "/data"
        assert conf[f"{base}.options.path"] == "/var/tmp/x"
        assert conf[f"{base}.options.type"] == "Directory"
        assert conf["spark.kubernetes.driverEnv.A"] == "1"
        assert conf["spark.executorEnv.B"] == "2"
        assert conf["spark.dynamicAllocation.enabled"] == "true"
        assert conf["spark.dynamicAllocation.maxExecutors"] == "4"
        assert conf["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"type": "R"}, "spec.type"),
            ({"mode": "client"}, "spec.mode"),
            ({"mainApplicationFile": ""}, "spec.mainApplicationFile"),
            ({"image": None}, "spec.image"),
            ({"type": "Scala"}, "spec.mainClass"),
            ({"deps": {"jars": ["x.jar"]}}, "spec.deps"),
            ({"volumes": [{"name": "v", "configMap": {"name": "c"}}]}, "spec.volumes[0]"),
            ({"sparkConf": {"bad key": "1"}}, "spec.sparkConf"),
            ({"sparkConf": {"a=b": "1"}}, "spec.sparkConf"),
            ({"arguments": [{"x": 1}]}, "spec.arguments[0]"),
        ],
    )
    def test_refuses_what_it_cannot_honour_naming_the_field(
        self, change: dict[str, Any], field: str
    ) -> None:
        with pytest.raises(SubmissionSpecError, match=field.replace("[", r"\[")):
            submit_command(_app(**change), master=MASTER, spark_submit=SUBMIT, submission_id="s")

    def test_pod_fields_it_cannot_apply_are_refused(self) -> None:
        app = _app()
        app["spec"]["driver"]["sidecars"] = [{"name": "loadgen"}]
        with pytest.raises(SubmissionSpecError, match=r"spec\.driver\.sidecars"):
            submit_command(app, master=MASTER, spark_submit=SUBMIT, submission_id="s")

    def test_env_value_from_is_refused(self) -> None:
        app = _app()
        app["spec"]["driver"]["env"] = [{"name": "A", "valueFrom": {"secretKeyRef": {}}}]
        with pytest.raises(SubmissionSpecError, match=r"spec.driver.env\[0\].valueFrom"):
            submit_command(app, master=MASTER, spark_submit=SUBMIT, submission_id="s")

    def test_a_mount_of_an_unknown_volume_is_refused(self) -> None:
        app = _app()
        app["spec"]["executor"]["volumeMounts"] = [{"name": "nope", "mountPath": "/x"}]
        with pytest.raises(SubmissionSpecError, match=r"no spec\.volumes entry named 'nope'"):
            submit_command(app, master=MASTER, spark_submit=SUBMIT, submission_id="s")


def _pod(name: str, role: str, phase: str, app_id: str = "spark-1") -> dict[str, Any]:
    labels = {"spark-role": role, "spark-app-selector": app_id}
    return {"metadata": {"name": name, "labels": labels}, "status": {"phase": phase}}


class TestStatus:
    def test_driver_phase_and_executors(self) -> None:
        status = application_status(
            driver=_pod("iot-driver", "driver", "Running"),
            executors=[
                _pod("iot-exec-1", "executor", "Running"),
                _pod("iot-exec-2", "executor", "Pending"),
                _pod("old-exec", "executor", "Running", app_id="spark-0"),
            ],
            attempts=1,
            submitted=True,
        )
        assert status["applicationState"] == {"state": "RUNNING"}
        assert status["sparkApplicationId"] == "spark-1"
        assert status["executorState"] == {"iot-exec-1": "RUNNING", "iot-exec-2": "PENDING"}
        assert status["driverInfo"]["podName"] == "iot-driver"

    @pytest.mark.parametrize(
        ("phase", "state"),
        [("Pending", "SUBMITTED"), ("Succeeded", "COMPLETED"), ("Failed", "FAILED")],
    )
    def test_driver_phases(self, phase: str, state: str) -> None:
        status = application_status(
            driver=_pod("d", "driver", phase), executors=[], attempts=2, submitted=True
        )
        assert status["applicationState"]["state"] == state
        assert status["submissionAttempts"] == 2

    def test_before_the_driver_and_after_a_failed_submission(self) -> None:
        waiting = application_status(driver=None, executors=[], attempts=1, submitted=True)
        assert waiting["applicationState"] == {"state": "SUBMITTED"}
        failed = application_status(
            driver=None, executors=[], attempts=1, submitted=False, error="exited 1: boom"
        )
        assert failed["applicationState"]["state"] == "SUBMISSION_FAILED"
        assert failed["driverInfo"] == {}  # required by the CRD
        assert "boom" in failed["applicationState"]["errorMessage"]


def test_only_annotated_applications_are_submitted() -> None:
    annotated = {"metadata": {"annotations": {"emulator.hrl-autoscaler.io/mode": "spark-submit"}}}
    assert wants_submission(annotated)
    assert not wants_submission({"metadata": {"annotations": {}}})
    assert not wants_submission({"metadata": {}})


def test_master_url_from_the_kubeconfig(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
        "clusters: [{name: k, cluster: {server: 'https://10.1.2.3:6443'}}]\n"
    )
    assert master_url(config) == "k8s://https://10.1.2.3:6443"
    config.write_text("current-context: x\ncontexts: []\nclusters: []\n")
    with pytest.raises(ValueError, match="no current-context"):
        master_url(config)


def test_the_submission_credentials_cannot_be_overridden_by_the_spec() -> None:
    key = "spark.kubernetes.authenticate.submission.oauthTokenFile"
    app = _app(sparkConf={key: "/elsewhere"})
    argv = submit_command(
        app, master=MASTER, spark_submit=SUBMIT, submission_id="s", client_conf={key: "/tok"}
    ).argv
    assert _confs(argv)[key] == "/tok"
