"""The Helm chart on the real API server: lint, render, install, RBAC, and the operator under it.

Helm and kubectl are the ones devenv builds (``hrl_autoscaler.tools.devenv.binaries``). The local
control plane has no kubelet, so pods never run: installs are checked by the objects they create.
RBAC is checked twice: ``kubectl auth can-i --as=system:serviceaccount:NS:SA`` for a matrix of
what the operator needs (allowed) and what it must not do (denied), and by running the real
operator with a token of the chart's service account (a TokenRequest), which must decide, patch
SparkApplications, post events and store its state without a single authorization error.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client

from hrl_autoscaler.config import (
    ACTUATIONS,
    MODES,
    OBJECTIVE_NAMES,
    QUERY_NAMES,
    OperatorSettings,
    load_operator_settings,
)
from hrl_autoscaler.runtime.core.annotations import PREFIX, WEIGHT_POLICIES
from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.runtime.k8s.actuator import FIELD_MANAGER
from hrl_autoscaler.runtime.k8s.statestore import configmap_name
from hrl_autoscaler.tools.devenv.binaries import KUBERNETES_VERSION, ensure_binaries
from hrl_autoscaler.tools.devenv.crds import wait_established
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    annotations_of,
    spark_application,
    wait_for,
    written_by,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "hrl-autoscaler"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"
SPEED = 30.0
#: Each step takes seconds (decisions every 1 s at 30x); the margin is for a loaded machine.
WAIT_S = 90.0
#: What the operator's log must never contain when its RBAC is right.
RBAC_PROBLEMS = (
    "Forbidden",  # the API's 403 (kopf's APIForbiddenError too)
    "forbidden",
    "Unauthorized",
    "Not enough permissions",  # kopf: a CRD or namespace watch denied
    "cannot create the peering object",
    "not posted",  # an event
    "patch rejected",
    "read failed",
    "state ConfigMaps failed",
    "Traceback",
)


# -- helm and kubectl ---------------------------------------------------------------------------


@dataclass
class Tools:
    helm_bin: Path
    kubectl_bin: Path
    env: dict[str, str]

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.helm_bin), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, (
                f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def template(self, *args: str) -> list[dict[str, Any]]:
        out = self.helm(
            "template", "rel", str(CHART), "-n", "hrl", "--kube-version", KUBERNETES_VERSION, *args
        ).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl_bin), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result

    def get(self, *args: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        return found

    def can_i(self, verb: str, resource: str, sa: str, namespace: str | None) -> bool:
        """``resource`` is TYPE, TYPE/NAME, or TYPE:SUBRESOURCE (e.g. ``pods:exec``)."""
        scope = ["-n", namespace] if namespace else ["--all-namespaces"]
        resource, _, sub = resource.partition(":")
        subresource = [f"--subresource={sub}"] if sub else []
        result = self.kubectl(
            "auth", "can-i", verb, resource, *subresource, *scope, f"--as={sa}", check=False
        )
        assert result.returncode in (0, 1), result.stderr
        return result.returncode == 0


@pytest.fixture(scope="module")
def tools(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Tools:
    binaries = ensure_binaries(print, require_prometheus=False)
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HELM_")},
        "HOME": str(home),  # helm's and kubectl's caches and config, not the user's
        "KUBECONFIG": str(devenv.kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    return Tools(binaries.helm, binaries.kubectl, env)


def fullname(release: str) -> str:
    """The chart's resource name for a release (as _helpers.tpl computes it)."""
    return release if "hrl-autoscaler" in release else f"{release}-hrl-autoscaler"


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = of_kind(docs, kind)
    return doc


def settings_of(configmap: dict[str, Any], tmp_path: Path) -> OperatorSettings:
    """The rendered config.yaml, loaded exactly as ``hrl-autoscaler run --config`` loads it."""
    path = tmp_path / "config.yaml"
    path.write_text(configmap["data"]["config.yaml"])
    return load_operator_settings(path)


