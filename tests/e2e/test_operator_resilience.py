"""The operator when things break: Prometheus gone, the operator killed, several replicas.

Each test starts its own operator(s) on its own namespace, so what one breaks does not reach
the others; one emulator (30x real time) serves the module.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.runtime.k8s.statestore import configmap_name
from hrl_autoscaler.tools.devenv.components import OperatorProcess
from hrl_autoscaler.tools.devenv.crds import apply_crds
from hrl_autoscaler.tools.devenv.processes import free_port
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    app_state,
    current_executors,
    spark_application,
    wait_for,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

SPEED = 30.0
MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


class TcpProxy:
    """Forwards 127.0.0.1:port to an upstream; stop() refuses connections, hang() accepts and
    never answers, start() resumes.

    Stands in for "Prometheus is unreachable" (or hung) without touching the session's
    Prometheus.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.hung = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            if self.hung:  # accepted, never answered: a SIGSTOPped Prometheus
                with self._lock:
                    self._sockets.append(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def hang(self) -> None:
        """Keep accepting connections but answer none (open ones are dropped first)."""
        self.hung = True
        self._drop_connections()

    def resume(self) -> None:
        """Forward again (the connections held while hung are dropped)."""
        self.hung = False
        self._drop_connections()

    def _drop_connections(self) -> None:
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.close()
            self._sockets.clear()

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the accept() blocked on it
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        self._drop_connections()


@pytest.fixture(scope="module")
def stack(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The module's emulator on the session's control plane; tests start their own operators."""
    options = StackOptions(
        work_dir=tmp_path_factory.mktemp("resilience-emulator"),
        env=devenv.env,
        speed=SPEED,
        emulator_tick_s=0.2,
        operator=False,
    )
    with LocalStack(options) as local:
        yield local


@pytest.fixture
def cluster(devenv: DevEnvHandle) -> Cluster:
    return Cluster(devenv.api_client)


def _namespace(cluster: Cluster, name: str) -> Iterator[str]:
    cluster.ensure_namespace(name)
    try:
        yield name
    finally:
        cluster.delete_all(name)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    short = request.node.name.removeprefix("test_")[:40].replace("_", "-").rstrip("-")
    yield from _namespace(cluster, short)


def _operator(
    stack: LocalStack,
    work: Path,
    namespace: str,
    name: str = "operator",
    prometheus_url: str | None = None,
    **overrides: Any,
) -> OperatorProcess:
    return stack.start_operator(
        name, work_dir=work, namespaces=[namespace], prometheus_url=prometheus_url, **overrides
    )


def _events(cluster: Cluster, namespace: str, name: str, reason: str) -> list[Any]:
    return [e for e in cluster.events(namespace, name) if e.reason == reason]


def _outage_events(cluster: Cluster, namespace: str, name: str) -> list[Any]:
    """MetricsUnavailable events that blame Prometheus: on a loaded machine the new application may
    also get one for its first unscraped cycles ("no series for ..."), which is right but not this
    test's subject."""
    return [
        e
        for e in _events(cluster, namespace, name, "MetricsUnavailable")
        if parse_message(e.message).get("reason", "").startswith("prometheus unavailable: ")
    ]


def test_prometheus_unreachable_holds_then_recovers(
    devenv: DevEnvHandle,
    stack: LocalStack,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    proxy = TcpProxy(int(devenv.prometheus_url.rsplit(":", 1)[1]))
    proxy.start()
    operator = _operator(stack, tmp_path, namespace, prometheus_url=proxy.url)
    try:
        name = "prom-app"
        body = spark_application(
            name, 4, {"actuation": "in-place", "weight-policy": "latency-first"}, rate_eps=2000
        )
        cluster.create(namespace, body)
        wait_for(
            "a first decision",
            lambda: "hrl_autoscaler_decisions_total{" in operator.metrics(),
            timeout_s=25.0,
        )
        proxy.stop()
        [warning] = wait_for(
            "MetricsUnavailable for the outage",
            lambda: _outage_events(cluster, namespace, name),
            timeout_s=15.0,
        )
        assert parse_message(warning.message)["action"] == "hold"
        # read only now: a change decided on the last good metrics may land after proxy.stop()
        held = current_executors(cluster.get(namespace, name))
        cluster.set_rate(namespace, name, 9000.0)  # would scale up, if the operator could see it
        time.sleep(3.0)
        assert current_executors(cluster.get(namespace, name)) == held
        assert 'hrl_autoscaler_prometheus_errors_total{query="all"}' in operator.metrics()
        proxy.start()
        wait_for(
            "a scale-up once Prometheus is back",
            lambda: current_executors(cluster.get(namespace, name)) > held,
            timeout_s=15.0,
        )
        assert len(_outage_events(cluster, namespace, name)) == 1
        assert "metrics available again" in operator.log_text()
    finally:
        proxy.stop()
        assert operator.stop() == 0


def _decided(operator: OperatorProcess, namespace: str, name: str) -> bool:
    return any(
        sample.labels.get("namespace") == namespace and sample.labels.get("application") == name
        for family in text_string_to_metric_families(operator.metrics())
        if family.name == "hrl_autoscaler_decisions"
        for sample in family.samples
    )


def test_a_new_run_is_held_until_its_first_micro_batch(
    devenv: DevEnvHandle,
    stack: LocalStack,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    """Until its first micro-batch a Spark run reports rates and latency 0 with every slot busy:
    the operator holds rather than read that as an overload, and stops waiting after the grace.
    """
    grace_s = 20.0
    operator = _operator(stack, tmp_path, namespace, first_batch_grace_s=grace_s)
    try:
        settings = {"actuation": "in-place", "weight-policy": "latency-first"}
        # first batch 10 s (real) after start; the other never completes one
        warming, stuck = "warming-app", "stuck-app"
        cluster.create(
            namespace,
            spark_application(warming, 2, settings, rate_eps=300, first_batch_s=10 * SPEED),
        )
        cluster.create(
            namespace, spark_application(stuck, 2, settings, rate_eps=300, first_batch_s=1e6)
        )
        wait_for(
            "the operator to hold both applications",
            lambda: operator.log_text().count("until the run's first micro-batch completes") >= 2,
            timeout_s=15.0,
        )
        time.sleep(3.0)  # several cycles at 1 s, slots all busy
        for name in (warming, stuck):
            assert not _decided(operator, namespace, name), operator.log_text()[-2000:]
            assert current_executors(cluster.get(namespace, name)) == 2
        wait_for(
            "a decision once the first batch completed",
            lambda: _decided(operator, namespace, warming),
            timeout_s=20.0,
        )
        assert f"{namespace}/{warming}: first micro-batch completed after" in operator.log_text()
        assert _events(cluster, namespace, warming, "FirstBatchOverdue") == []
        assert not _decided(operator, namespace, stuck)
        [overdue] = wait_for(
            "FirstBatchOverdue for the run without a batch",
            lambda: _events(cluster, namespace, stuck, "FirstBatchOverdue"),
            timeout_s=grace_s + 10.0,
        )
        assert overdue.type == "Warning"
        assert parse_message(overdue.message)["grace_s"] == f"{grace_s:.0f}"
        wait_for("decisions after the grace", lambda: _decided(operator, namespace, stuck), 10.0)
    finally:
        assert operator.stop() == 0


def test_a_restarted_operator_resumes_without_restarting_the_application(
    devenv: DevEnvHandle,
    stack: LocalStack,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    cooldown = 15.0
    overrides: dict[str, Any] = {
        "guardrails": {
            "restart_cooldown_s": cooldown,
            "scale_down_confirmations": 2,
            "restart_hold": {"window": 4},  # its window, resumed from the stored inputs
        }
    }
    first = _operator(stack, tmp_path, namespace, "first", **overrides)
    name = "resume-app"
    try:
        body = spark_application(
            name, 2, {"actuation": "restart", "weight-policy": "latency-first"}, rate_eps=9000
        )
        cluster.create(namespace, body)
        first_id = wait_for(
            "the application to run",
            lambda: (
                app_state(o := cluster.get(namespace, name)) == "RUNNING"
                and o["status"]["sparkApplicationId"]
            ),
            timeout_s=15.0,
        )
        scaled = wait_for(
            "the first restart",
            lambda: (o := cluster.get(namespace, name))["spec"]["executor"]["instances"] != 2 and o,
            timeout_s=25.0,
        )
        changed_at = time.monotonic()
        # the state ConfigMap records the change before the operator dies; the operator writes
        # it at the end of the cycle that patched, so an earlier version may be there first
        target = scaled["spec"]["executor"]["instances"]
        wait_for(
            f"the state ConfigMap to record last_target {target}",
            lambda: (
                (state := cluster.configmap(namespace, configmap_name(name))) is not None
                and json.loads(state["data"]["state.json"]).get("last_target") == target
            ),
            timeout_s=10.0,
        )
        # the forecasts' input memory is checkpointed from the first decision on
        stored = cluster.configmap(namespace, configmap_name(name))
        assert stored is not None
        memory = json.loads(stored["data"]["state.json"])
        assert memory["inputs"], memory
        assert memory["inputs_at"] is not None, memory
    finally:
        first.kill()
    running = wait_for(
        "the restarted application",
        lambda: (
            o
            if app_state(o := cluster.get(namespace, name)) == "RUNNING"
            and o["status"]["sparkApplicationId"] != first_id
            else None
        ),
        timeout_s=15.0,
    )
    app_id, attempts = (
        running["status"]["sparkApplicationId"],
        running["status"]["submissionAttempts"],
    )
    cluster.set_rate(namespace, name, 300.0)  # the policy now wants far fewer executors
    second = _operator(stack, tmp_path, namespace, "second", **overrides)
    try:
        wait_for(
            "decisions by the new operator",
            lambda: "hrl_autoscaler_decisions_total{" in second.metrics(),
            timeout_s=20.0,
        )
        # inside the remembered cooldown: no new restart, whatever the policy proposes
        while time.monotonic() < changed_at + cooldown - 3.0:
            app = cluster.get(namespace, name)
            assert app["spec"]["executor"]["instances"] == scaled["spec"]["executor"]["instances"]
            assert app["status"]["sparkApplicationId"] == app_id
            assert app["status"]["submissionAttempts"] == attempts
            time.sleep(0.5)
        assert f"{namespace}/{name}: resuming from stored state" in second.log_text()
        assert "decisions of input history" in second.log_text(), second.log_text()[-2000:]
        # and once the cooldown is over, it acts again
        wait_for(
            "a scale-down after the cooldown",
            lambda: (
                cluster.get(namespace, name)["spec"]["executor"]["instances"]
                < scaled["spec"]["executor"]["instances"]
            ),
            timeout_s=15.0,
        )

        # The state ConfigMap is written after the patch, so it may trail the spec briefly.
        def directions() -> list[str]:
            state = cluster.configmap(namespace, configmap_name(name))
            assert state is not None
            return [d["direction"] for d in json.loads(state["data"]["state.json"])["decisions"]]

        wait_for("both decisions in the state", lambda: len(directions()) >= 2, timeout_s=10.0)
        assert directions() == ["up", "down"]
    finally:
        assert second.stop() == 0


def test_with_peering_only_the_highest_priority_replica_acts(
    devenv: DevEnvHandle,
    stack: LocalStack,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    apply_crds(devenv.api_client, [MANIFESTS / "peering.yaml"])
    settings: dict[str, Any] = {
        "peering": True,
        "peering_lifetime_s": 5,
        "guardrails": {"scale_down_confirmations": 2},
    }
    low = _operator(
        stack, tmp_path, namespace, "low", identity="replica-low", peering_priority=10, **settings
    )
    high = _operator(
        stack,
        tmp_path,
        namespace,
        "high",
        identity="replica-high",
        peering_priority=20,
        **settings,
    )
    name = "peer-app"
    try:
        wait_for(
            "the high replica to lead", lambda: "hrl_autoscaler_leader 1.0" in high.metrics(), 15.0
        )
        body = spark_application(
            name, 2, {"actuation": "in-place", "weight-policy": "latency-first"}, rate_eps=6000
        )
        cluster.create(namespace, body)
        wait_for("a decision", lambda: _events(cluster, namespace, name, "ScalingDecision"), 25.0)
        time.sleep(2.0)
        instances = {e.instance for e in _events(cluster, namespace, name, "ScalingDecision")}
        assert instances == {"replica-high"}
        assert "hrl_autoscaler_leader 0.0" in low.metrics()
        scaled = current_executors(cluster.get(namespace, name))
        high.kill()  # no goodbye: the low replica takes over once the lifetime has passed
        wait_for(
            "the low replica to lead", lambda: "hrl_autoscaler_leader 1.0" in low.metrics(), 20.0
        )
        cluster.set_rate(namespace, name, 300.0)
        wait_for(
            "a scale-down by the low replica",
            lambda: any(
                e.instance == "replica-low"
                for e in _events(cluster, namespace, name, "ScalingDecision")
            ),
            timeout_s=15.0,
        )
        assert current_executors(cluster.get(namespace, name)) < scaled
    finally:
        high.stop()
        assert low.stop() == 0


# -- issue 17: what one application, or a sick Prometheus, must not do to the operator ------------


def _health(operator: OperatorProcess) -> tuple[int, str]:
    response = httpx.get(f"{operator.url}/healthz", timeout=5.0)
    return response.status_code, response.text


def _gauge(operator: OperatorProcess, name: str) -> float | None:
    for family in text_string_to_metric_families(operator.metrics()):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return None


def _decisions(operator: OperatorProcess, namespace: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(operator.metrics())
        if family.name == "hrl_autoscaler_decisions"
        for sample in family.samples
        if sample.labels.get("namespace") == namespace and sample.labels.get("application") == name
    )


def test_one_applications_annotations_do_not_stop_the_others(
    devenv: DevEnvHandle,
    stack: LocalStack,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The reported outage: ``weight-policy=fixed alpha=beta=gamma=1e308`` on one application
    once failed every tick for every application while /healthz stayed 200."""
    operator = _operator(stack, tmp_path, namespace)
    try:
        settings = {"actuation": "in-place", "weight-policy": "latency-first"}
        cluster.create(namespace, spark_application("app-a", 2, settings, rate_eps=3000))
        cluster.create(namespace, spark_application("app-b", 2, settings, rate_eps=3000))
        for name in ("app-a", "app-b"):
            wait_for(
                f"a decision for {name}", lambda n=name: _decided(operator, namespace, n), 25.0
            )
        bad = {"weight-policy": "fixed", "alpha": "1e308", "beta": "1e308", "gamma": "1e308"}
        cluster.annotate(namespace, "app-b", {PREFIX + k: v for k, v in bad.items()})
        rejected = wait_for(
            "InvalidAnnotation for each weight of app-b",
            lambda: (
                found
                if len(found := _events(cluster, namespace, "app-b", "InvalidAnnotation")) >= 3
                else None
            ),
            timeout_s=15.0,
        )
        assert {parse_message(e.message)["annotation"] for e in rejected} == {
            PREFIX + "alpha",
            PREFIX + "beta",
            PREFIX + "gamma",
        }
        for name in ("app-a", "app-b"):  # both still decided, cycle after cycle
            before = _decisions(operator, namespace, name)
            wait_for(
                f"{name} decided again",
                lambda n=name, b=before: _decisions(operator, namespace, n) > b,
                timeout_s=10.0,
            )
        assert "decision tick failed" not in operator.log_text()
        assert _events(cluster, namespace, "app-a", "InvalidAnnotation") == []
        status, text = _health(operator)
        assert status == 200, text
        failures = [
            sample.value
            for family in text_string_to_metric_families(operator.metrics())
            for sample in family.samples
            if sample.name == "hrl_autoscaler_cycle_failures_total"
        ]
        assert failures
        assert sum(failures) == 0.0
    finally:
        assert operator.stop() == 0


class _CorruptingPrometheus:
    """Prometheus's HTTP API in front of the real one, with one query's answer malformed: a
    result whose ``metric`` is null (a broken proxy, a bad exporter)."""

    def __init__(self, upstream: str, corrupt: Callable[[str], bool]) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                query = parse_qs(form.decode()).get("query", [""])[0]
                answer = httpx.post(f"{upstream}/api/v1/query", data={"query": query}, timeout=5)
                body = answer.json()
                if corrupt(query):
                    proxy.corrupted += 1
                    for item in body.get("data", {}).get("result", []):
                        item["metric"] = None
                data = json.dumps(body).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.corrupted = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_malformed_prometheus_answer_is_one_failed_query_not_a_crash(
    devenv: DevEnvHandle,
    stack: LocalStack,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    def latency_query(query: str) -> bool:
        return "latency_Value" in query and "timestamp(" not in query

    prometheus = _CorruptingPrometheus(devenv.prometheus_url, latency_query)
    operator = _operator(stack, tmp_path, namespace, prometheus_url=prometheus.url)
    try:
        name = "malformed-app"
        settings = {"actuation": "in-place", "weight-policy": "latency-first"}
        cluster.create(namespace, spark_application(name, 2, settings, rate_eps=3000))
        [warning] = wait_for(
            "MetricsUnavailable naming the malformed query",
            lambda: [
                e
                for e in _events(cluster, namespace, name, "MetricsUnavailable")
                if parse_message(e.message).get("reason", "").startswith("queries failed: latency")
            ],
            timeout_s=25.0,
        )
        reason = parse_message(warning.message)["reason"]
        assert "metric" in reason, reason  # the message names the malformed field
        assert prometheus.corrupted > 0
        assert current_executors(cluster.get(namespace, name)) == 2  # held
        assert "decision tick failed" not in operator.log_text()
        assert 'hrl_autoscaler_prometheus_errors_total{query="latency"}' in operator.metrics()
        assert _health(operator)[0] == 200
    finally:
        operator.stop()
        prometheus.close()


def test_a_hung_prometheus_costs_a_cycle_one_deadline_and_shows_in_health(
    devenv: DevEnvHandle,
    stack: LocalStack,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    """Connections accepted, never answered (a SIGSTOPped Prometheus): each cycle once took
    three rounds of the per-query timeout; now one deadline bounds the whole collection."""
    deadline_s = 1.5
    proxy = TcpProxy(int(devenv.prometheus_url.rsplit(":", 1)[1]))
    proxy.start()
    operator = _operator(
        stack, tmp_path, namespace, prometheus_url=proxy.url, prometheus_timeout_s=deadline_s
    )
    try:
        name = "hung-app"
        settings = {"actuation": "in-place", "weight-policy": "latency-first"}
        cluster.create(namespace, spark_application(name, 2, settings, rate_eps=3000))
        wait_for("a first decision", lambda: _decided(operator, namespace, name), timeout_s=25.0)
        assert _gauge(operator, "hrl_autoscaler_prometheus_up") == 1.0
        proxy.hang()
        wait_for(
            "prometheus_up 0",
            lambda: _gauge(operator, "hrl_autoscaler_prometheus_up") == 0.0,
            timeout_s=15.0,
        )
        time.sleep(3 * deadline_s)  # a few cycles against the hung server
        cycle = _gauge(operator, "hrl_autoscaler_last_cycle_seconds")
        assert cycle is not None
        assert cycle < deadline_s + 1.0, f"a cycle took {cycle:.1f} s"
        assert _gauge(operator, "hrl_autoscaler_holding_applications") == 1.0
        status, text = _health(operator)
        assert status == 200, text  # a restart cannot fix Prometheus
        assert "degraded: every application holding: Prometheus unavailable" in text
        proxy.resume()
        wait_for(
            "prometheus_up 1 again",
            lambda: _gauge(operator, "hrl_autoscaler_prometheus_up") == 1.0,
            timeout_s=15.0,
        )
        assert "degraded" not in _health(operator)[1]
    finally:
        proxy.stop()
        assert operator.stop() == 0
