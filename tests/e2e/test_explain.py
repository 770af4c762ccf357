"""``hrl-autoscaler explain`` against a live operator on the real control plane.

One emulator (30x real time) and one operator (``hrl-autoscaler run --config``, with one
per-application default set in its config file) serve the module. An application with a few
annotations (one of them rejected) scales up under load; then the command, run in-process as a
user runs it, must show each setting's origin (annotation, config, default), the rejected
annotation with the accepted values, the operator's decisions with their reasons and metrics, as
a table and as JSON; and refuse an unknown or unmanaged application with exit code 2.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s_client

from hrl_autoscaler.cli import main
from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.k8s.statestore import STATE_KEY, configmap_name
from hrl_autoscaler.tools.devenv.components import OperatorProcess
from hrl_autoscaler.tools.devenv.sparkapps import Cluster, spark_application, wait_for
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

NAMESPACE = "explain-e2e"
SPEED = 30.0
COST = 0.75
"""``defaults.cost_per_executor_hour`` of the operator's config file: a ``config`` origin."""


@pytest.fixture(scope="module")
def operator(
    devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    options = StackOptions(
        work_dir=tmp_path_factory.mktemp("explain-e2e"),
        env=devenv.env,
        namespaces=(NAMESPACE,),
        speed=SPEED,
        emulator_tick_s=0.2,
        operator_overrides={
            "defaults": {"cost_per_executor_hour": COST},
            "guardrails": {"restart_cooldown_s": 5.0},
        },
    )
    with LocalStack(options) as local:
        assert local.operator is not None
        yield local.operator  # the stack deletes the namespace's applications at exit


def _explain(
    devenv: DevEnvHandle, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["explain", *argv, "--kubeconfig", str(devenv.kubeconfig)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _state(devenv: DevEnvHandle, name: str) -> dict[str, Any] | None:
    core: Any = k8s_client.CoreV1Api(devenv.api_client)
    try:
        response = core.read_namespaced_config_map(
            configmap_name(name), NAMESPACE, _preload_content=False
        )
    except k8s_client.ApiException:
        return None
    state: dict[str, Any] = json.loads(json.loads(response.data)["data"][STATE_KEY])
    return state


def test_explain_shows_origins_decisions_and_refuses_unknown_apps(
    devenv: DevEnvHandle, operator: OperatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = Cluster(devenv.api_client)
    name = "explained"
    settings = {
        "actuation": "in-place",
        "weight-policy": "latency-first",
        "min-executors": "2",
        "slo-class": "gold",  # rejected: shown with the classes accepted
    }
    cluster.create(NAMESPACE, spark_application(name, 2, settings, rate_eps=9000.0))
    wait_for(
        "a decision in the state ConfigMap",
        lambda: (_state(devenv, name) or {}).get("decisions"),
        timeout_s=40.0,
    )

    code, out, err = _explain(
        devenv, capsys, f"{NAMESPACE}/{name}", "--config", str(operator.config_path), "-o", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    rows = {row["name"]: row for row in data["settings"]}
    assert rows["min_executors"]["origin"] == "annotation"
    assert rows["min_executors"]["value"] == 2
    assert rows["actuation"]["origin"] == "annotation"
    assert rows["max_executors"]["origin"] == "default"
    assert rows["max_executors"]["value"] == 20
    cost = rows["cost_per_executor_hour"]
    assert (cost["origin"], cost["value"], cost["source"]) == (
        "config",
        COST,
        str(operator.config_path),
    )
    assert rows["slo_class"]["origin"] == "default"
    [rejected] = data["rejected"]
    assert rejected["annotation"] == PREFIX + "slo-class"
    assert rejected["accepted"] == "one of latency-critical, standard, best-effort"
    assert data["weights"]["origin"] == "preset"
    decisions = data["decisions"]
    newest = decisions[0]
    assert newest["reason"] == "ScalingDecision"
    assert newest["direction"] == "up"
    assert newest["actuation"] == "in-place"
    assert int(newest["metrics"]["input_eps"]) > 0
    invalid = [e for e in data["other_events"] if e["reason"] == "InvalidAnnotation"]
    assert invalid
    assert invalid[0]["fields"]["annotation"] == PREFIX + "slo-class"
    assert data["app"]["target_executors"] is not None

    # the table, namespace from -n, as `kubectl hrl-autoscaler explain NAME -n NS` reads
    code, table, err = _explain(
        devenv, capsys, name, "-n", NAMESPACE, "--config", str(operator.config_path)
    )
    assert code == 0, err
    lines = {line.split()[1]: line for line in table.splitlines() if line.startswith("│ ")}
    assert "annotation" in lines["min-executors"]
    assert "default" in lines["max-executors"]
    assert "config" in lines["cost-per-executor-hour"]
    assert "ScalingDecision" in table
    assert "one of latency-critical, standard, best-effort" in table

    # the chart's ConfigMap as the operator-config source
    core: Any = k8s_client.CoreV1Api(devenv.api_client)
    with contextlib.suppress(k8s_client.ApiException):  # left by an earlier run
        core.delete_namespaced_config_map("hrl-autoscaler-config", NAMESPACE)
    core.create_namespaced_config_map(
        NAMESPACE,
        {
            "metadata": {"name": "hrl-autoscaler-config"},
            "data": {"config.yaml": "defaults:\n  max_executors: 12\n"},
        },
    )
    code, out, err = _explain(
        devenv,
        capsys,
        f"{NAMESPACE}/{name}",
        "-o",
        "json",
        "--operator-configmap",
        f"{NAMESPACE}/hrl-autoscaler-config",
    )
    assert code == 0, err
    data = json.loads(out)
    rows = {row["name"]: row for row in data["settings"]}
    assert (rows["max_executors"]["origin"], rows["max_executors"]["value"]) == ("config", 12)
    assert data["operator_config"] == f"ConfigMap {NAMESPACE}/hrl-autoscaler-config"

    # refusals: exit 2 and one clear line
    code, out, err = _explain(devenv, capsys, f"{NAMESPACE}/no-such-app")
    assert code == 2
    assert f"SparkApplication {NAMESPACE}/no-such-app not found" in err
    cluster.create(NAMESPACE, spark_application("unmanaged", 2, enabled=False))
    code, out, err = _explain(devenv, capsys, f"{NAMESPACE}/unmanaged")
    assert code == 2
    assert "not managed" in err
