"""The whole product on the local node (issue 14): Kafka -> real Spark in pods -> Prometheus ->
the operator pod -> the agent in the driver -> executor pods.

Every part is what a user's cluster would run: the operator installed from the chart (its own
image, in-cluster token); upstream Prometheus finding the driver pod with the shipped
``manifests/monitoring/scrape-config.yaml`` (pod discovery) and scraping our consumer-lag
exporter, a pod of ``manifests/monitoring/kafka-lag-exporter.yaml``; a KRaft Kafka broker;
the IoT job submitted by the local Spark Operator role with ``spark-submit`` into driver and
executor pods of our Spark image, reading the topic and committing its progress as the
application's consumer group; the load generator writing to the
topic. The test only changes the load: the operator decides, the agent in the driver applies.

Asserted: a load step raises the executor pods, a drop lowers them, the driver pod and the
application id stay, and every event produced is processed exactly once (the file sink's
committed output counts the topic's end offsets, and the committed group offsets reach them).
Then the restart actuation on the same setup: the operator's decision changes
``spec.executor.instances`` and the application is resubmitted (new id, new driver pod), resuming
from its checkpoint.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client

from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.core.application import GROUP, PLURAL, VERSION
from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.tools.devenv.binaries import find_upstream_prometheus
from hrl_autoscaler.tools.devenv.components import Emulator
from hrl_autoscaler.tools.devenv.images import ensure_spark_image
from hrl_autoscaler.tools.devenv.kafka.broker import KafkaBroker, KafkaSettings
from hrl_autoscaler.tools.devenv.node import hostservice
from hrl_autoscaler.tools.devenv.node.chart import Install, install_operator
from hrl_autoscaler.tools.devenv.node.handle import NodeHandle
from hrl_autoscaler.tools.devenv.processes import ManagedProcess, free_port
from hrl_autoscaler.tools.devenv.prometheus import Prometheus, query
from hrl_autoscaler.tools.devenv.sparkapps import list_events, wait_for
from hrl_autoscaler.tools.devenv.sparkop.manifests import driver_rbac, iot_application
from hrl_autoscaler.tools.devenv.sparkop.pods import ApplicationPods
from hrl_autoscaler.tools.spark.testing import fixed_weight_settings

pytestmark = [pytest.mark.node, pytest.mark.spark_k8s, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "manifests" / "monitoring"
SCRAPE_CONFIGS = (MONITORING / "scrape-config.yaml", MONITORING / "kafka-lag-scrape-config.yaml")
LAG_EXPORTER = MONITORING / "kafka-lag-exporter.yaml"
NAMESPACE = "spark-auto"
NAME = "iot-auto"
SERVICE_ACCOUNT = "hrl-spark-driver"
TOPIC = "iot-events"
PARTITIONS = 4
MAX_EXECUTORS = 3
LOW_RATE_EPS = 20.0
HIGH_RATE_EPS = 4000.0
#: 10 s batches: a trickle leaves the executors mostly idle between batches even on this busy
#: node (with 5 s batches the policy read 0.3-0.6 utilisation at 20 events/s and wavered
#: between 2 and 3), 4000 events/s keeps them busy.
TRIGGER_S = 10.0
#: CPU per event. At 2000 two warm executors processed 6,000-7,900 events/s, so 4000 events/s
#: did not need a third (6 s batches, no backlog; Spark's own DStreams rule, batch time over
#: interval >= 0.9, would have held too) and the policy held at 2 for 5 minutes: CI failed on
#: it. At 5000 each event costs 2.5 times the work: the first 4000 events/s batches ran at
#: 1,470-3,320 events/s, so the load needs more than two executors, cold or warm.
WORK_FACTOR = 5000
SCALE_TIMEOUT_S = 300.0
DECISION_S = 5.0
SENTINEL = "watermark-sentinel"


def _progress(message: str) -> None:
    print(message, flush=True)


def _operator_values(prometheus_url: str) -> dict[str, Any]:
    """Real time, faster decisions than production (5 s): the test must fit in minutes."""
    return {
        "prometheus": {"url": prometheus_url},
        "watchNamespaces": [NAMESPACE],
        "decisionIntervalSeconds": DECISION_S,
        "metaIntervalSeconds": 600.0,
        "maxMetricAgeSeconds": 60.0,
        "firstBatchGraceSeconds": 120.0,
        "metricsWindowSeconds": 15.0,
        # restart actuation (the second test): a short cooldown, or it would wait 300 s
        "guardrails": {
            # the first decisions at a trickle are the frozen policy's 2 <-> 3 cycle (see
            # _settled); the raise cap removes that cycle, so it is off here: what this test
            # follows is in-place actuation on real Spark, the cap is measured in the simulator
            "raiseCap": False,
            "scaleDownConfirmations": 2,
            "inPlaceCooldownSeconds": 0,
            "restartCooldownSeconds": 30,
        },
    }


def _application(image: str, bootstrap: str, data: Path) -> dict[str, Any]:
    arguments = [
        "--source=kafka",
        f"--kafka-bootstrap={bootstrap}",
        f"--kafka-topic={TOPIC}",
        "--kafka-starting-offsets=earliest",
        f"--app-name={NAME}",
        f"--trigger-s={TRIGGER_S:g}",
        f"--work-factor={WORK_FACTOR}",
        f"--input-partitions={MAX_EXECUTORS}",
        "--shuffle-partitions=2",
        f"--checkpoint-dir={data}/checkpoint",
        f"--progress-file={data}/progress.jsonl",
        # the exactly-once sink the events are counted in (final windows, via its commit log)
        "--sink=parquet",
        f"--output-dir={data}/out",
        "--agent=annotation",
        "--agent-poll-interval-s=1",
        "--min-executors=1",
        f"--max-executors={MAX_EXECUTORS}",
    ]
    # as in the standalone test: the frozen policy answers utilisation across 2..4
    settings = fixed_weight_settings(MAX_EXECUTORS)
    app = iot_application(
        NAME,
        NAMESPACE,
        image,
        arguments,
        service_account=SERVICE_ACCOUNT,
        executors=2,
        # at the same path as on the host: the file sink's commit log names its files by the
        # path the writers saw, and the test reads that log here
        host_dirs={str(data): str(data)},
        settings=settings,
        enabled=True,
    )
    app["spec"]["sparkConf"]["spark.hadoop.fs.permissions.umask-mode"] = "000"
    return app


@dataclass
class Loadgen:
    """``hrl-autoscaler loadgen`` into the topic, one process per rate."""

    bootstrap: str
    work: Path
    process: ManagedProcess | None = None
    phase: int = 0

    def set_rate(self, rate_eps: float) -> None:
        self.stop()
        self.phase += 1
        argv = [
            sys.executable, "-m", "hrl_autoscaler.cli", "loadgen", "--rate", f"{rate_eps:g}",
            "--duration", "3600", "--kafka-bootstrap", self.bootstrap, "--kafka-topic", TOPIC,
            "--seed", str(self.phase), "--quiet",
        ]  # fmt: skip
        self.process = ManagedProcess.start(
            f"loadgen-{self.phase}", argv, self.work / f"loadgen-{self.phase}.log"
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@dataclass
class Stack:
    node: NodeHandle
    core: k8s_client.CoreV1Api
    objects: k8s_client.CustomObjectsApi
    broker: KafkaBroker
    prometheus: Prometheus
    install: Install
    emulator: Emulator
    loadgen: Loadgen
    data: Path

    def app(self) -> dict[str, Any]:
        return dict(
            self.objects.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
        )

    def app_id(self) -> str | None:
        status = self.app().get("status") or {}
        if (status.get("applicationState") or {}).get("state") != "RUNNING":
            return None
        return status.get("sparkApplicationId")

    @property
    def pods(self) -> ApplicationPods:
        return ApplicationPods(self.core, NAMESPACE, NAME)

    def driver(self) -> k8s_client.V1Pod | None:
        return self.pods.driver()

    def executors(self, app_id: str) -> int:
        return self.pods.running_executors(app_id)

    def decisions(self) -> list[dict[str, str]]:
        events = list_events(self.core, NAMESPACE, "SparkApplication", NAME)
        return [parse_message(e.message) for e in events if e.reason == "ScalingDecision"]

    def batches(self) -> list[dict[str, Any]]:
        """The query's progress reports (one per micro-batch), from the job's progress file."""
        path = self.data / "progress.jsonl"
        if not path.exists():
            return []
        found = []
        for line in path.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the line being written
        return found

    def processed_rows(self) -> int:
        return sum(int(b.get("numInputRows", 0)) for b in self.batches())

    def _batch_table(self, last: int = 12) -> str:
        """Whether the executors kept up: per batch, rows, input and processed rows/s and the
        batch's duration (a decision to hold is right when processed stays above input)."""
        rows = [
            f"{b.get('timestamp', '?')[11:19]} batch {b.get('batchId')}: {b.get('numInputRows')} "
            f"rows, input {b.get('inputRowsPerSecond') or 0:.0f}/s, processed "
            f"{b.get('processedRowsPerSecond') or 0:.0f}/s, "
            f"{(b.get('durationMs') or {}).get('triggerExecution')} ms"
            for b in self.batches()[-last:]
        ]
        return "\n".join(rows)

    def _exporter_log(self) -> str:
        found = self.node.kubectl(
            "-n", NAMESPACE, "logs", "deploy/kafka-lag-exporter", "--tail=20", check=False
        )
        return str(found.stdout + found.stderr)

    def describe(self) -> str:
        return (
            f"status={self.app().get('status')}\ndecisions={self.decisions()[-8:]}\n"
            f"--- operator log:\n{self.install.logs()[-3000:]}\n"
            f"--- batches:\n{self._batch_table()}\n"
            f"--- driver log:\n{self.pods.driver_log(40)}\n"
            f"--- lag exporter log:\n{self._exporter_log()}\n"
            f"--- emulator log:\n{self.emulator.process.log_tail()}"
        )


