"""The IoT job and the in-place agent on a real Spark standalone cluster (marker ``spark``).

One module-scoped cluster (a master and a 4-core worker from the pip package), one IoT job
driver process with the agent reading its target from a file, and a small event writer. The
tests check what the operator and the emulator depend on against the real driver: the metric
names it serves, the executors coming and going in place (timed: the issue's budget is 15 s),
the application never restarting; and the query's output on a small known input.

Run with ``pytest -m spark tests/unit/test_spark_cluster.py -s`` to see the timings.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from hrl_autoscaler.config import PrometheusQueries, SimParams
from hrl_autoscaler.tools.devenv.emulator.app import EmulatedApp
from hrl_autoscaler.tools.devenv.emulator.exposition import registries
from hrl_autoscaler.tools.devenv.processes import free_port
from hrl_autoscaler.tools.spark.iot_options import IotJobOptions
from hrl_autoscaler.tools.spark.standalone import StandaloneCluster
from hrl_autoscaler.tools.spark.testing import (
    EventFileWriter,
    IotJobProcess,
    ScalingTiming,
    driver_executor_ids,
    time_scaling,
)

pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

IN_PLACE_BUDGET_S = 15.0
"""The issue's target: a new executor count shows at the master within 15 s."""


@dataclass
class Running:
    cluster: StandaloneCluster
    job: IotJobProcess
    writer: EventFileWriter
    target_file: Path
    app_id: str
    ui_url: str

    def set_target(self, count: int) -> None:
        tmp = self.target_file.with_name(".target.tmp")
        tmp.write_text(f"{count}\n")
        tmp.replace(self.target_file)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("spark-cluster")
    target_file = work / "target"
    target_file.write_text("2\n")
    with StandaloneCluster(work / "cluster", cores=4, memory="3g") as cluster:
        options = IotJobOptions(
            input_dir=work / "events",
            master=cluster.master_url,
            ui_port=free_port(),
            app_name="iot-cluster-test",
            work_factor=200,
            trigger_s=1.0,
            agent="file",
            agent_target_file=target_file,
            agent_poll_interval_s=0.5,
            min_executors=1,
            max_executors=4,
            conf=cluster.spark_conf(),
        )
        with EventFileWriter(work / "events", rate_eps=200.0) as writer:
            job = IotJobProcess(options, work / "job")
            try:
                status = job.wait_running(timeout_s=240)
                app_id = str(status["application_id"])
                # the standalone master starts cores.max executors; the agent trims to 2
                cluster.wait_for_executors(app_id, 2, timeout_s=180)
                yield Running(cluster, job, writer, target_file, app_id, str(status["ui_url"]))
            finally:
                code = job.stop()
                print(f"\nIoT job exit code {code}; log {job.log}")


def _metric_names(text: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1].isalpha()}


def test_the_driver_serves_what_the_operator_queries(running: Running) -> None:
    base = running.ui_url
    executors = httpx.get(
        f"{base}/metrics/executors/prometheus", timeout=10, follow_redirects=True
    ).text
    streaming = _wait_for_streaming_metrics(base)
    # executor metrics: Spark 4 names with the labels the default queries group by
    for name in ("activeTasks", "totalCores", "memoryUsed_bytes", "maxMemory_bytes"):
        pattern = (
            rf'^metrics_executor_{name}\{{application_id="{running.app_id}", '
            rf'application_name="iot-cluster-test", executor_id="[0-9]+"\}} '
        )
        assert re.search(pattern, executors, re.MULTILINE), (name, executors[:2000])
    # streaming metrics of the query "iot" under spark.metrics.namespace=spark
    for name in ("inputRate_total", "processingRate_total", "latency"):
        assert f"metrics_spark_driver_spark_streaming_iot_{name}_Value" in _metric_names(streaming)
    # the operator's default queries select these names ...
    queries = PrometheusQueries()
    selector = re.compile(r'__name__=~"([^"]+)"')
    for field in ("input_rate", "processing_rate", "latency"):
        match = selector.search(getattr(queries, field))
        assert match is not None
        regex = re.compile(match.group(1))
        assert any(regex.fullmatch(n) for n in _metric_names(streaming)), field
    for field in ("active_tasks", "total_cores", "running_executors", "memory_used", "memory_max"):
        names = re.findall(r"(metrics_executor_\w+)", getattr(queries, field))
        assert names, field
        assert set(names) <= _metric_names(executors), field
    # ... and the emulator serves the same names the real driver does
    emulated = _emulator_names()
    assert emulated["/metrics/prometheus"] <= _metric_names(streaming)
    assert emulated["/metrics/executors/prometheus"] <= _metric_names(executors)


