"""The chart for real: ``helm install`` of our image on the real node, the operator as a pod.

Everything here runs as users deploy it: the operator image built from the project's Dockerfile
(``hrl_autoscaler.tools.devenv.images``) and imported into the node's containerd, installed by
``helm install`` with ``imagePullPolicy: Never`` (nothing can be pulled here), started by the
kubelet with the chart's probes, security context and in-cluster service-account token. The
session's Prometheus on the host (which pods reach as ``prometheus.monitoring.svc``) scrapes
the emulated Spark data plane (a host process that plays the Spark Operator) and, for the
discovery test, finds a driver-like pod with the shipped ``kubernetes_sd_configs`` jobs.
"""

from __future__ import annotations

import itertools
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client

from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.runtime.k8s.actuator import FIELD_MANAGER
from hrl_autoscaler.tools.devenv.binaries import find_upstream_prometheus
from hrl_autoscaler.tools.devenv.components import Emulator
from hrl_autoscaler.tools.devenv.node.chart import (
    OPERATOR_NS,
    RELEASE,
    Install,
    install_operator,
    operator_pod,
    ready,
)
from hrl_autoscaler.tools.devenv.node.handle import NodeHandle
from hrl_autoscaler.tools.devenv.processes import free_port
from hrl_autoscaler.tools.devenv.prometheus import Prometheus, query
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    SeenEvent,
    current_executors,
    spark_application,
    wait_for,
    written_by,
)

pytestmark = pytest.mark.node

REPO = Path(__file__).resolve().parents[2]
SCRAPE_CONFIG = REPO / "manifests" / "monitoring" / "scrape-config.yaml"
APPS_NS = "node-apps"
SPEED = 30.0
#: Target of issue 18: the operator pod Ready within 30 s of `helm install`. The assertion allows
#: a loaded CI machine twice that; the measured time is printed (and quoted in the notes).
READY_TARGET_S = 30.0
READY_LIMIT_S = 60.0


def _progress(message: str) -> None:
    print(message, flush=True)


def _speed_values(prometheus_url: str) -> dict[str, Any]:
    """Values for an operator driving the emulator SPEED times faster than real time."""
    return {
        "prometheus": {"url": prometheus_url},
        "watchNamespaces": [APPS_NS],
        "decisionIntervalSeconds": 30.0 / SPEED,
        "metaIntervalSeconds": 600.0 / SPEED,
        "maxMetricAgeSeconds": max(120.0 / SPEED, 5.0),
        "firstBatchGraceSeconds": 180.0 / SPEED,
        "metricsWindowSeconds": max(30.0 / SPEED, 2.0),
        "guardrails": {"restartCooldownSeconds": 8.0, "scaleDownConfirmations": 3},
    }


@pytest.fixture(scope="module")
def install(node_env: NodeHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    work = tmp_path_factory.mktemp("node-chart")
    assert node_env.prometheus_pod_url is not None
    emulator = Emulator(node_env.kubeconfig, work / "emulator", SPEED, 0.2)
    jobs = emulator.scrape_targets()
    for target in jobs:
        node_env.env.add_scrape_target(target)
    core = k8s_client.CoreV1Api(node_env.api_client)
    installed: Install | None = None
    try:
        core.create_namespace(
            k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name=APPS_NS))
        )
        installed = install_operator(
            node_env, _speed_values(node_env.prometheus_pod_url), work, _progress
        )
        print(
            f"operator pod Ready {installed.ready_s:.1f} s after helm install "
            f"(target {READY_TARGET_S:.0f} s)"
        )
        yield installed
    finally:
        if installed is not None:
            installed.uninstall()
        node_env.kubectl("delete", "namespace", APPS_NS, "--wait=true", check=False, timeout=120)
        for target in jobs:
            node_env.env.remove_scrape_target(target.job)
        emulator.stop()


def test_the_operator_pod_is_ready_soon_after_helm_install(install: Install) -> None:
    assert install.ready_s <= READY_LIMIT_S, f"Ready after {install.ready_s:.0f} s"
    status = json.loads(
        install.tools.kubectl("get", "pod", "-n", OPERATOR_NS, install.pod, "-o", "json").stdout
    )["status"]
    [container] = status["containerStatuses"]
    assert container["ready"], container
    assert container["restartCount"] == 0, container
    assert container["imageID"], container  # the kubelet ran our imported image