def _prometheus_jobs(kubeconfig: Path) -> list[dict[str, Any]]:
    """The shipped scrape configs (drivers, lag exporter), as written but for where the API is
    and how often to scrape."""
    jobs = [job for path in SCRAPE_CONFIGS for job in yaml.safe_load(path.read_text())]
    for job in jobs:
        job["scrape_interval"] = job["scrape_timeout"] = "2s"
        for sd in job["kubernetes_sd_configs"]:
            sd["kubeconfig_file"] = str(kubeconfig)
    return jobs


def _lag_exporter(image: str, bootstrap: str) -> str:
    """The shipped exporter Deployment with this broker, namespace and image set."""
    deployment = yaml.safe_load(LAG_EXPORTER.read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    container["image"] = image
    container["imagePullPolicy"] = "Never"
    values = {"--bootstrap": bootstrap, "--namespace": NAMESPACE}
    container["args"] = [
        f"{a.split('=')[0]}={values[a.split('=')[0]]}" if a.split("=")[0] in values else a
        for a in container["args"]
    ]
    return str(yaml.safe_dump(deployment))


@pytest.fixture(scope="module")
def stack(node_env: NodeHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("spark-auto")
    host_ip = node_env.env.local_node.cfg.host_ip if node_env.env.local_node else "127.0.0.1"
    image = ensure_spark_image(_progress)
    node_env.import_image(image.archive)
    node_env.kubectl("apply", "-f", "-", input=driver_rbac(NAMESPACE, SERVICE_ACCOUNT, [NAME]))
    data = work / "data"
    data.mkdir()
    data.chmod(0o777)  # the driver and executors run as uid 185
    broker = KafkaBroker(
        KafkaSettings(listen_host=host_ip, advertised_host=host_ip, data_dir=work / "kafka")
    )
    prometheus_port = free_port()
    prometheus = Prometheus(
        find_upstream_prometheus(),
        work / "prometheus",
        work / "prometheus-data",
        prometheus_port,
        listen_host=host_ip,
    )
    emulator: Emulator | None = None
    install: Install | None = None
    loadgen: Loadgen | None = None
    try:
        broker.start()
        loadgen = Loadgen(broker.bootstrap, work)
        # the exporter as a user runs it: the shipped Deployment, found by pod discovery
        node_env.kubectl(
            "apply", "-n", NAMESPACE, "-f", "-", input=_lag_exporter(image.ref, broker.bootstrap)
        )
        prometheus.set_raw_jobs(_prometheus_jobs(node_env.kubeconfig))
        prometheus.start(work / "prometheus.log")
        broker.wait_ready()
        broker.create_topics({TOPIC: PARTITIONS})
        prometheus.wait_ready()
        name, service_port = "prometheus-sd", prometheus_port
        hostservice.apply(
            node_env.api_client,
            hostservice.service_objects(name, "monitoring", service_port, host_ip, prometheus_port),
        )
        install = install_operator(
            node_env,
            _operator_values(hostservice.url(name, "monitoring", service_port)),
            work,
            _progress,
            release="hrl-spark",
            namespace="hrl-spark-system",
        )
        emulator = Emulator(node_env.kubeconfig, work / "emulator", 1.0, 1.0, spark_submit=True)
        loadgen.set_rate(LOW_RATE_EPS)
        objects = k8s_client.CustomObjectsApi(node_env.api_client)
        objects.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, _application(image.ref, broker.bootstrap, data)
        )
        yield Stack(
            node_env,
            k8s_client.CoreV1Api(node_env.api_client),
            objects,
            broker,
            prometheus,
            install,
            emulator,
            loadgen,
            data,
        )
    finally:
        if loadgen is not None:
            loadgen.stop()
        node_env.kubectl("delete", "sparkapplication", "-n", NAMESPACE, NAME, check=False)
        if emulator is not None:
            time.sleep(3)  # the submission role deletes the pods of the deleted application
            emulator.stop()
        if install is not None:
            install.uninstall()
        node_env.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        prometheus.stop()
        broker.stop()


def _lag(stack: Stack) -> float | None:
    found = query(stack.prometheus.url, f'sum(kafka_consumergroup_group_lag{{group="{NAME}"}})')
    return float(found[0]["value"][1]) if found else None


def _send_sentinel(bootstrap: str) -> None:
    """One event five minutes ahead, from a device of its own (left out of the count)."""
    from kafka import KafkaProducer

    ahead = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 300))
    line = (
        f'{{"device_id": "{SENTINEL}", "device_type": "thermometer", '
        f'"event_time": "{ahead}", "reading": 20.0}}'
    )
    producer = KafkaProducer(bootstrap_servers=[bootstrap])
    try:
        producer.send(TOPIC, value=line.encode(), key=SENTINEL.encode())
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=30)