def check_deployment(deployment: dict[str, Any]) -> dict[str, Any]:
    """What every rendering and install must get right; returns the operator container."""
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "ghcr.io/hrl-autoscaler/spark-hrl-autoscaler:0.1.0"
    assert container["args"] == ["run", "--config", "/etc/hrl-autoscaler/config.yaml"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    assert container["ports"] == [
        {"name": "http-metrics", "containerPort": 8080, "protocol": "TCP"}
    ]
    # (the API server adds defaults such as scheme: HTTP)
    for probe, path in (
        ("liveness", "/healthz"),
        ("readiness", "/readyz"),
        ("startup", "/healthz"),
    ):
        get = container[f"{probe}Probe"]["httpGet"]
        assert (get["path"], get["port"]) == (path, "http-metrics"), probe
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["config"]["mountPath"] == "/etc/hrl-autoscaler"
    assert mounts["tmp"]["mountPath"] == "/tmp"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["tmp"]
    assert container["resources"]["limits"]["memory"] == "512Mi"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    return dict(container)


# -- lint and render ----------------------------------------------------------------------------


def test_lint_is_clean_in_strict_mode_for_every_scenario(tools: Tools) -> None:
    for values in [None, *CI_VALUES]:
        args = ["lint", "--strict", str(CHART), "--kube-version", KUBERNETES_VERSION]
        if values is not None:
            args += ["-f", str(values)]
        result = tools.helm(*args)
        assert "0 chart(s) failed" in result.stdout, result.stdout
        assert "[WARNING]" not in result.stdout, result.stdout
        assert "[ERROR]" not in result.stdout, result.stdout


def _expect_default(docs: list[dict[str, Any]], settings: OperatorSettings) -> None:
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert settings.namespaces == ()
    assert settings.peering is False
    assert not of_kind(docs, "Role")
    assert not of_kind(docs, "ClusterKopfPeering")
    [role] = of_kind(docs, "ClusterRole")
    assert not [r for r in role["rules"] if "kopf.dev" in r["apiGroups"]]


def _expect_namespaced(docs: list[dict[str, Any]], settings: OperatorSettings) -> None:
    assert settings.namespaces == ("spark-apps", "spark-batch")
    roles = of_kind(docs, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["spark-apps", "spark-batch"]
    bindings = of_kind(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["spark-apps", "spark-batch"]
    # the only ClusterRole is read-only discovery
    [cluster_role] = of_kind(docs, "ClusterRole")
    assert cluster_role["metadata"]["name"].endswith("-discovery")
    verbs = {v for rule in cluster_role["rules"] for v in rule["verbs"]}
    assert verbs == {"list", "watch"}


def _expect_peering(docs: list[dict[str, Any]], settings: OperatorSettings) -> None:
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert settings.peering is True
    assert settings.peering_lifetime_s == 30
    [peering] = of_kind(docs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == settings.peering_name
    [role] = of_kind(docs, "ClusterRole")
    kopf = [r for r in role["rules"] if r["apiGroups"] == ["kopf.dev"]]
    assert {"get", "patch", "list", "watch", "create"} == {v for r in kopf for v in r["verbs"]}
    assert [r.get("resourceNames") for r in kopf if "patch" in r["verbs"]] == [["hrl-autoscaler"]]


def _expect_inplace_recommend(docs: list[dict[str, Any]], settings: OperatorSettings) -> None:
    d = settings.defaults
    assert (d.mode, d.actuation, d.weight_policy) == ("recommend", "in-place", "latency-first")
    assert (d.min_executors, d.max_executors, d.latency_slo_ms) == (2, 12, 1500.0)
    assert settings.guardrails.in_place_cooldown_s == 30.0
    assert settings.guardrails.scale_down_confirmations == 6
    assert settings.meta_interval_s == 900.0
    assert settings.log_level == "DEBUG"


def _expect_monitoring(docs: list[dict[str, Any]], settings: OperatorSettings) -> None:
    [monitor] = of_kind(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint == {
        "port": "http-metrics",
        "path": "/metrics",
        "interval": "15s",
        "scrapeTimeout": "10s",
        "honorLabels": True,  # the per-application namespace label must survive the scrape
    }
    service = one(docs, "Service")
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    dashboards = [c for c in of_kind(docs, "ConfigMap") if "-dashboard-" in c["metadata"]["name"]]
    expected = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    assert expected, "charts/hrl-autoscaler/dashboards/ holds no dashboard"
    assert sorted(k for c in dashboards for k in c["data"]) == expected
    for configmap in dashboards:
        assert configmap["metadata"]["namespace"] == "monitoring"
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert configmap["metadata"]["annotations"] == {"grafana_folder": "Spark"}
        for name, text in configmap["data"].items():
            assert json.loads(text) == json.loads((CHART / "dashboards" / name).read_text())
    assert settings.queries.backlog == "sum by (namespace, group) (kafka_consumergroup_lag)"
    assert settings.queries.latency == OperatorSettings().queries.latency


def _expect_prometheus_auth(docs: list[dict[str, Any]], settings: OperatorSettings) -> None:
    container = check_deployment(one(docs, "Deployment"))
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert settings.prometheus_url == "https://prometheus.monitoring.svc:9091"
    assert settings.prometheus_bearer_token is None  # never in the ConfigMap
    token_file = settings.prometheus_bearer_token_file
    assert token_file == Path(mounts["prometheus-token"]) / "token"
    assert volumes["prometheus-token"]["secret"]["secretName"] == "prometheus-reader-token"
    assert settings.prometheus_ca_file == Path(mounts["prometheus-ca"]) / "ca.crt"
    assert volumes["prometheus-ca"]["configMap"]["name"] == "prometheus-ca"
    assert settings.prometheus_verify_tls is True
    assert settings.prometheus_timeout_s == 8.0


def _expect_prometheus_basic_auth(docs: list[dict[str, Any]], settings: OperatorSettings) -> None:
    container = check_deployment(one(docs, "Deployment"))
    env = {e["name"]: e for e in container["env"]}
    for var, key in (("USERNAME", "username"), ("PASSWORD", "password")):
        ref = env[f"HRL_AUTOSCALER_PROMETHEUS_{var}"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "prometheus-basic-auth", "key": key}
    assert settings.prometheus_username is None  # comes from the environment at run time
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert settings.prometheus_ca_file == Path(mounts["prometheus-ca"]) / "ca.pem"
    assert settings.history_size == 50
    assert settings.fallback_tolerance == 0.1
    rendered = one(docs, "ConfigMap")["data"]["config.yaml"]
    assert "password" not in rendered


def _expect_kind(docs: list[dict[str, Any]], settings: OperatorSettings) -> None:
    # what make kind-e2e and tests/e2e/test_kind.py rely on
    assert settings.namespaces == ("spark-apps",)
    assert settings.prometheus_url == "http://prometheus-server.monitoring.svc:80"
    [role] = of_kind(docs, "Role")
    assert role["metadata"]["namespace"] == "spark-apps"


EXPECTATIONS = {
    "kind-values.yaml": _expect_kind,
    "default-values.yaml": _expect_default,
    "namespaced-values.yaml": _expect_namespaced,
    "peering-values.yaml": _expect_peering,
    "inplace-recommend-values.yaml": _expect_inplace_recommend,
    "monitoring-values.yaml": _expect_monitoring,
    "prometheus-auth-values.yaml": _expect_prometheus_auth,
    "prometheus-basic-auth-values.yaml": _expect_prometheus_basic_auth,
}


def test_every_ci_scenario_has_expectations() -> None:
    assert sorted(p.name for p in CI_VALUES) == sorted(EXPECTATIONS)


# ids are the file names: a bare "kind" id would read as the `kind` marker (tests/conftest.py)
@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.name)
def test_each_ci_scenario_renders_a_valid_operator_config(
    tools: Tools, values: Path, tmp_path: Path
) -> None:
    docs = tools.template("-f", str(values), "--api-versions", SERVICE_MONITOR_API)
    check_deployment(one(docs, "Deployment"))
    configmap = next(
        c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")
    )
    settings = settings_of(configmap, tmp_path)
    EXPECTATIONS[values.name](docs, settings)
    # the pods roll when the configuration changes
    annotations = one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])
    # every namespaced object lands in the release namespace or a watched one
    watched = set(settings.namespaces) | {"hrl", "monitoring"}
    for doc in docs:
        namespace = doc["metadata"].get("namespace")
        assert namespace is None or namespace in watched, doc["metadata"]
    # helm test: a pod that asks the Service for /readyz
    [test_pod] = [
        d for d in of_kind(docs, "Pod") if d["metadata"]["name"].endswith("-test-connection")
    ]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "/readyz" in test_pod["spec"]["containers"][0]["command"][-1]


def test_the_chart_defaults_are_the_operators_defaults(tools: Tools, tmp_path: Path) -> None:
    """The chart sets every option explicitly; each default must equal OperatorSettings'."""
    docs = tools.template()
    configmap = next(
        c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")
    )
    rendered = settings_of(configmap, tmp_path).model_dump()
    defaults = OperatorSettings().model_dump()
    chart_specific = {"prometheus_url", "http_host"}
    differing = {
        k: (rendered[k], defaults[k])
        for k in defaults
        if k not in chart_specific and rendered[k] != defaults[k]
    }
    assert differing == {}
    assert rendered["prometheus_url"] == "http://prometheus-operated.monitoring.svc:9090"


def test_the_schema_enums_are_the_operators_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = schema["properties"]["defaults"]["properties"]
    assert set(defaults["mode"]["enum"]) == set(MODES)
    assert set(defaults["actuation"]["enum"]) == set(ACTUATIONS)
    assert set(defaults["weightPolicy"]["enum"]) == set(WEIGHT_POLICIES)
    assert set(defaults["objective"]["enum"]) == set(OBJECTIVE_NAMES)
    queries = schema["properties"]["prometheus"]["properties"]["queries"]
    assert queries["additionalProperties"] is False
    assert set(queries["properties"]) == {*QUERY_NAMES, "name_labels", "namespace_labels"}
    # every values.yaml key is in the schema, and every object of it is closed
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], spec: dict[str, Any], path: str) -> None:
        assert set(node) <= set(spec["properties"]), (
            f"{path}: {set(node) - set(spec['properties'])}"
        )
        for key, value in node.items():
            child = spec["properties"][key]
            if isinstance(value, dict) and child.get("additionalProperties") is False:
                walk(value, child, f"{path}.{key}")

    assert schema["additionalProperties"] is False
    walk(values, schema, "values")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "defaults.mode=fast"], "at '/defaults/mode': value must be one of 'auto'"),
        (["--set", "replicaCount=-1"], "at '/replicaCount': minimum: got -1, want 0"),
        (["--set", "colour=blue"], "additional properties 'colour' not allowed"),
        (["--set", "defaults.weightPolicy=fastest"], "at '/defaults/weightPolicy'"),
        (["--set", "defaults.actuation=live"], "at '/defaults/actuation'"),
        (["--set", "defaults.minExecutors=0"], "at '/defaults/minExecutors': minimum: got 0"),
        (["--set", "peering.lifetimeSeconds=2"], "at '/peering/lifetimeSeconds'"),
        (["--set", "prometheus.url=prometheus:9090"], "at '/prometheus/url'"),
        (["--set", "prometheus.queries.latencyy=up"], "additional properties 'latencyy'"),
        (["--set", "watchNamespaces[0]=Bad_NS"], "at '/watchNamespaces/0'"),
        (["--set", "decisionIntervalSeconds=0"], "at '/decisionIntervalSeconds'"),
        (["--set", "replicaCount=2"], "replicaCount=2 needs peering.enabled=true"),
        (
            ["--set", "defaults.minExecutors=25"],
            "defaults.minExecutors (25) must not exceed defaults.maxExecutors (20)",
        ),
        (
            [
                "--set",
                "prometheus.auth.bearerToken.secretName=a",
                "--set",
                "prometheus.auth.basicAuth.secretName=b",
            ],
            "set bearerToken.secretName or basicAuth.secretName, not both",
        ),
        (["--set", "extraConfig.peering=true"], "extraConfig.peering: set by the chart"),
        (
            ["--set", "serviceAccount.create=false"],
            "serviceAccount.name is required when serviceAccount.create is false",
        ),
        (["--set", "image.digest=latest"], "at '/image/digest'"),
        (["--set", "extraConfig.prometheus_password=x"], "extraConfig.prometheus_password: not"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v)[:40],
)
def test_bad_values_are_rejected_naming_the_field(
    tools: Tools, args: list[str], message: str
) -> None:
    result = tools.helm(
        "template", "rel", str(CHART), "--kube-version", KUBERNETES_VERSION, *args, check=False
    )
    assert result.returncode != 0, result.stdout[:500]
    assert message in result.stderr, result.stderr