def test_it_runs_as_non_root_on_a_read_only_root_filesystem(install: Install) -> None:
    uid = install.tools.exec(install.pod, OPERATOR_NS, "id", "-u")
    assert uid.returncode == 0, uid.stderr
    assert uid.stdout.strip() == "65532", uid.stdout
    probe = textwrap.dedent(
        """
        import errno, json
        def writable(path):
            try:
                open(path, "w").close()
                return True
            except OSError as exc:
                return errno.errorcode[exc.errno]
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(json.dumps({
            "app": writable("/app/probe"),
            "root": writable("/probe"),
            "tmp": writable("/tmp/probe"),
            "no_new_privs": status["NoNewPrivs"].strip(),
            "cap_eff": status["CapEff"].strip(),
            "seccomp": status["Seccomp"].strip(),
        }))
        """
    )
    result = install.tools.exec(install.pod, OPERATOR_NS, "python", "-c", probe)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["app"] == "EROFS", seen
    assert seen["root"] == "EROFS", seen
    assert seen["tmp"] is True, seen  # the chart's emptyDir
    assert seen["no_new_privs"] == "1", seen  # allowPrivilegeEscalation: false
    assert int(seen["cap_eff"], 16) == 0, seen  # capabilities: drop ALL
    assert seen["seccomp"] == "2", seen  # RuntimeDefault: a filter is installed


def test_its_in_cluster_token_has_exactly_the_rights_the_chart_grants(install: Install) -> None:
    """SelfSubjectAccessReviews sent from inside the pod with its mounted token."""
    matrix = [
        ("patch", "sparkoperator.k8s.io", "sparkapplications", APPS_NS, True),
        ("watch", "sparkoperator.k8s.io", "sparkapplications", APPS_NS, True),
        ("create", "", "events", APPS_NS, True),
        ("delete", "sparkoperator.k8s.io", "sparkapplications", APPS_NS, False),
        ("patch", "sparkoperator.k8s.io", "sparkapplications", "default", False),
        ("list", "", "secrets", APPS_NS, False),
        ("list", "", "pods", APPS_NS, False),
        ("list", "", "nodes", "", False),
    ]
    probe = textwrap.dedent(
        f"""
        import json
        from kubernetes import client, config
        config.load_incluster_config()
        api = client.AuthorizationV1Api()
        out = []
        for verb, group, resource, namespace, _ in {matrix!r}:
            review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, group=group, resource=resource, namespace=namespace or None)))
            out.append(api.create_self_subject_access_review(review).status.allowed)
        print(json.dumps(out))
        """
    )
    result = install.tools.exec(install.pod, OPERATOR_NS, "python", "-c", probe)
    assert result.returncode == 0, result.stderr
    allowed = json.loads(result.stdout)
    wrong = [(row[:4], got) for row, got in zip(matrix, allowed, strict=True) if got != row[4]]
    assert wrong == []


def _decisions(cluster: Cluster, name: str) -> list[SeenEvent]:
    """The ScalingDecision events on ``name``, oldest first."""
    return [e for e in cluster.events(APPS_NS, name) if e.reason == "ScalingDecision"]


def test_the_operator_pod_scales_an_emulated_application(install: Install) -> None:
    cluster = Cluster(install.api)
    name = "node-scaled"
    cluster.create(APPS_NS, spark_application(name, 2, {"weight-policy": "balanced"}, 9000.0))
    scaled = wait_for(
        f"{name} scaled by the operator pod",
        lambda: o if current_executors(o := cluster.get(APPS_NS, name)) > 2 else None,
        120,
    )
    assert written_by(scaled, FIELD_MANAGER), scaled["metadata"].get("managedFields")
    # the operator posts its events from a queue after the patch, so the event may trail the write
    wait_for(
        f"{name}'s ScalingDecision event",
        lambda: _decisions(cluster, name) or None,
        30,
    )
    logs = install.tools.kubectl("logs", "-n", OPERATOR_NS, install.pod).stdout
    for problem in ("Forbidden", "Unauthorized", "Traceback", "patch rejected"):
        assert problem not in logs, logs[-3000:]