def _sink_events(out: Path) -> int:
    """Events counted in the committed output of the file sink (its ``_spark_metadata`` log)."""
    if not (out / "_spark_metadata").is_dir():
        return 0
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("sink-count")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    total = (
        # the schema given: before the first window is written there is nothing to infer it from
        spark.read.schema("device_id STRING, events BIGINT")
        .parquet(str(out))
        .where(F.col("device_id") != SENTINEL)
        .agg(F.sum("events"))
        .first()
    )
    return int(total[0] or 0) if total is not None else 0


def _settled(stack: Stack, app_id: str, below: int, hold_s: float = 20.0, dips: int = 3) -> int:
    """The executor count once it has stayed below ``below`` for ``hold_s``, or the lowest
    count once it has gone below ``below`` ``dips`` separate times. The second is for the
    frozen policy's limit cycle at a trickle (issue 12; seen in CI): at 2 executors it asks
    for 3, at 3 for 2, so with the test's 2 scale-down confirmations the count never holds 20
    s, yet every dip is a scale-down the operator made at this load."""
    deadline = time.monotonic() + SCALE_TIMEOUT_S
    since = time.monotonic()
    seen, below_now, lowest = 0, False, below
    while time.monotonic() < deadline:
        count = stack.executors(app_id)
        if count >= below:
            since, below_now = time.monotonic(), False
        else:
            seen += not below_now
            below_now, lowest = True, min(lowest, count)
            if time.monotonic() - since >= hold_s:
                return count
            if seen >= dips:
                _progress(f"[spark-auto] {seen} dips below {below} without holding {hold_s:.0f} s")
                return lowest
        time.sleep(1.0)
    raise AssertionError(
        f"no {hold_s:.0f} s and no {dips} dips below {below} executors\n{stack.describe()}"
    )