def test_optional_values_reach_the_objects(tools: Tools, tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    docs = tools.template(
        "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=existing",
        "--set", "rbac.create=false", "--set", f"image.digest={digest}",
        "--set", "metricsWindowSeconds=15", "--set", "podAnnotations.team=data",
        "--set", "extraEnv[0].name=HRL_AUTOSCALER_HISTORY_SIZE",
        "--set-string", "extraEnv[0].value=40",
        "--set", "tolerations[0].key=spark", "--set", "tolerations[0].operator=Exists",
        "--set", "nodeSelector.pool=system", "--set", "priorityClassName=platform",
        "--set", "imagePullSecrets[0].name=registry", "--set", "tmpSizeLimit=32Mi",
        "--set", "guardrails.anticipation=true", "--set", "guardrails.marginTrim=false",
        "--set", "guardrails.raiseCap=false", "--set", "guardrails.sloGuardCatchUpSeconds=120",
        "--set", "guardrails.breachFloor=false", "--set", "guardrails.surge=false",
        "--set", "guardrails.fallRelease=false", "--set", "guardrails.calmRule=false",
        "--set", "guardrails.sloGuardCalmTargetUtilisation=null",
        "--set", "guardrails.restartHold=false", "--set", "guardrails.headroom=false",
    )  # fmt: skip
    assert not of_kind(docs, "ServiceAccount")
    assert not [d for d in docs if d["kind"] in ("Role", "ClusterRole", "RoleBinding")]
    pod = one(docs, "Deployment")["spec"]["template"]
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "existing"
    assert spec["containers"][0]["image"] == f"ghcr.io/hrl-autoscaler/spark-hrl-autoscaler@{digest}"
    assert pod["metadata"]["annotations"]["team"] == "data"
    assert {"name": "HRL_AUTOSCALER_HISTORY_SIZE", "value": "40"} in spec["containers"][0]["env"]
    assert spec["tolerations"] == [{"key": "spark", "operator": "Exists"}]
    assert spec["nodeSelector"] == {"pool": "system"}
    assert spec["priorityClassName"] == "platform"
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
    assert tmp["emptyDir"] == {"sizeLimit": "32Mi"}
    configmap = next(
        c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")
    )
    assert settings_of(configmap, tmp_path).metrics_window_s == 15.0
    assert settings_of(configmap, tmp_path).guardrails.anticipation.enabled
    guardrails = settings_of(configmap, tmp_path).guardrails
    assert not guardrails.margin_trim.enabled
    assert not guardrails.raise_cap.enabled
    assert guardrails.slo_guard_catch_up_s == 120.0
    assert not guardrails.breach_floor.enabled
    assert not guardrails.surge.enabled
    assert not guardrails.fall_release.enabled
    assert not guardrails.calm_rule.enabled
    assert not guardrails.restart_hold.enabled
    assert not guardrails.headroom.enabled
    assert guardrails.slo_guard_calm_target_utilisation is None


def test_the_plain_manifest_matches_the_chart(tools: Tools, tmp_path: Path) -> None:
    """manifests/operator.yaml (no Helm) grants and secures exactly what the chart does."""
    plain = [d for d in yaml.safe_load_all((REPO / "manifests" / "operator.yaml").read_text()) if d]
    chart = tools.template("--set", "peering.enabled=true", "--set", "peering.name=hrl-autoscaler")
    assert one(plain, "ClusterRole")["rules"] == one(chart, "ClusterRole")["rules"]
    plain_pod = one(plain, "Deployment")["spec"]["template"]["spec"]
    chart_pod = one(chart, "Deployment")["spec"]["template"]["spec"]
    assert plain_pod["securityContext"] == chart_pod["securityContext"]
    plain_sc = plain_pod["containers"][0]["securityContext"]
    chart_sc = dict(chart_pod["containers"][0]["securityContext"])
    chart_sc.pop("seccompProfile")  # the pod's applies
    chart_sc.pop("privileged")  # false is the default
    assert plain_sc == chart_sc
    assert settings_of(one(plain, "ConfigMap"), tmp_path).defaults.weight_policy == "meta"


def test_an_unknown_extra_config_key_stops_the_operator_naming_it(
    tools: Tools, tmp_path: Path
) -> None:
    """extraConfig is free-form in the schema; the operator's settings reject a typo."""
    docs = tools.template("--set", "extraConfig.histroy_size=5")
    configmap = next(
        c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")
    )
    with pytest.raises(ValueError, match="histroy_size"):
        settings_of(configmap, tmp_path)


# -- install, upgrade, uninstall ----------------------------------------------------------------


def release_objects(tools: Tools, release: str) -> list[str]:
    """Every object labelled as part of ``release``, as kind/namespace/name."""
    kinds = (
        "deployments,services,configmaps,serviceaccounts,roles,rolebindings,"
        "clusterroles,clusterrolebindings,clusterkopfpeerings,kopfpeerings"
    )
    found = tools.get(kinds, "-A", "-l", f"app.kubernetes.io/instance={release}")
    return sorted(
        f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for o in found["items"]
    )


def test_install_upgrade_and_uninstall_on_the_api_server(tools: Tools, tmp_path: Path) -> None:
    release, namespace = "hrl-install", "hrl-install"
    install = tools.helm(
        "install", release, str(CHART), "-n", namespace, "--create-namespace",
        "--set", "prometheus.url=http://prometheus.monitoring.svc:9090",
    )  # fmt: skip
    assert "STATUS: deployed" in install.stdout
    assert "hrl-autoscaler.io/enabled=true" in install.stdout  # NOTES.txt
    try:
        name = fullname(release)
        deployment = tools.get("deployment", "-n", namespace, name)
        check_deployment(deployment)
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == name
        configmap = tools.get("configmap", "-n", namespace, f"{name}-config")
        settings = settings_of(configmap, tmp_path)
        assert settings.prometheus_url == "http://prometheus.monitoring.svc:9090"
        role = tools.get("clusterrole", name)
        assert role["rules"][0] == {
            "apiGroups": ["sparkoperator.k8s.io"],
            "resources": ["sparkapplications"],
            "verbs": ["get", "list", "watch", "patch"],
        }
        binding = tools.get("clusterrolebinding", name)
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": name, "namespace": namespace}
        ]
        service = tools.get("service", "-n", namespace, name)
        assert service["spec"]["ports"][0]["targetPort"] == "http-metrics"
        # the kopf peering and ExecutorBudget CRDs come with the chart (crds/), established
        for crd in ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev", BUDGETS):
            conditions = tools.get("crd", crd)["status"]["conditions"]
            assert {"type": "Established", "status": "True"} in [
                {"type": c["type"], "status": c["status"]} for c in conditions
            ]
        before = release_objects(tools, release)
        checksum = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

        upgrade = tools.helm(
            "upgrade", release, str(CHART), "-n", namespace, "--reuse-values",
            "--set", "defaults.mode=recommend", "--set", "decisionIntervalSeconds=60",
        )  # fmt: skip
        assert "REVISION: 2" in upgrade.stdout
        settings = settings_of(tools.get("configmap", "-n", namespace, f"{name}-config"), tmp_path)
        assert settings.defaults.mode == "recommend"
        assert settings.decision_interval_s == 60.0
        assert settings.prometheus_url == "http://prometheus.monitoring.svc:9090"  # reused
        deployment = tools.get("deployment", "-n", namespace, name)
        assert (
            deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != checksum
        )
        assert release_objects(tools, release) == before
        history = json.loads(tools.helm("history", release, "-n", namespace, "-o", "json").stdout)
        assert [h["status"] for h in history] == ["superseded", "deployed"]
    finally:
        tools.helm("uninstall", release, "-n", namespace, "--wait")
    assert release_objects(tools, release) == []
    assert tools.helm("status", release, "-n", namespace, check=False).returncode != 0


