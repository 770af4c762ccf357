"""manifests/: the example SparkApplications, the Prometheus scrape setup and the kind cluster.

The examples are applied with ``kubectl apply --validate=strict`` to the real API server, which
validates them against the SparkApplication CRD the session installed (the upstream one when
``../shared/crds`` is there), into a namespace of their own (on a kind cluster the real
``spark-apps`` already runs them). Their annotations must be accepted by the operator's parser,
their arguments by the IoT job's and the load generator's command lines, and their drivers'
RBAC must allow exactly what the in-place agent needs. The example ExecutorBudget is applied
with them (the session installs its CRD) and must be valid and cover the three.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hrl_autoscaler.config import AnnotationDefaults, PrometheusQueries
from hrl_autoscaler.runtime.core.annotations import (
    ACCEPTED,
    ENABLED_LABEL,
    PREFIX,
    resolve_settings,
)
from hrl_autoscaler.runtime.core.budget.spec import BUDGET_API_VERSION, BUDGET_KIND, parse_budget
from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.budgets import Budgets
from hrl_autoscaler.tools.devenv.components import EMULATOR_PATHS
from hrl_autoscaler.tools.devenv.sparkapps import Cluster
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle
from hrl_autoscaler.tools.loadgen.command import add_arguments as add_loadgen_arguments
from hrl_autoscaler.tools.spark.iot_job import options_from_args

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
EXAMPLES = MANIFESTS / "examples"
NAMESPACE = "spark-apps"  # what the examples declare
TEST_NAMESPACE = "examples-e2e"  # where this test applies them
DRIVER_SA = "hrl-spark-driver"
SPARK_JOB_IMAGE = "ghcr.io/hrl-autoscaler/spark-hrl-autoscaler-spark:0.1.0"
JOB = "/opt/hrl-autoscaler/iot_job.py"

#: What each example is for: (weight policy, actuation, objective, SLO ms, min, max).
EXPECTED = {
    "smart-hospital": ("latency-first", "in-place", "slo", 1500.0, 2, 6),
    "smart-metering": ("cost-first", "in-place", "slo", 5000.0, 2, 6),
    "traffic-sensors": ("meta", "restart", "slo", 2000.0, 1, 6),
}


def example_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def apps() -> list[dict[str, Any]]:
    return [d for d in example_docs() if d["kind"] == "SparkApplication"]


def annotations(app: dict[str, Any]) -> dict[str, str]:
    return dict(app["metadata"].get("annotations") or {})


def budgets() -> list[dict[str, Any]]:
    return [d for d in example_docs() if d["kind"] == BUDGET_KIND]


def moved(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """``doc`` with every mention of the examples' namespace replaced by ``namespace``."""
    text = json.dumps(doc).replace(f'"{NAMESPACE}"', f'"{namespace}"')
    result: dict[str, Any] = json.loads(text)
    return result


# -- the examples as written --------------------------------------------------------------------


def test_three_examples_with_the_weight_policies_they_stand_for() -> None:
    found = {a["metadata"]["name"]: a for a in apps()}
    assert sorted(found) == sorted(EXPECTED)
    for name, app in found.items():
        assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
        assert app["metadata"]["namespace"] == NAMESPACE
        assert app["metadata"]["labels"][ENABLED_LABEL] == "true"
        resolution = resolve_settings(annotations(app), AnnotationDefaults(), None)
        assert resolution.errors == (), [str(e) for e in resolution.errors]
        assert resolution.valid
        s = resolution.settings
        got = (
            s.weight_policy,
            s.actuation,
            s.objective,
            s.latency_slo_ms,
            s.min_executors,
            s.max_executors,
        )
        assert got == EXPECTED[name]
        assert s.mode == "auto"
        # every annotation is one the operator reads (a typo would silently do nothing)
        unknown = [k for k in annotations(app) if k.startswith(PREFIX) and k not in ACCEPTED]
        assert unknown == []


