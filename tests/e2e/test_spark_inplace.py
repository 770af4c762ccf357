"""In-place autoscaling end to end on real Spark: operator -> annotation -> agent -> executors.

Everything is real except the Spark Operator: a SparkApplication object on the local
kube-apiserver (validated by the upstream CRD) stands for the application, and the IoT job runs
as a client-mode driver on a Spark standalone cluster (master and 4-core worker from the pip
package), with the in-place agent reading that object's ``hrl-autoscaler.io/target-executors``
annotation through the API server. The test plays the Spark Operator's part that matters here:
it writes ``status.applicationState=RUNNING`` and ``status.sparkApplicationId`` (the real id)
through the status subresource, and points the real Prometheus at the real driver's two
endpoints, with the labels Kubernetes service discovery would attach. The operator runs as its
own process in ``in-place`` actuation with a 5 s decision interval.

The weights are fixed at alpha=0.4, beta=0, gamma=0.6: in this regime (a few executors, low
absolute rates) the frozen PPO policy then answers CPU utilisation across the whole 2..4
range (2 when idle, 4 when busy), so both directions are exercised within the 4-executor
budget a 2-core machine can hold. Under ``latency-first`` it proposes 5 or more at any load,
which would pin the application at its maximum and never scale it down.

Asserted: more load adds real executors (the master's workers and Prometheus both show them),
less load removes them, and the Spark application id stays the same throughout (no restart).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.core.application import GROUP, PLURAL, VERSION
from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.tools.devenv.components import OperatorProcess
from hrl_autoscaler.tools.devenv.processes import free_port
from hrl_autoscaler.tools.devenv.prometheus import query
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    annotations_of,
    spark_application,
    wait_for,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle
from hrl_autoscaler.tools.spark.iot_options import IotJobOptions
from hrl_autoscaler.tools.spark.standalone import StandaloneCluster
from hrl_autoscaler.tools.spark.testing import (
    EventFileWriter,
    IotJobProcess,
    fixed_weight_settings,
)

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.timeout(1200)]

NAMESPACE = "spark-inplace"
NAME = "iot-inplace"
INITIAL_EXECUTORS = 2
MAX_EXECUTORS = 4
LOW_RATE_EPS = 20.0
HIGH_RATE_EPS = 5000.0
WORK_FACTOR = 2000
TRIGGER_S = 5.0
"""Long enough that a trickle of events leaves the executors mostly idle between batches
(measured with a 3 s trigger: 14% of task slots busy at 20 events/s, 71% at 4000 events/s
on 2 executors; starting an executor JVM on this 2-core machine slows the batches enough to
read as load, so the idle share needs a margin)."""
SETTLE_S = 20.0
"""The baseline is the executor count once it has not changed for this long."""
SPEED = 6.0
"""Operator durations divided by 6: decisions every 5 s (the metrics window is set to 15 s)."""
SCALE_TIMEOUT_S = 240.0
"""Executor JVMs start in 10-50 s on a busy 2-core machine; decisions come every 5 s."""


@dataclass
class Stack:
    devenv: DevEnvHandle
    cluster: Cluster
    spark: StandaloneCluster
    job: IotJobProcess
    writer: EventFileWriter
    operator: OperatorProcess
    app_id: str

    def app(self) -> dict[str, Any]:
        return self.cluster.get(NAMESPACE, NAME)

    def master_executors(self) -> int:
        return len(self.spark.executors(self.app_id))

    def prometheus_executors(self) -> int:
        promql = (
            f'count(metrics_executor_totalCores{{application_id="{self.app_id}", '
            'executor_id!="driver"})'
        )
        result = query(self.devenv.prometheus_url, promql)
        return int(float(result[0]["value"][1])) if result else 0

    def input_rate(self) -> float:
        promql = (
            "metrics_spark_driver_spark_streaming_iot_inputRate_total_Value"
            f'{{application_id="{self.app_id}"}}'
        )
        result = query(self.devenv.prometheus_url, promql)
        return float(result[0]["value"][1]) if result else 0.0

    def decisions_made(self) -> int:
        """Decisions the operator has made for the application (its own /metrics)."""
        pattern = re.compile(
            r'^hrl_autoscaler_decisions_total\{[^}]*application="'
            + re.escape(NAME)
            + r'"[^}]*\} ([0-9.e+]+)$',
            re.MULTILINE,
        )
        return int(sum(float(v) for v in pattern.findall(self.operator.metrics())))

    def decisions(self) -> list[dict[str, str]]:
        events = self.cluster.events(NAMESPACE, NAME)
        return [parse_message(e.message) for e in events if e.reason == "ScalingDecision"]

    def describe(self) -> str:
        """What a failure message needs: counts, decisions, the tails of the logs."""
        return (
            f"master={self.master_executors()} prometheus={self.prometheus_executors()} "
            f"annotation={annotations_of(self.app()).get(PREFIX + 'target-executors')}\n"
            f"decisions={self.decisions()}\n"
            f"--- operator log:\n{self.operator.log_text()[-3000:]}\n"
            f"--- job log (agent lines):\n"
            + "\n".join(
                line for line in self.job.log_text().splitlines() if "hrl_autoscaler" in line
            )[-3000:]
        )


def _quick_batches(progress: Path) -> int:
    """Batches since the last slow one (longer than half the trigger interval)."""
    if not progress.exists():
        return 0
    durations = []
    for line in progress.read_text().splitlines():
        try:
            durations.append(json.loads(line)["durationMs"].get("triggerExecution", 0))
        except (json.JSONDecodeError, KeyError):
            continue  # the line being written right now
    quick = 0
    for duration in reversed(durations):
        if duration > TRIGGER_S * 1000 / 2:
            break
        quick += 1
    return quick


def _slot_utilisation(devenv: DevEnvHandle, app_id: str) -> float | None:
    """Busy share of the executors' task slots over the last 15 s, from Prometheus."""
    selector = f'application_id="{app_id}", executor_id!="driver"'
    result = query(
        devenv.prometheus_url,
        f"sum(avg_over_time(metrics_executor_activeTasks{{{selector}}}[15s])) "
        f"/ sum(metrics_executor_totalCores{{{selector}}})",
    )
    return float(result[0]["value"][1]) if result else None


