"""What only a real cluster can show: the chart's operator pod running the example applications.

Run by ``make kind-e2e`` (``--kubeconfig`` to a kind cluster with the Spark Operator, Prometheus,
this chart and ``manifests/examples`` applied); skipped everywhere else (tests/conftest.py). On
the local control plane no kubelet runs, so these are the only tests that see real driver and
executor pods, the operator in its container with the chart's service account and settings, and
the in-place agent inside a real Spark driver.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client

from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.core.reporting import Reason
from hrl_autoscaler.tools.devenv.sparkapps import Cluster, annotations_of, app_state, wait_for
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = [pytest.mark.e2e, pytest.mark.kind]

RELEASE_NAMESPACE = "hrl-autoscaler"
APPS_NAMESPACE = "spark-apps"
EXAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "examples"


def _examples() -> list[dict[str, Any]]:
    apps = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        apps += [
            doc
            for doc in yaml.safe_load_all(path.read_text())
            if isinstance(doc, dict) and doc.get("kind") == "SparkApplication"
        ]
    return apps


@pytest.fixture(scope="module")
def cluster(devenv: DevEnvHandle) -> Cluster:
    return Cluster(devenv.api_client)


def _executor_pods(core: Any, app: str) -> list[str]:
    response = core.list_namespaced_pod(
        APPS_NAMESPACE,
        label_selector=f"spark-role=executor,sparkoperator.k8s.io/app-name={app}",
        _preload_content=False,
    )
    pods = json.loads(response.data)["items"]
    return [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]


def test_the_operator_deployment_is_available(devenv: DevEnvHandle) -> None:
    apps = k8s_client.AppsV1Api(devenv.api_client)

    def available() -> int | None:
        status = apps.read_namespaced_deployment(RELEASE_NAMESPACE, RELEASE_NAMESPACE).status
        return status.available_replicas or None

    assert wait_for("the hrl-autoscaler Deployment to be available", available, 300, 2.0) >= 1


def test_every_example_runs_and_gets_decisions(cluster: Cluster) -> None:
    examples = _examples()
    assert examples, f"no SparkApplication in {EXAMPLES}"
    for app in examples:
        name = app["metadata"]["name"]
        wait_for(
            f"{name} to be RUNNING under the Spark Operator",
            lambda n=name: app_state(cluster.get(APPS_NAMESPACE, n)) == "RUNNING" or None,
            600,
            5.0,
        )
    decided = {Reason.SCALING_DECISION.value, Reason.SCALING_RECOMMENDATION.value}
    for app in examples:
        name = app["metadata"]["name"]
        events = wait_for(
            f"a decision event on {name}",
            lambda n=name: (
                [e for e in cluster.events(APPS_NAMESPACE, n) if e.reason in decided] or None
            ),
            600,
            5.0,
        )
        assert all(e.type == "Normal" for e in events)


def test_in_place_example_scales_executor_pods_without_a_restart(cluster: Cluster) -> None:
    in_place = [a for a in _examples() if annotations_of(a).get(PREFIX + "actuation") == "in-place"]
    assert in_place, "manifests/examples has no in-place application"
    name = in_place[0]["metadata"]["name"]
    first = cluster.get(APPS_NAMESPACE, name)
    app_id = first["status"]["sparkApplicationId"]

    def target() -> int | None:
        value = annotations_of(cluster.get(APPS_NAMESPACE, name)).get(PREFIX + "target-executors")
        return int(value) if value else None

    wanted = wait_for(f"the operator to write {name}'s target", target, 600, 5.0)
    running = wait_for(
        f"{name}'s running executor pods to reach the target {wanted}",
        lambda: len(_executor_pods(cluster.core, name)) == target() or None,
        300,
        5.0,
    )
    assert running
    now = cluster.get(APPS_NAMESPACE, name)
    assert now["status"]["sparkApplicationId"] == app_id, "the application was restarted"