def test_a_deleted_operator_pod_is_replaced_and_carries_on_without_repeating_itself(
    install: Install,
) -> None:
    """The pod-level fault: the operator's pod deleted at once (no grace, as on a node loss);
    the Deployment's replacement resumes from the records on the object, and every change after
    follows from where the previous one left the application (none repeated, none lost)."""
    cluster = Cluster(install.api)
    core = k8s_client.CoreV1Api(install.api)
    name = "node-survivor"
    # 3000 events/s on 2 executors (about 1,940 events/s of capacity): a backlog from the start,
    # so the first decision is a scale-up the load calls for (a raise at a trickle is capped)
    cluster.create(APPS_NS, spark_application(name, 2, {"actuation": "in-place"}, 3000.0))
    wait_for(
        f"a first decision for {name}",
        lambda: _decisions(cluster, name) or None,
        120,
    )
    old = install.pod
    install.tools.kubectl(
        "delete", "pod", "-n", OPERATOR_NS, old, "--grace-period=0", "--force", "--wait=false"
    )
    pod = wait_for(
        "a replacement operator pod Ready",
        lambda: p if ready(p := operator_pod(core)) and p.metadata.name != old else None,
        180,
    )
    install.pod = pod.metadata.name
    before = current_executors(cluster.get(APPS_NS, name))
    cluster.set_rate(APPS_NS, name, 9000.0)
    wait_for(
        f"{name} scaled by the replacement pod",
        lambda: current_executors(cluster.get(APPS_NS, name)) > before or None,
        120,
    )
    steps = [parse_message(e.message)["executors"].split("->") for e in _decisions(cluster, name)]
    for (_, after), (start, _) in itertools.pairwise(steps):
        assert start == after, steps


def test_helm_test_passes(install: Install) -> None:
    result = install.tools.helm("test", RELEASE, "-n", OPERATOR_NS, "--timeout", "3m", check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "Phase:          Succeeded" in result.stdout, result.stdout


DRIVER_SERVER = textwrap.dedent(
    """
    import http.server
    BODY = {
        "/metrics/executors/prometheus":
            'metrics_executor_activeTasks{executor_id="1"} 3\\n',
        "/metrics/prometheus": "metrics_app_streaming_inputRate 42\\n",
    }
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = BODY.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")  # as Spark's servlet
            self.end_headers()
            self.wfile.write((body or "").encode())
    http.server.ThreadingHTTPServer(("", 4040), Handler).serve_forever()
    """
)


@pytest.fixture
def upstream_prometheus(install: Install, tmp_path: Path) -> Iterator[Prometheus]:
    """Upstream Prometheus (built from the module proxy): Debian's leaves Kubernetes service
    discovery out, and the shipped scrape config is written with it."""
    prometheus = Prometheus(
        find_upstream_prometheus(), tmp_path / "config", tmp_path / "data", free_port()
    )
    prometheus.start(tmp_path / "prometheus.log")
    try:
        prometheus.wait_ready()
        yield prometheus
    finally:
        prometheus.stop()


def test_prometheus_discovers_driver_pods_as_the_shipped_scrape_config_says(
    install: Install, upstream_prometheus: Prometheus
) -> None:
    """The jobs of manifests/monitoring/scrape-config.yaml, as written but for where the API is
    and how often to scrape, find a pod labelled like a Spark Operator driver and label its
    series the way the operator matches SparkApplications."""
    jobs = yaml.safe_load(SCRAPE_CONFIG.read_text())
    for job in jobs:
        job["scrape_interval"] = job["scrape_timeout"] = "1s"
        for sd in job["kubernetes_sd_configs"]:
            sd["kubeconfig_file"] = str(install.kubeconfig)
    upstream_prometheus.set_raw_jobs(jobs)
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "fake-driver",
            "labels": {
                "spark-role": "driver",
                "sparkoperator.k8s.io/app-name": "discovered",
                "spark-app-selector": "spark-0123",
            },
        },
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532},
            "containers": [
                {
                    "name": "spark-kubernetes-driver",
                    "image": install.image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", DRIVER_SERVER],
                    "ports": [{"name": "spark-ui", "containerPort": 4040}],
                }
            ],
        },
    }
    k8s_client.CoreV1Api(install.api).create_namespaced_pod(APPS_NS, pod)

    def series() -> list[dict[str, Any]] | None:
        found = query(upstream_prometheus.url, '{application_name="discovered"}')
        names = {s["metric"]["__name__"] for s in found}
        wanted = {"metrics_executor_activeTasks", "metrics_app_streaming_inputRate"}
        return found if wanted <= names else None

    found = wait_for("the driver pod's series in Prometheus", series, 90, every_s=1.0)
    for s in found:
        labels = s["metric"]
        assert labels["namespace"] == APPS_NS, labels
        assert labels["application_id"] == "spark-0123", labels
        assert labels["pod"] == "fake-driver", labels