def _wait_for_streaming_metrics(base: str, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = httpx.get(f"{base}/metrics/prometheus", timeout=10, follow_redirects=True).text
        if "spark_streaming_iot_latency_Value" in text:
            return text
        time.sleep(1)
    raise AssertionError(f"no streaming metrics after {timeout_s:.0f} s:\n{text[:2000]}")


def _emulator_names() -> dict[str, set[str]]:
    app = EmulatedApp("ns", "app", {"executor": {"instances": 2}}, {}, SimParams(), 0.0, 1)
    app.advance(10.0)
    app.state = "RUNNING"
    return {
        path: _metric_names(generate_latest(registry).decode())
        for path, registry in registries(lambda: [app]).items()
    }


def test_targets_apply_in_place_within_the_budget(running: Running) -> None:
    """2 -> 3 -> 1 executors through the agent; the application id never changes."""
    timings: list[ScalingTiming] = []
    for target in (3, 1):
        timing = time_scaling(
            lambda: len(running.cluster.executors(running.app_id)),
            running.app_id,
            running.ui_url,
            running.set_target,
            target,
        )
        timings.append(timing)
        print(
            f"\nin-place {timing.before} -> {timing.after}: master {timing.launched_s:.1f} s, "
            f"driver {timing.driver_s:.1f} s"
        )
    for timing in timings:
        assert timing.launched_s <= IN_PLACE_BUDGET_S, timings
    # one application throughout, its driver never restarted
    assert [a["id"] for a in running.cluster.applications()] == [running.app_id]
    assert running.job.process.alive()
    log = running.job.log_text()
    assert "requested 3 executors in total (was 2)" in log
    assert "requested 1 executors in total (was 3)" in log
    assert "scale-in to 1: removing" in log


def test_an_invalid_target_changes_nothing(running: Running) -> None:
    before = driver_executor_ids(running.ui_url, running.app_id)
    running.set_target(99)  # above max_executors=4
    deadline = time.monotonic() + 10
    while "ignoring hrl-autoscaler.io/target-executors='99" not in running.job.log_text():
        assert time.monotonic() < deadline, running.job.log_text()[-3000:]
        time.sleep(0.2)
    time.sleep(2)
    assert driver_executor_ids(running.ui_url, running.app_id) == before
    running.set_target(len(before))


def test_the_query_aggregates_windows_and_flags_anomalies(tmp_path: Path) -> None:
    """The job's own query on a known input, in local mode (``availableNow``: all then stop)."""
    events = tmp_path / "events"
    writer = EventFileWriter(events, devices=3, anomaly_every=4, seed=1)
    now = time.time()
    lines = writer.lines(40, now_s=now)
    (events / "part-0000000000001-000001.jsonl").write_text("\n".join(lines) + "\n")
    (events / ".part-0000000000002-000002.jsonl.tmp").write_text("{not json, never read\n")
    script = textwrap.dedent(
        f"""
        import json
        from pyspark.sql import SparkSession
        from hrl_autoscaler.tools.spark.iot_options import IotJobOptions
        from hrl_autoscaler.tools.spark.iot_query import build_stream
        spark = (SparkSession.builder.master("local[1]")
                 .config("spark.driver.host", "127.0.0.1")
                 .config("spark.ui.enabled", "false")
                 .config("spark.sql.shuffle.partitions", "2").getOrCreate())
        options = IotJobOptions(input_dir={str(events)!r}, work_factor=50)
        query = (build_stream(spark, options).writeStream.format("memory")
                 .queryName("out").outputMode("update").trigger(availableNow=True).start())
        query.awaitTermination()
        rows = [r.asDict() for r in spark.table("out").collect()]
        print("ROWS " + json.dumps(rows, default=str))
        spark.stop()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout.split("ROWS ", 1)[1])
    assert sum(r["events"] for r in rows) == 40
    assert sum(r["anomalies"] for r in rows) == 10  # every 4th reading
    assert {r["device_type"] for r in rows} <= {"heart-monitor", "thermometer", "water-meter"}
    for r in rows:
        assert r["min_reading"] <= r["mean_reading"] <= r["max_reading"]
        assert r["work_checksum"] is not None
