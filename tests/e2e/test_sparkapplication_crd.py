"""SparkApplication CRDs in a real API server: ours and the upstream one, same checks.

Both CRDs define ``sparkapplications.sparkoperator.k8s.io`` and CRDs are cluster-scoped, so they
cannot live in one API server. The session control plane carries the upstream CRD (when
``../shared/crds`` exists); ours gets its own small control plane (etcd + kube-apiserver, no
Prometheus) for this module only, a few seconds of start-up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.crds import project_crd_dir, upstream_crd_dir
from hrl_autoscaler.tools.devenv.session import DevEnv
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle, assert_stopped

pytestmark = pytest.mark.e2e

GROUP, VERSION, PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"
CRD_NAME = f"{PLURAL}.{GROUP}"


def sample_app(name: str) -> dict[str, Any]:
    """A SparkApplication like the ones the autoscaler manages."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SparkApplication",
        "metadata": {"name": name, "labels": {"hrl-autoscaler.io/enabled": "true"}},
        "spec": {
            "type": "Python",
            "mode": "cluster",
            "sparkVersion": "4.0.0",
            "image": "spark:4.0.0",
            "mainApplicationFile": "local:///opt/app/stream.py",
            "arguments": ["--rate", "100"],
            "sparkConf": {"spark.sql.streaming.metricsEnabled": "true"},
            "driver": {"cores": 1, "memory": "512m", "serviceAccount": "spark"},
            "executor": {"instances": 2, "cores": 1, "memory": "512m"},
            "dynamicAllocation": {"enabled": False},
            "monitoring": {"exposeDriverMetrics": True, "exposeExecutorMetrics": True},
        },
    }


class Plane:
    """One API server with one SparkApplication CRD, and the namespace tests write into."""

    def __init__(self, label: str, env: DevEnv, api: k8s_client.ApiClient) -> None:
        self.label = label
        self.env = env
        self.api = api
        # Custom-object calls take and return plain JSON-like dicts.
        self.custom: Any = k8s_client.CustomObjectsApi(api)
        self.namespace = f"crd-{label}"

    def ensure_namespace(self) -> None:
        core: Any = k8s_client.CoreV1Api(self.api)
        try:
            core.create_namespace({"metadata": {"name": self.namespace}})
        except ApiException as exc:
            if exc.status != 409:
                raise

    def create(self, name: str) -> dict[str, Any]:
        self.ensure_namespace()
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, sample_app(name)
        )
        return created

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, body
        )
        return patched


@pytest.fixture(scope="module")
def own_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    crd_dir = project_crd_dir()
    assert crd_dir is not None
    options = StackOptions(
        work_dir=tmp_path_factory.mktemp("own-crd"),
        crds=[crd_dir],
        prometheus=False,
        binaries=ensure_binaries(require_prometheus=False),
        emulator=False,
        operator=False,
    )
    with LocalStack(options) as stack:
        env, api = stack.env, stack.api_client
        assert env is not None
        assert api is not None
        processes, data_dir = env.processes, env.data_dir
        yield Plane("ours", env, api)
    assert_stopped(processes, data_dir)


@pytest.fixture(params=[pytest.param("ours", marks=pytest.mark.localcp), "upstream"])
def plane(request: pytest.FixtureRequest) -> Plane:
    if request.param == "ours":
        own: Plane = request.getfixturevalue("own_plane")
        return own
    devenv: DevEnvHandle = request.getfixturevalue("devenv")
    if devenv.crd_source not in ("upstream", "cluster"):
        pytest.skip("upstream CRD not found beside the repository (../shared/crds)")
    return Plane("upstream", devenv.env, devenv.api_client)


def _crd(plane: Plane) -> dict[str, Any]:
    api = k8s_client.ApiextensionsV1Api(plane.api)
    response: Any = api.read_custom_resource_definition(CRD_NAME, _preload_content=False)
    data: dict[str, Any] = json.loads(response.data)
    return data


def test_crd_is_established_with_expected_names(plane: Plane) -> None:
    crd = _crd(plane)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert crd["spec"]["scope"] == "Namespaced"
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"]) == ("SparkApplication", PLURAL)
    assert "sparkapp" in names["shortNames"]
    version = next(v for v in crd["spec"]["versions"] if v["name"] == VERSION)
    assert version["subresources"] == {"status": {}}
    assert "scale" not in version["subresources"]