SERVICE_MONITOR_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "ServiceMonitor",
            "listKind": "ServiceMonitorList",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def test_the_service_monitor_is_created_only_where_its_api_is_served(
    tools: Tools, devenv: DevEnvHandle
) -> None:
    release, namespace = "hrl-monitor", "hrl-monitor"
    extensions = k8s_client.ApiextensionsV1Api(devenv.api_client)
    name = SERVICE_MONITOR_CRD["metadata"]["name"]
    if tools.kubectl("get", "crd", name, check=False).returncode == 0:
        pytest.skip("this cluster serves ServiceMonitor already: the case without it is untestable")
    tools.helm(
        "install", release, str(CHART), "-n", namespace, "--create-namespace",
        "--set", "serviceMonitor.enabled=true",
    )  # fmt: skip
    created_crd = False
    try:
        # no ServiceMonitor API: nothing rendered, nothing failed, and NOTES.txt says so
        status = tools.helm("status", release, "-n", namespace, "--show-resources").stdout
        assert "ServiceMonitor" not in status.split("NOTES:")[0]
        assert "does not serve" in status
        extensions.create_custom_resource_definition(SERVICE_MONITOR_CRD, _preload_content=False)
        created_crd = True
        wait_established(extensions, [name], 30.0)
        tools.helm("upgrade", release, str(CHART), "-n", namespace, "--reuse-values")
        monitor = tools.get("servicemonitor", "-n", namespace, fullname(release))
        assert monitor["spec"]["endpoints"][0]["port"] == "http-metrics"
        assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == release
    finally:
        tools.helm("uninstall", release, "-n", namespace, "--wait")
        if created_crd:
            extensions.delete_custom_resource_definition(name, _preload_content=False)
            wait_for(
                "the ServiceMonitor CRD to go",
                lambda: tools.kubectl("get", "crd", name, check=False).returncode != 0,
                30.0,
            )


