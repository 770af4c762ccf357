"""The IoT job reading a real Kafka, its progress visible as consumer-group lag (markers
``spark`` and ``kafka``).

A KRaft broker, the load generator (its runner and Kafka sink, in-process) writing a known
number of events to a 4-partition topic before and while the job runs, the job (local Spark,
``source=kafka`` from the earliest offset, 1 s trigger) as its own process like a driver pod,
and the lag exporter serving HTTP. Checked: the batches' ``numInputRows`` add up to exactly
what was produced (no loss, no duplicate), the application's consumer group has committed the
end of every partition, and the exporter's ``kafka_consumergroup_group_lag`` reads 0 after the
drain (and a positive lag while events wait).

    pytest -m spark tests/unit/test_kafka_spark.py -s   # prints the timings
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import start_http_server

from hrl_autoscaler.tools.devenv.kafka import KafkaBroker, KafkaSettings
from hrl_autoscaler.tools.kafka_lag.exporter import build_registry
from hrl_autoscaler.tools.kafka_lag.reader import kafka_admin
from hrl_autoscaler.tools.loadgen.events import EventFactory, device_mix
from hrl_autoscaler.tools.loadgen.runner import run_loadgen
from hrl_autoscaler.tools.loadgen.schedule import constant_schedule
from hrl_autoscaler.tools.loadgen.sinks import KafkaSink
from hrl_autoscaler.tools.spark.iot_options import IotJobOptions
from hrl_autoscaler.tools.spark.testing import IotJobProcess

pytestmark = [pytest.mark.spark, pytest.mark.kafka, pytest.mark.timeout(600)]

TOPIC = "iot-events"
APP = "iot-kafka-test"
LAG_SERIES = f'kafka_consumergroup_group_lag{{group="{APP}",namespace="apps",topic="{TOPIC}"}}'


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    with KafkaBroker(KafkaSettings(num_partitions=4)) as running:
        running.create_topics({TOPIC: 4})
        yield running


def _produce(broker: KafkaBroker, rate_eps: float, seconds: float, seed: int) -> int:
    report = run_loadgen(
        constant_schedule(rate_eps, seconds, 0.5),
        EventFactory(seed, 100, device_mix("flash-crowd"), 0.01),
        KafkaSink(broker.bootstrap, TOPIC),
        seed=seed,
    )
    return report.produced_events


def _scrape(url: str) -> dict[str, float]:
    values = {}
    for line in httpx.get(url, timeout=30).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def _rows_per_batch(progress_file: Path) -> dict[int, int]:
    """numInputRows per batch id (a batch id reported twice, e.g. an idle trigger's progress
    before the batch ran, counts once with its largest value)."""
    rows: dict[int, int] = {}
    for line in progress_file.read_text().splitlines():
        record = json.loads(line)
        batch = int(record["batchId"])
        rows[batch] = max(rows.get(batch, 0), int(record.get("numInputRows", 0)))
    return rows


def test_the_job_drains_kafka_and_its_group_lag_reaches_zero(
    broker: KafkaBroker, tmp_path: Path
) -> None:
    started = time.monotonic()
    produced = _produce(broker, 1000.0, 2.0, seed=1)  # waiting before the job starts

    registry, collector = build_registry(
        lambda: kafka_admin(broker.bootstrap), groups=[APP], namespace="apps"
    )
    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    progress_file = tmp_path / "progress.jsonl"
    options = IotJobOptions(
        source="kafka",
        kafka_bootstrap=broker.bootstrap,
        kafka_topic=TOPIC,
        kafka_starting_offsets="earliest",
        app_name=APP,
        master="local[2]",
        trigger_s=1.0,
        work_factor=20,
        input_partitions=4,
        shuffle_partitions=2,
        progress_file=progress_file,
    )
    job = IotJobProcess(options, tmp_path / "job")
    try:
        assert LAG_SERIES not in _scrape(url)  # no commit yet: the group does not exist
        job.wait_running(timeout_s=300)
        running_at = time.monotonic()
        produced += _produce(broker, 1000.0, 3.0, seed=2)  # while it runs
        ends = broker.end_offsets(TOPIC)
        assert sum(ends.values()) == produced

        deadline = time.monotonic() + 120
        values: dict[str, float] = {}
        while time.monotonic() < deadline:
            values = _scrape(url)
            if values.get(LAG_SERIES) == 0:
                break
            time.sleep(1)
        drained_at = time.monotonic()
        assert values.get(LAG_SERIES) == 0, (values, job.log_text()[-3000:])
        offset_series = LAG_SERIES.replace("group_lag", "group_offset")
        assert values[offset_series] == produced
        admin = kafka_admin(broker.bootstrap)
        try:
            committed = admin.list_group_offsets({APP: None})[APP]
        finally:
            admin.close()
        assert {tp.partition: meta.offset for tp, meta in committed.items()} == ends
    finally:
        code = job.stop()
        server.shutdown()
        collector.close()
    assert code == 0, job.log_text()[-3000:]
    rows = _rows_per_batch(progress_file)
    assert sum(rows.values()) == produced, rows
    assert "offset commits, 0 failed" in job.log_text()
    print(
        f"\n{produced} events over {len(ends)} partitions in {len(rows)} batches; job up "
        f"{running_at - started:.1f} s after the first event, drained "
        f"{drained_at - running_at:.1f} s later; test wall time "
        f"{time.monotonic() - started:.1f} s"
    )