def test_each_example_runs_the_iot_job_from_the_spark_job_image() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(rf"^COPY \S+/iot_job\.py {re.escape(JOB)}$", dockerfile, re.MULTILINE)
    for app in apps():
        name, spec = app["metadata"]["name"], app["spec"]
        assert spec["image"] == SPARK_JOB_IMAGE
        assert spec["type"] == "Python"
        assert spec["mainApplicationFile"] == f"local://{JOB}"
        conf = spec["sparkConf"]
        assert conf["spark.sql.streaming.metricsEnabled"] == "true"
        assert conf["spark.metrics.namespace"] == "spark"
        assert conf["spark.dynamicAllocation.enabled"] == "false"
        servlet = conf["spark.metrics.conf.*.sink.prometheusServlet.path"]
        assert servlet == EMULATOR_PATHS["emulator-streaming"]
        # the job's own command line accepts the arguments
        options = options_from_args(spec["arguments"])
        assert options.app_name == name  # executor series carry it as application_name
        settings = resolve_settings(annotations(app), AnnotationDefaults(), None).settings
        if settings.actuation == "in-place":
            assert options.agent == "annotation"
            assert (options.min_executors, options.max_executors) == (
                settings.min_executors,
                settings.max_executors,
            )
        else:
            assert options.agent == "none"
        executors = spec["executor"]["instances"]
        assert settings.min_executors <= executors <= settings.max_executors
        assert spec["driver"]["serviceAccount"] == DRIVER_SA
        # the load generator sidecar's command line is valid, and writes where the job reads
        [loadgen] = spec["driver"]["sidecars"]
        command = loadgen["command"]
        assert command[:2] == ["/opt/hrl-autoscaler/venv/bin/hrl-autoscaler", "loadgen"]
        parser = argparse.ArgumentParser()
        add_loadgen_arguments(parser)
        loadgen_args = parser.parse_args(command[2:])
        assert loadgen_args.out == options.input_dir
        assert loadgen_args.scenario == name
        mounts = {m["mountPath"] for m in spec["executor"]["volumeMounts"]}
        assert any(options.input_dir.is_relative_to(m) for m in mounts), mounts


def test_the_example_budget_is_valid_and_covers_the_three_examples() -> None:
    [budget] = budgets()
    assert budget["apiVersion"] == BUDGET_API_VERSION
    assert budget["metadata"]["namespace"] == NAMESPACE
    parsed = parse_budget(budget)
    assert parsed.errors == (), [str(e) for e in parsed.errors]
    spec = parsed.spec
    assert spec is not None
    covered = [
        a["metadata"]["name"]
        for a in apps()
        if spec.covers_namespace(NAMESPACE, a["metadata"]["namespace"])
        and spec.selector.matches(a["metadata"]["labels"])
    ]
    assert sorted(covered) == sorted(EXPECTED)
    # a budget that can bind: less than the examples' maxima together, more than their minima
    assert spec.max_executors is not None
    assert sum(e[4] for e in EXPECTED.values()) < spec.max_executors
    assert spec.max_executors < sum(e[5] for e in EXPECTED.values())


# -- on the API server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kubectl(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = ensure_binaries(print, require_prometheus=False).kubectl
    home = tmp_path_factory.mktemp("kubectl-home")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), "--kubeconfig", str(devenv.kubeconfig), *args],
            input=stdin,
            env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


@pytest.fixture(scope="module")
def applied(kubectl: Any, devenv: DevEnvHandle) -> Iterator[list[dict[str, Any]]]:
    docs = [moved(d, TEST_NAMESPACE) for d in example_docs()]
    stream = yaml.safe_dump_all(docs)
    result = kubectl("apply", "--validate=strict", "-f", "-", stdin=stream)
    cluster = Cluster(devenv.api_client)
    try:
        assert result.returncode == 0, result.stderr
        yield docs
    finally:
        # the emulators and operators of other tests must not find these applications
        cluster.delete_all(TEST_NAMESPACE)
        Budgets(devenv.api_client).delete_all(TEST_NAMESPACE)
        kubectl("delete", "pvc", "--all", "-n", TEST_NAMESPACE, "--wait=false")


def test_every_example_is_accepted_by_the_crd_with_strict_validation(
    applied: list[dict[str, Any]], devenv: DevEnvHandle
) -> None:
    cluster = Cluster(devenv.api_client)
    stored = {a["metadata"]["name"]: a for a in cluster.list_apps(TEST_NAMESPACE)}
    assert sorted(stored) == sorted(EXPECTED)
    for doc in applied:
        if doc["kind"] != "SparkApplication":
            continue
        app = stored[doc["metadata"]["name"]]
        # nothing was pruned: what the API server keeps is what the file says
        assert app["spec"] == doc["spec"]
        assert annotations(app) == annotations(doc) | {
            k: v for k, v in annotations(app).items() if k.startswith("kubectl.kubernetes.io/")
        }
    for doc in applied:
        if doc["kind"] == BUDGET_KIND:
            budget = Budgets(devenv.api_client).get(TEST_NAMESPACE, doc["metadata"]["name"])
            assert budget is not None
            assert budget["spec"] == doc["spec"]  # nothing pruned


def test_strict_validation_rejects_a_misspelt_field(
    kubectl: Any, upstream_crd: Path | None
) -> None:
    """The control for the test above: a field the CRD does not know is refused (by the
    upstream schema; the project's stand-in keeps unknown fields)."""
    app = moved(copy.deepcopy(apps()[0]), TEST_NAMESPACE)
    app["metadata"]["name"] = "misspelt"
    app["spec"]["executor"]["instancess"] = 3
    result = kubectl(
        "apply", "--validate=strict", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(app)
    )
    assert result.returncode != 0
    assert 'unknown field "spec.executor.instancess"' in result.stderr