def test_sample_application_is_accepted(plane: Plane) -> None:
    created = plane.create("accepted")
    assert created["spec"]["executor"]["instances"] == 2
    assert created["spec"]["monitoring"]["exposeExecutorMetrics"] is True


def test_executor_instances_patch_is_accepted(plane: Plane) -> None:
    plane.create("scaled")
    patched = plane.patch("scaled", {"spec": {"executor": {"instances": 5}}})
    assert patched["spec"]["executor"]["instances"] == 5
    assert patched["metadata"]["generation"] == 2


@pytest.mark.parametrize("bad", [0, -1, "three", 1.5])
def test_invalid_executor_instances_are_rejected(plane: Plane, bad: object) -> None:
    name = f"invalid-{abs(hash(repr(bad))) % 10_000}"
    plane.create(name)
    with pytest.raises(ApiException) as caught:
        plane.patch(name, {"spec": {"executor": {"instances": bad}}})
    assert caught.value.status == 422
    assert "spec.executor.instances" in str(caught.value.body)


def test_missing_required_fields_are_rejected(plane: Plane) -> None:
    plane.ensure_namespace()
    body = sample_app("incomplete")
    del body["spec"]["mainApplicationFile"]
    with pytest.raises(ApiException) as caught:
        plane.custom.create_namespaced_custom_object(GROUP, VERSION, plane.namespace, PLURAL, body)
    assert caught.value.status == 422
    assert "mainApplicationFile" in str(caught.value.body)


def test_status_is_a_separate_subresource(plane: Plane) -> None:
    """Spec patches cannot set status, status patches cannot change spec (as upstream)."""
    plane.create("status")
    status = {
        "applicationState": {"state": "RUNNING"},
        "sparkApplicationId": "spark-123",
        "executionAttempts": 1,
        "submissionAttempts": 1,
        "driverInfo": {},
        "executorState": {"status-exec-1": "RUNNING"},
        "lastSubmissionAttemptTime": "2026-01-01T00:00:00Z",
    }
    plane.patch("status", {"status": status})
    unchanged = plane.custom.get_namespaced_custom_object(
        GROUP, VERSION, plane.namespace, PLURAL, "status"
    )
    assert "status" not in unchanged or not unchanged["status"].get("applicationState")
    updated = plane.custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        plane.namespace,
        PLURAL,
        "status",
        {"status": status, "spec": {"executor": {"instances": 9}}},
    )
    assert updated["status"]["applicationState"]["state"] == "RUNNING"
    assert updated["status"]["executorState"] == {"status-exec-1": "RUNNING"}
    assert updated["spec"]["executor"]["instances"] == 2


def test_printer_columns_are_served(plane: Plane) -> None:
    plane.create("columns")
    # Through the ApiClient (not a bare URL) so it works with any kubeconfig's credentials.
    method, url, headers, body, post = plane.api.param_serialize(
        method="GET",
        resource_path=f"/apis/{GROUP}/{VERSION}/namespaces/{plane.namespace}/{PLURAL}",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
    )
    response: Any = plane.api.call_api(method, url, headers, body, post)
    response.read()
    table = json.loads(response.data)
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "Suspend", "Status", "Attempts", "Start", "Finish", "Age"]


def test_our_printer_columns_match_upstream() -> None:
    """Ours shows what `kubectl get sparkapp` shows on a cluster with the Spark Operator."""
    ours_dir, upstream_dir = project_crd_dir(), upstream_crd_dir()
    assert ours_dir is not None
    if upstream_dir is None:
        pytest.skip("upstream CRD not found beside the repository (../shared/crds)")

    def columns(path: Path) -> list[tuple[str, str, str]]:
        crd = yaml.safe_load(path.read_text())
        cols = crd["spec"]["versions"][0]["additionalPrinterColumns"]
        return [(c["name"], c["type"], c["jsonPath"]) for c in cols]

    upstream_file = next(upstream_dir.glob("*sparkapplications*.yaml"))
    assert columns(ours_dir / "sparkapplications.yaml") == columns(upstream_file)
