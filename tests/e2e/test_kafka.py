"""A real Kafka broker (marker ``kafka``, run in the e2e tier): the load generator's sink, the
consumer-group commits the IoT job makes, the lag exporter, and ``hrl-autoscaler dev kafka``.

One broker per module (a KRaft JVM, ~10 s to start). The exporter's lag arithmetic is unit-tested
with fakes in tests/unit/test_kafka_lag.py; here it meets the real wire protocol. The IoT job
itself reading this broker is tests/unit/test_kafka_spark.py (marker ``spark``).

    pytest -m kafka tests/e2e/test_kafka.py -s   # prints the timings
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import start_http_server

from hrl_autoscaler.tools.devenv.kafka import KafkaBroker, KafkaSettings
from hrl_autoscaler.tools.devenv.processes import free_port
from hrl_autoscaler.tools.kafka_lag.committer import OffsetCommitter
from hrl_autoscaler.tools.kafka_lag.exporter import build_registry
from hrl_autoscaler.tools.kafka_lag.reader import kafka_admin
from hrl_autoscaler.tools.loadgen.events import EventFactory, device_mix
from hrl_autoscaler.tools.loadgen.runner import run_loadgen
from hrl_autoscaler.tools.loadgen.schedule import constant_schedule
from hrl_autoscaler.tools.loadgen.sinks import KafkaSink

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    started = time.monotonic()
    with KafkaBroker(KafkaSettings(num_partitions=3)) as running:
        print(f"\nkafka {running.bootstrap} ready in {time.monotonic() - started:.1f} s")
        yield running


def _metrics(url: str) -> dict[str, float]:
    values = {}
    for line in httpx.get(url, timeout=30).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_loadgen_writes_every_event_once_keyed_by_device(broker: KafkaBroker) -> None:
    from kafka import KafkaConsumer

    broker.create_topics({"loadgen": 4})
    report = run_loadgen(
        constant_schedule(1000.0, 2.0, 0.5),
        EventFactory(7, 64, device_mix("flash-crowd"), 0.01),
        KafkaSink(broker.bootstrap, "loadgen"),
    )
    ends = broker.end_offsets("loadgen")
    assert report.produced_events == 2000
    assert sum(ends.values()) == 2000, ends
    assert all(count > 0 for count in ends.values()), ends  # the keys spread over partitions

    consumer = KafkaConsumer(
        "loadgen",
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    partition_of: dict[str, int] = {}
    seen = 0
    try:
        for record in consumer:
            key = record.key.decode()
            assert json.loads(record.value)["device_id"] == key
            # a device's readings stay in order on one partition
            assert partition_of.setdefault(key, record.partition) == record.partition
            seen += 1
            if seen == 2000:
                break
    finally:
        consumer.close()
    assert seen == 2000
    assert len(partition_of) == 64


def _produce(broker: KafkaBroker, topic: str, count: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(count):
        producer.send(topic, value=b"{}", key=f"k{i}".encode())
    producer.flush()
    producer.close()


def _commit_until_accepted(committer: OffsetCommitter, progress: dict[str, Any]) -> None:
    """The first commit to a fresh broker can meet a coordinator still being elected."""
    deadline = time.monotonic() + 30
    while not committer.commit(progress):
        assert time.monotonic() < deadline, f"no commit accepted ({committer.failures} failures)"
        time.sleep(0.5)


def test_exporter_follows_the_committed_group(broker: KafkaBroker) -> None:
    broker.create_topics({"lagged": 3})
    _produce(broker, "lagged", 300)
    ends = broker.end_offsets("lagged")
    committer = OffsetCommitter.for_bootstrap(broker.bootstrap, "iot-app")
    half = {str(p): end // 2 for p, end in ends.items()}
    progress = {"batchId": 0, "sources": [{"description": "KafkaV2[x]", "endOffset": {}}]}
    progress["sources"][0]["endOffset"] = {"lagged": half}
    _commit_until_accepted(committer, progress)

    registry, collector = build_registry(
        lambda: kafka_admin(broker.bootstrap), groups=["iot-app"], namespace="apps"
    )
    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    try:
        series = 'kafka_consumergroup_group_lag{group="iot-app",namespace="apps",topic="lagged"}'
        values = _metrics(url)
        assert values[series] == 300 - sum(half.values())
        assert values["kafka_lag_exporter_up"] == 1
        for p, end in ends.items():
            hwm = f'kafka_topic_partition_high_water_mark{{partition="{p}",topic="lagged"}}'
            assert values[hwm] == end
        progress["batchId"] = 1
        progress["sources"][0]["endOffset"] = {"lagged": {str(p): e for p, e in ends.items()}}
        assert committer.commit(progress)
        drained = _metrics(url)
        assert drained[series] == 0
        assert (
            drained[
                'kafka_consumergroup_group_offset{group="iot-app",namespace="apps",topic="lagged"}'
            ]
            == 300
        )
    finally:
        server.shutdown()
        collector.close()
        committer.close()


def test_exporter_with_kafka_unreachable_keeps_serving_without_lag() -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    registry, collector = build_registry(lambda: kafka_admin(dead, request_timeout_ms=1000))
    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    try:
        for scrape in (1, 2):
            values = _metrics(url)
            assert values["kafka_lag_exporter_up"] == 0
            assert values["kafka_lag_exporter_errors_total"] == scrape
            assert not any(k.startswith("kafka_consumergroup") for k in values)
    finally:
        server.shutdown()
        collector.close()


def test_dev_kafka_binds_all_interfaces_and_stops_on_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hrl_autoscaler.cli",
            "dev",
            "kafka",
            "--listen",
            "0.0.0.0",  # noqa: S104 - what pods need; reached here through loopback only
            "--advertise",
            "127.0.0.1",
            "--port",
            str(port),
            "--topic",
            "made-at-start",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.strip() == f"bootstrap: 127.0.0.1:{port}", first
        admin = kafka_admin(f"127.0.0.1:{port}")
        try:
            assert "made-at-start" in admin.describe_topics(["made-at-start"])[0]["name"]
        finally:
            admin.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