def test_the_driver_account_may_read_only_its_applications(
    applied: list[dict[str, Any]], kubectl: Any
) -> None:
    account = f"--as=system:serviceaccount:{TEST_NAMESPACE}:{DRIVER_SA}"
    cases = [
        ("get", "sparkapplications.sparkoperator.k8s.io/smart-hospital", True),
        ("get", "sparkapplications.sparkoperator.k8s.io/traffic-sensors", True),
        ("get", "sparkapplications.sparkoperator.k8s.io/someone-else", False),
        ("patch", "sparkapplications.sparkoperator.k8s.io/smart-hospital", False),
        ("list", "sparkapplications.sparkoperator.k8s.io", False),
        ("create", "pods", True),  # the driver starts its executors
        ("delete", "pods", True),
        ("get", "secrets", False),
        ("create", "roles.rbac.authorization.k8s.io", False),
    ]
    wrong = []
    for verb, resource, allowed in cases:
        result = kubectl("auth", "can-i", verb, resource, "-n", TEST_NAMESPACE, account)
        assert result.returncode in (0, 1), result.stderr
        if (result.returncode == 0) != allowed:
            wrong.append((verb, resource, allowed))
    assert wrong == []


# -- monitoring ---------------------------------------------------------------------------------


def sanitize(name: str) -> str:
    """How Prometheus' Kubernetes discovery turns a pod label into a meta label name."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus' ``keep`` and ``replace`` relabelling (anchored regex, ``;`` separator);
    None when the target is dropped. Labels starting with ``__`` are removed at the end."""
    labels = dict(labels)
    for rule in rules:
        source = rule.get("source_labels", rule.get("sourceLabels", []))
        value = ";".join(labels.get(name, "") for name in source)
        regex = re.compile(rule.get("regex", "(.*)"))
        action = rule.get("action", "replace")
        match = regex.fullmatch(value)
        if action == "keep":
            if not match:
                return None
        elif action == "replace":
            if match:
                target = rule.get("target_label", rule.get("targetLabel"))
                replacement = rule.get("replacement", "$1")
                result = match.expand(re.sub(r"\$(\d+)", r"\\\1", replacement))
                if result:
                    labels[target] = result
                else:
                    labels.pop(target, None)
        else:
            raise AssertionError(f"relabel action {action} not modelled")
    return {k: v for k, v in labels.items() if not k.startswith("__")}


def discovered(pod_labels: dict[str, str], port_name: str, phase: str) -> dict[str, str]:
    labels = {
        "__meta_kubernetes_namespace": "spark-apps",
        "__meta_kubernetes_pod_name": "smart-hospital-driver",
        "__meta_kubernetes_pod_phase": phase,
        "__meta_kubernetes_pod_container_port_name": port_name,
        "__address__": "10.0.0.7:4040",
    }
    labels.update({f"__meta_kubernetes_pod_label_{sanitize(k)}": v for k, v in pod_labels.items()})
    return labels


#: The labels Spark and the Spark Operator put on a driver pod.
DRIVER_POD = {
    "spark-role": "driver",
    "spark-app-selector": "spark-4f9c2b",
    "sparkoperator.k8s.io/app-name": "smart-hospital",
    "sparkoperator.k8s.io/launched-by-spark-operator": "true",
}


def test_the_scrape_config_labels_driver_series_the_way_the_operator_matches_them() -> None:
    jobs = yaml.safe_load((MANIFESTS / "monitoring" / "scrape-config.yaml").read_text())
    paths = {job["metrics_path"] for job in jobs}
    assert paths == {EMULATOR_PATHS["emulator-executors"], EMULATOR_PATHS["emulator-streaming"]}
    queries = PrometheusQueries()
    for job in jobs:
        assert job["honor_labels"] is True
        [sd] = job["kubernetes_sd_configs"]
        assert sd["role"] == "pod"
        assert {"role": "pod", "label": "spark-role=driver"} in sd["selectors"]
        rules = job["relabel_configs"]
        target = relabel(discovered(DRIVER_POD, "spark-ui", "Running"), rules)
        assert target == {
            "namespace": "spark-apps",
            "pod": "smart-hospital-driver",
            "application_id": "spark-4f9c2b",
            "application_name": "smart-hospital",
        }
        # the operator's queries group by these labels and match applications by them
        grouped = re.search(r"by \(([^)]*)\)", queries.latency)
        assert grouped is not None
        assert set(grouped.group(1).split(", ")) <= set(target)
        assert queries.name_labels[0] in target
        assert queries.namespace_labels[0] in target
        # and nothing else is scraped: other ports, pods not yet running, plain Spark drivers
        assert relabel(discovered(DRIVER_POD, "driver-rpc-port", "Running"), rules) is None
        assert relabel(discovered(DRIVER_POD, "spark-ui", "Pending"), rules) is None
        plain = {k: v for k, v in DRIVER_POD.items() if not k.startswith("sparkoperator")}
        assert relabel(discovered(plain, "spark-ui", "Running"), rules) is None