# -- RBAC: the can-i matrix and the operator running as the chart's service account -------------


@dataclass
class Install:
    release: str
    namespace: str
    watched: tuple[str, ...]
    peering: bool
    values: dict[str, str]

    @property
    def name(self) -> str:
        return fullname(self.release)

    @property
    def sa(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


INSTALLS = {
    "cluster-wide": Install("hrl-cw", "hrl-cw", (), False, {}),
    "cluster-wide-peering": Install(
        "hrl-cwp", "hrl-cwp", (), True,
        {"peering.enabled": "true", "peering.name": "hrl-cwp", "replicaCount": "2"},
    ),
    "namespaced-peering": Install(
        "hrl-ns", "hrl-ns", ("hrl-ns-a", "hrl-ns-b"), True,
        {
            "watchNamespaces[0]": "hrl-ns-a",
            "watchNamespaces[1]": "hrl-ns-b",
            "peering.enabled": "true",
            "peering.name": "hrl-ns",
        },
    ),
}  # fmt: skip
OUTSIDE = "hrl-outside"  # a namespace no install watches


@pytest.fixture(scope="module")
def installs(tools: Tools, devenv: DevEnvHandle) -> Iterator[dict[str, Install]]:
    cluster = Cluster(devenv.api_client)
    for namespace in {OUTSIDE, *(ns for i in INSTALLS.values() for ns in i.watched)}:
        cluster.ensure_namespace(namespace)
    done = []
    try:
        for install in INSTALLS.values():
            sets = [arg for k, v in install.values.items() for arg in ("--set", f"{k}={v}")]
            tools.helm(
                "install", install.release, str(CHART), "-n", install.namespace,
                "--create-namespace", *sets,
            )  # fmt: skip
            done.append(install)
        yield INSTALLS
    finally:
        for install in done:
            tools.helm("uninstall", install.release, "-n", install.namespace, "--wait")


SPARK = "sparkapplications.sparkoperator.k8s.io"
BUDGETS = "executorbudgets.hrl-autoscaler.io"


def expected_matrix(install: Install) -> list[tuple[str, str, str | None, bool]]:
    """(verb, resource, namespace or None = all, allowed?) for one install."""
    inside = install.watched or ("hrl-apps-anywhere",)
    rows: list[tuple[str, str, str | None, bool]] = []
    for ns in inside:
        rows += [(verb, SPARK, ns, True) for verb in ("get", "list", "watch", "patch")]
        rows += [("create", "events", ns, True)]
        rows += [(verb, "configmaps", ns, True) for verb in ("list", "create", "patch")]
        # ExecutorBudgets: read and watched; only the status is written
        rows += [(verb, BUDGETS, ns, True) for verb in ("get", "list", "watch")]
        rows += [(verb, f"{BUDGETS}:status", ns, True) for verb in ("get", "patch")]
        rows += [
            (verb, BUDGETS, ns, False)
            for verb in ("create", "patch", "update", "delete", "deletecollection")
        ]
        rows += [
            ("delete", SPARK, ns, False),
            ("create", SPARK, ns, False),
            ("update", SPARK, ns, False),
            ("deletecollection", SPARK, ns, False),
            ("patch", f"{SPARK}:status", ns, False),
            ("get", "secrets", ns, False),
            ("list", "secrets", ns, False),
            ("get", "pods", ns, False),
            ("create", "pods", ns, False),
            ("delete", "pods", ns, False),
            ("create", "pods:exec", ns, False),
            ("get", "configmaps", ns, False),
            ("delete", "configmaps", ns, False),
            ("update", "configmaps", ns, False),
            ("delete", "events", ns, False),
            ("create", "roles.rbac.authorization.k8s.io", ns, False),
            ("create", "rolebindings.rbac.authorization.k8s.io", ns, False),
            ("create", "serviceaccounts:token", ns, False),
        ]
        if install.watched and install.peering:
            rows += [
                ("get", "kopfpeerings.kopf.dev/" + install.release, ns, True),
                ("patch", "kopfpeerings.kopf.dev/" + install.release, ns, True),
                ("patch", "kopfpeerings.kopf.dev/someone-else", ns, False),
                ("delete", "kopfpeerings.kopf.dev/" + install.release, ns, False),
            ]
            rows += [(v, "kopfpeerings.kopf.dev", ns, True) for v in ("list", "watch", "create")]
    rows += [
        ("list", "customresourcedefinitions.apiextensions.k8s.io", None, True),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io", None, True),
        ("update", "customresourcedefinitions.apiextensions.k8s.io", None, False),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io", None, False),
        ("create", "customresourcedefinitions.apiextensions.k8s.io", None, False),
        ("delete", "namespaces", None, False),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io", None, False),
        ("impersonate", "serviceaccounts", None, False),
        ("list", "secrets", None, False),
        ("list", "nodes", None, False),
    ]
    if install.peering and not install.watched:
        name = "clusterkopfpeerings.kopf.dev/" + install.release
        rows += [
            ("get", name, None, True),
            ("patch", name, None, True),
            ("patch", "clusterkopfpeerings.kopf.dev/someone-else", None, False),
            ("delete", name, None, False),
        ]
        rows += [
            (v, "clusterkopfpeerings.kopf.dev", None, True) for v in ("list", "watch", "create")
        ]
    if not install.peering:
        rows += [
            ("list", "clusterkopfpeerings.kopf.dev", None, False),
            ("patch", "clusterkopfpeerings.kopf.dev/hrl-autoscaler", None, False),
            ("list", "kopfpeerings.kopf.dev", inside[0], False),
        ]
    if install.watched:
        # nothing outside the watched namespaces, nothing cluster-wide but discovery
        rows += [
            ("list", "namespaces", None, True),
            ("watch", "namespaces", None, True),
            ("list", SPARK, None, False),
            ("list", "configmaps", None, False),
            ("patch", SPARK, OUTSIDE, False),
            ("list", SPARK, OUTSIDE, False),
            ("create", "events", OUTSIDE, False),
            ("create", "configmaps", OUTSIDE, False),
            ("list", "configmaps", install.namespace, False),  # not even its own namespace
            ("list", BUDGETS, None, False),
            ("list", BUDGETS, OUTSIDE, False),
            ("patch", f"{BUDGETS}:status", OUTSIDE, False),
            ("list", "kopfpeerings.kopf.dev", OUTSIDE, False),
        ]
    else:
        rows += [
            ("list", SPARK, None, True),
            ("watch", SPARK, None, True),
            ("list", "configmaps", None, True),
            ("list", BUDGETS, None, True),
            ("watch", BUDGETS, None, True),
            ("list", "namespaces", None, False),  # kopf lists namespaces only when namespaced
        ]
    return rows


@pytest.mark.parametrize("name", list(INSTALLS))
def test_rbac_can_i_matrix(tools: Tools, installs: dict[str, Install], name: str) -> None:
    install = installs[name]
    wrong = []
    lines = [f"can-i matrix for {name} ({install.sa}):"]
    for verb, resource, namespace, allowed in expected_matrix(install):
        actual = tools.can_i(verb, resource, install.sa, namespace)
        mark = "yes" if actual else "no "
        lines.append(f"  {mark} {verb:17} {resource:55} {namespace or '(cluster)'}")
        if actual != allowed:
            wrong.append((verb, resource, namespace, f"expected {allowed}, got {actual}"))
    print("\n".join(lines))
    assert wrong == []


@pytest.fixture(scope="module")
def stack(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The emulator on the session's control plane; each test starts its operator on it."""
    options = StackOptions(
        work_dir=tmp_path_factory.mktemp("chart-emulator"),
        env=devenv.env,
        speed=SPEED,
        emulator_tick_s=0.2,
        job_prefix="chart-",
        operator=False,
    )
    with LocalStack(options) as local:
        yield local


def service_account_kubeconfig(devenv: DevEnvHandle, install: Install, path: Path) -> Path:
    """A kubeconfig whose only credential is a TokenRequest token of the chart's account."""
    core = k8s_client.CoreV1Api(devenv.api_client)
    token = core.create_namespaced_service_account_token(
        install.name, install.namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    admin = yaml.safe_load(devenv.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": cluster["name"], "user": "operator"}}
        ],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("name", list(INSTALLS))
def test_the_operator_runs_on_the_charts_rbac_alone(
    tools: Tools,
    installs: dict[str, Install],
    stack: LocalStack,
    devenv: DevEnvHandle,
    tmp_path: Path,
    name: str,
) -> None:
    """The real operator, authenticated as the chart's service account with the chart's own
    config.yaml, decides, patches, reports and keeps state without one authorization error."""
    install = installs[name]
    cluster = Cluster(devenv.api_client)
    namespace = install.watched[-1] if install.watched else f"{install.release}-apps"
    cluster.ensure_namespace(namespace)
    chart_config = yaml.safe_load(
        tools.get("configmap", "-n", install.namespace, f"{install.name}-config")["data"][
            "config.yaml"
        ]
    )
    fast = stack.operator_config(
        kubeconfig=service_account_kubeconfig(devenv, install, tmp_path / "kubeconfig"),
        meta_interval_s=4.0,
        meta_min_samples=3,
        guardrails={"restart_cooldown_s": 8.0},
    )
    config = {**chart_config, **{k: v for k, v in fast.items() if k != "guardrails"}}
    config["guardrails"] = {**chart_config["guardrails"], **fast["guardrails"]}
    config["peering_lifetime_s"] = 5
    assert config["namespaces"] == list(install.watched)
    assert config["peering"] is install.peering
    in_place, meta = f"{install.release}-inplace", f"{install.release}-meta"
    cluster.create(
        namespace,
        spark_application(
            in_place, 2, {"actuation": "in-place", "weight-policy": "latency-first"}, 9000.0
        ),
    )
    cluster.create(namespace, spark_application(meta, 3, {"actuation": "restart"}, 3000.0))
    operator = stack.start_operator(
        f"operator-{name}", config=config, work_dir=tmp_path, wait=False
    )
    try:
        operator.wait_ready()
        wait_for(
            "an in-place scale-up written by the operator",
            lambda: int(annotations_of(cluster.get(namespace, in_place)).get(
                PREFIX + "target-executors", "0"
            )) > 2,
            timeout_s=WAIT_S,
        )  # fmt: skip
        [updated, *_] = wait_for(
            "a WeightsUpdated event on the meta-mode application",
            lambda: [e for e in cluster.events(namespace, meta) if e.reason == "WeightsUpdated"],
            timeout_s=WAIT_S,
        )
        assert parse_message(updated.message)["applied"] == "true"
        assert PREFIX + "alpha" in annotations_of(cluster.get(namespace, meta))
        decisions = [
            e for e in cluster.events(namespace, in_place) if e.reason == "ScalingDecision"
        ]
        assert decisions, cluster.events(namespace, in_place)
        assert written_by(cluster.get(namespace, in_place), FIELD_MANAGER)
        state = wait_for(
            "the state ConfigMap",
            lambda: cluster.configmap(namespace, configmap_name(in_place)),
            timeout_s=WAIT_S,
        )
        assert state["metadata"]["labels"]
        if install.peering:
            kind = "kopfpeerings" if install.watched else "clusterkopfpeerings"
            scope = ["-n", namespace] if install.watched else []
            peering = tools.get(f"{kind}.kopf.dev", *scope, install.release)
            assert peering.get("status"), "kopf wrote no keep-alive into the peering object"
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{operator.log_text()[-5000:]}") from None
    finally:
        exit_code = operator.stop()
        cluster.delete_all(namespace)
    log = operator.log_text()
    assert exit_code == 0, log[-3000:]
    problems = [line for line in log.splitlines() if any(p in line for p in RBAC_PROBLEMS)]
    assert problems == [], "\n".join(problems[:20])