def _sparkapplication() -> dict[str, Any]:
    settings = fixed_weight_settings(MAX_EXECUTORS)
    body = spark_application(NAME, INITIAL_EXECUTORS, settings)
    body["spec"].update(
        {
            "sparkVersion": "4.1.1",
            "image": "spark-hrl-autoscaler-spark:0.1.0",
            "mainApplicationFile": "local:///opt/hrl-autoscaler/iot_job.py",
            "sparkConf": {
                "spark.sql.streaming.metricsEnabled": "true",
                "spark.dynamicAllocation.enabled": "false",
            },
        }
    )
    return body


@pytest.fixture(scope="module")
def stack(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work: Path = tmp_path_factory.mktemp("spark-inplace")
    cluster = Cluster(devenv.api_client)
    stack_options = StackOptions(
        work_dir=work,
        env=devenv.env,
        namespaces=(NAMESPACE,),
        speed=SPEED,
        emulator=False,  # real Spark
        operator=False,  # started once the job is warm
        operator_overrides={
            "guardrails": {"scale_down_confirmations": 2, "in_place_cooldown_s": 0.0},
            # three 5 s batches per average: one slow batch (a GC pause, a neighbour on the 2
            # cores) must not read as load
            "metrics_window_s": 15.0,
        },
    )
    with LocalStack(stack_options) as local:
        cluster.create(NAMESPACE, _sparkapplication())
        with (
            StandaloneCluster(work / "spark", cores=MAX_EXECUTORS, memory="3g") as spark,
            EventFileWriter(work / "events", rate_eps=LOW_RATE_EPS) as writer,
        ):
            options = IotJobOptions(
                input_dir=work / "events",
                master=spark.master_url,
                ui_port=free_port(),
                app_name=NAME,
                work_factor=WORK_FACTOR,
                trigger_s=TRIGGER_S,
                input_partitions=MAX_EXECUTORS,
                shuffle_partitions=2,
                agent="annotation",
                agent_namespace=NAMESPACE,
                agent_name=NAME,
                agent_kubeconfig=devenv.kubeconfig,
                agent_poll_interval_s=1.0,
                min_executors=1,
                max_executors=MAX_EXECUTORS,
                initial_executors=INITIAL_EXECUTORS,
                conf=spark.spark_conf(),
                progress_file=work / "progress.jsonl",
            )
            job = IotJobProcess(options, work / "job")
            try:
                status = job.wait_running(timeout_s=240)
                app_id = str(status["application_id"])
                ui = str(status["ui_url"]).removeprefix("http://")
                # the Spark Operator's part: the application runs, with this id
                cluster.objects.patch_namespaced_custom_object_status(
                    GROUP,
                    VERSION,
                    NAMESPACE,
                    PLURAL,
                    NAME,
                    {
                        "status": {
                            "applicationState": {"state": "RUNNING"},
                            "sparkApplicationId": app_id,
                            "submissionAttempts": 1,
                            "executionAttempts": 1,
                            "driverInfo": {"podName": f"{NAME}-driver"},
                        }
                    },
                    _content_type="application/merge-patch+json",
                    _preload_content=False,
                )
                # executor metrics carry application_id/application_name themselves; the
                # servlet's streaming metrics get them from the scrape, as pod labels would
                local.scrape(
                    "spark-driver-executors",
                    [ui],
                    metrics_path="/metrics/executors/prometheus",
                    labels={"namespace": NAMESPACE},
                )
                local.scrape(
                    "spark-driver-streaming",
                    [ui],
                    metrics_path="/metrics/prometheus",
                    labels={
                        "namespace": NAMESPACE,
                        "application_id": app_id,
                        "application_name": NAME,
                    },
                )
                spark.wait_for_executors(app_id, INITIAL_EXECUTORS, timeout_s=240)
                # Start deciding once the job is warm. Until its first batch completes the
                # driver reports input rate and latency 0 while every task slot is busy (the
                # files of the start-up, JIT compilation): that reads as a busy application.
                wait_for(
                    "three quick batches at the low rate",
                    lambda: _quick_batches(work / "progress.jsonl") >= 3,
                    240,
                    every_s=1.0,
                )
                wait_for(
                    "the job idle at the low rate",
                    lambda: (u := _slot_utilisation(devenv, app_id)) is not None and u <= 0.5,
                    120,
                    every_s=2.0,
                )
                operator = local.start_operator(work_dir=work / "operator")
                try:
                    yield Stack(devenv, cluster, spark, job, writer, operator, app_id)
                finally:
                    assert operator.stop() == 0, "the operator did not exit cleanly on SIGTERM"
            finally:
                job.stop()


def _settled(stack: Stack, timeout_s: float = SCALE_TIMEOUT_S) -> int:
    """The executor count once it stays below the maximum for ``SETTLE_S`` at the low rate.

    The first decisions may overshoot: on 2 cores, starting an executor JVM slows the batches
    of the others, which reads as load until the new executor is warm.
    """
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = stack.master_executors()
        if count != last:
            last, since = count, time.monotonic()
        elif count < MAX_EXECUTORS and time.monotonic() - since >= SETTLE_S:
            return count
        time.sleep(1.0)
    raise AssertionError(
        f"no steady count below {MAX_EXECUTORS} at {LOW_RATE_EPS:g} events/s in "
        f"{timeout_s:.0f} s\n{stack.describe()}"
    )


def test_real_spark_scales_in_place_with_the_load(stack: Stack) -> None:
    app_id = stack.app_id
    # the real driver's metrics reach the operator through the real Prometheus
    wait_for(
        "streaming metrics of the real driver in Prometheus",
        lambda: query(
            stack.devenv.prometheus_url,
            f'metrics_spark_driver_spark_streaming_iot_latency_Value{{application_id="{app_id}"}}',
        ),
        timeout_s=60,
    )
    wait_for("the operator's first decisions", lambda: stack.decisions_made() >= 3, 60)
    baseline = _settled(stack)
    print(f"\nbaseline at {LOW_RATE_EPS:g} events/s: {baseline} executors")

    # more load: the operator raises the target, the agent adds executors
    stack.writer.set_rate(HIGH_RATE_EPS)
    started = time.monotonic()
    try:
        wait_for(
            "the higher input rate in Prometheus",
            lambda: stack.input_rate() >= HIGH_RATE_EPS / 2,
            SCALE_TIMEOUT_S,
            every_s=1.0,
        )
        high = wait_for(
            "more executors at the master after the load increase",
            lambda: (n := stack.master_executors()) > baseline and n,
            SCALE_TIMEOUT_S,
            every_s=1.0,
        )
        wait_for(
            "more executors in Prometheus",
            lambda: stack.prometheus_executors() > baseline,
            SCALE_TIMEOUT_S,
            every_s=1.0,
        )
        # the frozen policy flaps at high load on 2 cores (4 executors do not make the CPU
        # faster); drop the load at a moment the application holds its maximum, so that what
        # follows is the answer to the drop
        high = wait_for(
            f"{MAX_EXECUTORS} executors at the master under load",
            lambda: (n := stack.master_executors()) == MAX_EXECUTORS and n,
            SCALE_TIMEOUT_S,
            every_s=0.5,
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{stack.describe()}") from None
    took = time.monotonic() - started
    print(f"at {HIGH_RATE_EPS:g} events/s: {high} executors after {took:.0f} s")

    # less load: the operator lowers the target, the agent removes executors
    before_drop = len(stack.decisions())
    stack.writer.set_rate(LOW_RATE_EPS)
    started = time.monotonic()
    try:
        down = wait_for(
            "a scale-down decision on the low input rate",
            lambda: [
                d
                for d in stack.decisions()[before_drop:]
                if d["direction"] == "down" and float(d["input_eps"]) < HIGH_RATE_EPS / 10
            ],
            SCALE_TIMEOUT_S,
            every_s=1.0,
        )
        low = _settled(stack)
        wait_for(
            "fewer executors in Prometheus",
            lambda: stack.prometheus_executors() < high,
            SCALE_TIMEOUT_S,
            every_s=1.0,
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{stack.describe()}") from None
    assert low < high
    print(
        f"back at {LOW_RATE_EPS:g} events/s: {low} executors, settled "
        f"{time.monotonic() - started:.0f} s after the drop ({down[0]['executors']} at "
        f"input {down[0]['input_eps']} events/s)"
    )

    decisions = stack.decisions()
    print(
        "decisions: "
        + "; ".join(f"{d['executors']} cpu={d['cpu']} input={d['input_eps']}" for d in decisions)
    )
    directions = [d["direction"] for d in decisions]
    assert "up" in directions, stack.describe()
    assert "down" in directions, stack.describe()
    assert all(d["actuation"] == "in-place" for d in decisions)

    # one application throughout: same id, same driver process, no restart
    app = stack.app()
    assert app["status"]["sparkApplicationId"] == app_id
    assert app["spec"]["executor"]["instances"] == INITIAL_EXECUTORS
    assert app["metadata"]["generation"] == 1
    state = stack.spark.status()
    assert [a["id"] for a in state["activeapps"]] == [app_id]
    assert state["completedapps"] == []
    assert stack.job.process.alive()
    series = query(
        stack.devenv.prometheus_url, "count by (application_id) (metrics_executor_totalCores)"
    )
    assert [s["metric"]["application_id"] for s in series] == [app_id]

    # the agent applied what the operator wrote, nothing was refused or lost
    job_log = stack.job.log_text()
    assert "requested" in job_log
    assert "ignoring hrl-autoscaler.io/target-executors" not in job_log
    failed = [e for e in stack.cluster.events(NAMESPACE, NAME) if e.reason == "ScalingFailed"]
    assert not failed, failed
    assert "Traceback" not in stack.operator.log_text()