def test_the_pod_monitor_is_the_scrape_config_for_the_prometheus_operator() -> None:
    monitor = yaml.safe_load((MANIFESTS / "monitoring" / "podmonitor.yaml").read_text())
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "PodMonitor"
    assert monitor["spec"]["selector"]["matchLabels"] == {"spark-role": "driver"}
    assert monitor["spec"]["selector"]["matchExpressions"] == [
        {"key": "sparkoperator.k8s.io/app-name", "operator": "Exists"}
    ]
    jobs = yaml.safe_load((MANIFESTS / "monitoring" / "scrape-config.yaml").read_text())
    by_path = {job["metrics_path"]: job for job in jobs}
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    assert {e["path"] for e in endpoints} == set(by_path)
    for endpoint in endpoints:
        job = by_path[endpoint["path"]]
        assert endpoint["port"] == "spark-ui"
        assert endpoint["honorLabels"] is job["honor_labels"]
        assert endpoint["interval"] == job["scrape_interval"]
        # the prometheus-operator adds namespace and pod itself; the rest is relabelled alike
        pod_monitor_labels = relabel(
            discovered(DRIVER_POD, "spark-ui", "Running"), endpoint["relabelings"]
        )
        scrape_labels = relabel(
            discovered(DRIVER_POD, "spark-ui", "Running"), job["relabel_configs"]
        )
        assert pod_monitor_labels is not None
        assert scrape_labels is not None
        added_by_the_operator = ("namespace", "pod")
        assert {
            k: v for k, v in scrape_labels.items() if k not in added_by_the_operator
        } == pod_monitor_labels


def test_the_lag_exporter_deployment_runs_the_cli_and_is_scraped_by_its_job() -> None:
    """The exporter's Deployment passes options the CLI accepts, from the image that has the
    [kafka] extra; its scrape job keeps that pod's metrics port and the exporter's own
    ``namespace`` label (the applications'), which the operator's backlog query groups by."""
    from hrl_autoscaler.tools.kafka_lag.command import add_arguments

    deployment = yaml.safe_load((MANIFESTS / "monitoring" / "kafka-lag-exporter.yaml").read_text())
    assert deployment["spec"]["replicas"] == 1
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].split(":")[0].endswith("spark-hrl-autoscaler-spark")
    command, subcommand, *options = container["args"]
    assert (command, subcommand) == ("hrl-autoscaler", "kafka-lag-exporter")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(options)
    [port] = container["ports"]
    assert args.port == port["containerPort"]
    assert args.listen == "0.0.0.0"  # noqa: S104 (scraped from other pods)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()

    [job] = yaml.safe_load((MANIFESTS / "monitoring" / "kafka-lag-scrape-config.yaml").read_text())
    assert job["honor_labels"] is True
    [sd] = job["kubernetes_sd_configs"]
    name = labels["app.kubernetes.io/name"]
    assert {"role": "pod", "label": f"app.kubernetes.io/name={name}"} in sd["selectors"]
    exporter_pod = {f"__meta_kubernetes_pod_label_{sanitize(k)}": v for k, v in labels.items()}
    kept = relabel(
        {
            **exporter_pod,
            "__meta_kubernetes_pod_container_port_name": port["name"],
            "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_pod_name": "kafka-lag-exporter-0",
        },
        job["relabel_configs"],
    )
    assert kept == {"pod": "kafka-lag-exporter-0"}
    assert "namespace" not in kept  # the series keep the exporter's own
    pending = {
        **exporter_pod,
        "__meta_kubernetes_pod_container_port_name": port["name"],
        "__meta_kubernetes_pod_phase": "Pending",
    }
    assert relabel(pending, job["relabel_configs"]) is None


def test_the_kind_cluster_has_one_node_for_the_shared_event_volumes() -> None:
    config = yaml.safe_load((MANIFESTS / "kind" / "cluster.yaml").read_text())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [n["role"] for n in config["nodes"]] == ["control-plane"]
    claims = [d for d in example_docs() if d["kind"] == "PersistentVolumeClaim"]
    assert claims
    assert all(c["spec"]["accessModes"] == ["ReadWriteOnce"] for c in claims)