def test_the_operator_pod_scales_real_spark_on_kafka_load(stack: Stack) -> None:
    started = time.monotonic()
    app_id = wait_for("the application RUNNING", stack.app_id, 300, every_s=1.0)
    driver = wait_for("the driver pod", stack.driver, 60)
    driver_uid = driver.metadata.uid
    wait_for(
        "the driver's streaming metrics in Prometheus (pod discovery)",
        lambda: query(
            stack.prometheus.url,
            f'metrics_spark_driver_spark_streaming_iot_latency_Value{{application_id="{app_id}"}}',
        ),
        240,
        every_s=2.0,
    )
    wait_for(
        "the consumer-group lag in Prometheus",
        lambda: query(stack.prometheus.url, f'kafka_consumergroup_group_lag{{group="{NAME}"}}'),
        120,
        every_s=2.0,
    )
    wait_for("the operator's first decisions", lambda: len(stack.decisions()) >= 2, 180, every_s=2)
    _progress(f"[spark-auto] running and decided on in {time.monotonic() - started:.0f} s")
    baseline = _settled(stack, app_id, below=MAX_EXECUTORS)
    _progress(f"[spark-auto] baseline at {LOW_RATE_EPS:g} events/s: {baseline} executor pods")

    # two load cycles: at least four changes (the issue asks for exactly-once across three)
    for cycle in (1, 2):
        stack.loadgen.set_rate(HIGH_RATE_EPS)
        step = time.monotonic()
        try:
            high = wait_for(
                f"{MAX_EXECUTORS} executor pods under load",
                lambda: (n := stack.executors(app_id)) == MAX_EXECUTORS and n,
                SCALE_TIMEOUT_S,
                every_s=1.0,
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{stack.describe()}") from None
        _progress(
            f"[spark-auto] cycle {cycle}, {HIGH_RATE_EPS:g} events/s: {high} pods after "
            f"{time.monotonic() - step:.0f} s"
        )

        stack.loadgen.set_rate(LOW_RATE_EPS)
        drop = time.monotonic()
        low = _settled(stack, app_id, below=high)
        _progress(
            f"[spark-auto] cycle {cycle}, back to {LOW_RATE_EPS:g} events/s: {low} pods after "
            f"{time.monotonic() - drop:.0f} s"
        )
        assert low < high
    changes = len(stack.decisions())
    assert changes >= 4, stack.decisions()

    stack.loadgen.stop()
    produced = sum(stack.broker.end_offsets(TOPIC).values())
    # no loss on the way in: the group's committed offsets reach the end (lag 0, as the operator
    # reads it from Prometheus)
    wait_for(
        "the consumer-group lag back to 0 in Prometheus",
        lambda: _lag(stack) == 0.0,
        SCALE_TIMEOUT_S,
        every_s=2.0,
    )
    # no loss or duplicate on the way out: an event far ahead moves the watermark past every
    # window, which the file sink then writes; their event counts add up to what was produced
    _send_sentinel(stack.broker.bootstrap)
    counted = wait_for(
        "every produced event counted in the sink",
        lambda: (n := _sink_events(stack.data / "out")) >= produced and n,
        SCALE_TIMEOUT_S,
        every_s=5.0,
    )
    time.sleep(3 * TRIGGER_S)  # a duplicate written late would show now
    counted = _sink_events(stack.data / "out")
    from pyspark.sql import SparkSession

    if (local := SparkSession.getActiveSession()) is not None:
        local.stop()  # the counting session's JVM: not needed by the tests after this one
    _progress(
        f"[spark-auto] {changes} scaling changes; produced {produced} events; the sink counted "
        f"{counted}; the batches "
        f"read {stack.processed_rows()} rows (retried tasks after an executor left count twice)"
    )
    assert counted == produced, stack.describe()

    # the same run throughout: no restart
    assert stack.app_id() == app_id
    driver = stack.driver()
    assert driver is not None
    assert driver.metadata.uid == driver_uid
    decisions = stack.decisions()
    directions = {d["direction"] for d in decisions}
    assert {"up", "down"} <= directions, decisions
    assert all(d["actuation"] == "in-place" for d in decisions)


def test_the_operators_restart_actuation_resubmits_the_application(stack: Stack) -> None:
    """The same setup in restart actuation: the operator's decision changes
    ``spec.executor.instances``, the submission role resubmits, and a new application (new id,
    new driver pod) runs with the decided executors and reads on from the checkpoint: the
    consumer group catches up with everything produced."""
    old_id = wait_for("the application RUNNING", stack.app_id, 120, every_s=1.0)
    old_driver = wait_for("the driver pod", stack.driver, 60)
    before = len(stack.decisions())
    stack.objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        PLURAL,
        NAME,
        {"metadata": {"annotations": {f"{PREFIX}actuation": "restart"}}},
    )
    stack.loadgen.set_rate(HIGH_RATE_EPS)
    started = time.monotonic()
    try:
        [decision, *_] = wait_for(
            "a scaling decision in restart actuation",
            lambda: [d for d in stack.decisions()[before:] if d["actuation"] == "restart"],
            SCALE_TIMEOUT_S,
            every_s=2.0,
        )
        new_id = wait_for(
            "a new application id RUNNING",
            lambda: (found := stack.app_id()) not in (None, old_id) and found,
            SCALE_TIMEOUT_S,
            every_s=1.0,
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{stack.describe()}") from None
    decided = int(decision["executors"].split("->")[1])
    _progress(
        f"[spark-auto] restart actuation: {decision['executors']} decided, {new_id} RUNNING "
        f"{time.monotonic() - started:.0f} s after the load step"
    )
    assert stack.app()["spec"]["executor"]["instances"] == decided
    driver = stack.driver()
    assert driver is not None
    assert driver.metadata.uid != old_driver.metadata.uid
    wait_for(
        f"{decided} executor pods of {new_id}",
        lambda: stack.executors(new_id) == decided,
        SCALE_TIMEOUT_S,
        every_s=1.0,
    )
    stack.loadgen.stop()
    try:
        wait_for(
            "the new run's consumer-group lag at 0 in Prometheus",
            lambda: _lag(stack) == 0.0,
            SCALE_TIMEOUT_S,
            every_s=2.0,
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc} (lag {_lag(stack)})\n{stack.describe()}") from None
    replays = stack.pods.driver_log(100_000).count("starting it again from the checkpoint")
    _progress(
        f"[spark-auto] restart actuation: lag 0; the new run started its query again "
        f"{replays} time(s) after the replayed batch (SPARK-55271)"
    )
