"""A single KRaft Kafka broker (broker and controller in one JVM) for tests and the dev setup.

It is a real Apache Kafka (the jars from :mod:`.jars`), so the load generator's producer, the
Spark connector and the lag exporter meet the wire protocol, offsets and consumer groups they
meet in production. One process, started and stopped with the devenv's
:class:`~hrl_autoscaler.tools.devenv.processes.ManagedProcess` (own process group, tied to the
parent, log in the data directory).

Reachability: tests on the host use the default ``127.0.0.1``. Pods on the local node cannot
reach the host's loopback, so for them bind ``listen_host="0.0.0.0"`` and advertise an address
they can route to (``advertised_host``, e.g. :func:`host_ip`): Kafka clients connect to the
bootstrap address only to learn the *advertised* one, and then use that.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrl_autoscaler.tools.devenv.kafka.jars import (
    KafkaDistribution,
    ensure_kafka_libs,
    java_binary,
)
from hrl_autoscaler.tools.devenv.processes import (
    ManagedProcess,
    check_port_free,
    free_port,
)
from hrl_autoscaler.tools.lifecycle import StartStop

NODE_ID = 1
ANY_ADDRESS = ("0.0.0.0", "::")  # noqa: S104 - bound only when asked, for pods on the node
LOG4J2_CONFIG = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""
"""log4j2 configuration: everything to stdout, which the ManagedProcess appends to
``<data_dir>/kafka.log`` (one file to read; the state-change chatter kept out)."""


class KafkaBrokerError(RuntimeError):
    """The broker did not start, answer or create a topic; the message carries its log tail."""


@dataclass(frozen=True)
class KafkaSettings:
    """How to run the broker; every default suits a test on one small machine."""

    listen_host: str = "127.0.0.1"
    """Address the client listener binds: loopback for host-only tests, ``0.0.0.0`` (or one
    interface's IP) when pods must reach it."""
    port: int = 0
    """Client listener port; 0 = a free port chosen at start (parallel test runs never
    collide)."""
    advertised_host: str | None = None
    """Host clients are told to connect to; None = ``listen_host`` (which then must not be
    ``0.0.0.0``, an address no client can connect to)."""
    data_dir: Path | None = None
    """Log segments, metadata, config and ``kafka.log``; None = a temporary directory removed
    at stop."""
    num_partitions: int = 4
    """Partitions of auto-created topics: more than one, so per-partition offsets and keyed
    routing are exercised; few, because each costs files and threads."""
    retention_ms: int = 3_600_000
    """Log retention, ms (1 h): a test or demo never needs more, and the disk stays small."""
    retention_bytes: int = 256 * 1024 * 1024
    """Per-partition size cap, bytes (256 MiB), for long load-generator runs."""
    heap_mb: int = 512
    """JVM heap, MiB: a single test broker needs far less than Kafka's 1 GiB default, and the
    machine is shared with Spark."""
    ready_timeout_s: float = 60.0
    """How long start waits for the broker to answer a metadata request (a cold JVM and the
    KRaft controller's election take ~5-15 s here)."""
    extra: Mapping[str, str] = field(default_factory=dict)
    """More ``server.properties`` entries, applied last."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"KafkaSettings.port must be 0 (any free) to 65535, got {self.port}")
        if self.num_partitions < 1:
            raise ValueError(
                f"KafkaSettings.num_partitions must be >= 1, got {self.num_partitions}"
            )
        if self.retention_ms < 1 or self.retention_bytes < 1:
            raise ValueError("KafkaSettings.retention_ms and retention_bytes must be >= 1")
        if self.heap_mb < 128:
            raise ValueError(f"KafkaSettings.heap_mb must be >= 128, got {self.heap_mb}")
        if self.listen_host in ANY_ADDRESS and not self.advertised_host:
            raise ValueError(
                f"KafkaSettings.advertised_host is required when listen_host is "
                f"{self.listen_host!r}: pass the address clients reach (the node's "
                "hostdeps.primary_ip())"
            )

    @property
    def advertised(self) -> str:
        return self.advertised_host or self.listen_host


def server_properties(
    settings: KafkaSettings, port: int, controller_port: int, log_dir: Path
) -> dict[str, str]:
    """``server.properties`` of a combined broker+controller with replication factor 1."""
    props = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://{settings.listen_host}:{port},"
        f"CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{settings.advertised}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": str(settings.num_partitions),
        "auto.create.topics.enable": "true",
        "log.retention.ms": str(settings.retention_ms),
        "log.retention.bytes": str(settings.retention_bytes),
        # one broker: every internal topic at replication 1, and few partitions (the default
        # 50 of __consumer_offsets take seconds to create on a group's first commit)
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    props.update(settings.extra)
    return props


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as Uuid prints)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class KafkaBroker(StartStop):
    """One broker process; ``bootstrap`` is valid after :meth:`start`. A context manager;
    entering a started broker keeps it (``start`` is idempotent)."""

    def __init__(
        self, settings: KafkaSettings | None = None, dist: KafkaDistribution | None = None
    ) -> None:
        self.settings = settings or KafkaSettings()
        self.dist = dist or KafkaDistribution()
        self.process: ManagedProcess | None = None
        self.port = self.settings.port
        self._tmp: Path | None = None
        self.data_dir = self.settings.data_dir or Path()

    @property
    def bootstrap(self) -> str:
        """``HOST:PORT`` for clients (the advertised host)."""
        return f"{self.settings.advertised}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "kafka.log"

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        return [
            str(java_binary()),
            f"-Xms{min(256, self.settings.heap_mb)}m",
            f"-Xmx{self.settings.heap_mb}m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def start(self, *, tie_to_parent: bool = True) -> KafkaBroker:
        """Fetch the jars if needed, format the storage, start the JVM and wait until ready."""
        if self.process is not None:
            return self
        libs = ensure_kafka_libs(self.dist)
        if self.settings.data_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="hrl-kafka-"))
            self.data_dir = self._tmp
        self.data_dir.mkdir(parents=True, exist_ok=True)
        bind = "127.0.0.1" if self.settings.listen_host in ANY_ADDRESS else None
        if self.port == 0:
            self.port = free_port(bind or self.settings.listen_host)
        else:
            check_port_free(
                self.port, "kafka", "KafkaSettings.port", bind or self.settings.listen_host
            )
        controller_port = free_port()
        config = self.data_dir / "server.properties"
        props = server_properties(self.settings, self.port, controller_port, self.data_dir / "log")
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.data_dir / "log4j2.properties").write_text(LOG4J2_CONFIG)
        self._format(libs, config)
        self.process = ManagedProcess.start(
            "kafka",
            self._java(libs, "kafka.Kafka", str(config)),
            self.log_path,
            tie_to_parent=tie_to_parent,
        )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _format(self, libs: Path, config: Path) -> None:
        """``kafka-storage.sh format``: KRaft refuses to start on an unformatted log dir."""
        argv = self._java(
            libs,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            # one argument: an id may start with '-', which argparse would take for an option
            f"--cluster-id={_cluster_id()}",
            "--config",
            str(config),
        )
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise KafkaBrokerError(
                f"formatting the Kafka storage in {self.data_dir} failed "
                f"(exit {done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
            )

    def admin(self, **config: Any) -> Any:
        """A kafka-python ``KafkaAdminClient`` on this broker (the caller closes it)."""
        from kafka import KafkaAdminClient

        return KafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="hrl-autoscaler-devenv", **config
        )

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Until a metadata request answers with this broker in it, or KafkaBrokerError."""
        timeout_s = self.settings.ready_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None:
                self.process.ensure_running()
            try:
                client = self.admin(
                    request_timeout_ms=3000,
                    bootstrap_timeout_ms=3000,
                    reconnect_backoff_max_ms=500,
                )
                try:
                    if client.describe_cluster().get("brokers"):
                        return
                finally:
                    client.close()
            except Exception as exc:  # any client error means: not yet
                last = exc
            time.sleep(0.5)
        tail = self.process.log_tail(30) if self.process else ""
        raise KafkaBrokerError(
            f"Kafka at {self.bootstrap} did not answer in {timeout_s:.0f} s (last error: {last}); "
            f"log {self.log_path}:\n{tail}"
        )

    def create_topics(self, topics: Mapping[str, int] | Sequence[str]) -> None:
        """Create topics (name -> partitions; a plain name gets ``num_partitions``), waiting
        until every partition has a leader. An existing topic is an error (a test's leftover)."""
        wanted = (
            dict(topics)
            if isinstance(topics, Mapping)
            else dict.fromkeys(topics, self.settings.num_partitions)
        )
        client = self.admin()
        try:
            client.create_topics(
                {
                    name: {"num_partitions": parts, "replication_factor": 1}
                    for name, parts in wanted.items()
                },
                wait_for_metadata=True,
            )
        except Exception as exc:
            raise KafkaBrokerError(f"creating topics {sorted(wanted)} failed: {exc}") from exc
        finally:
            client.close()

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Log-end offset of each partition of ``topic`` (records ever written, no retention
        here in a test's lifetime): how tests count what reached the broker."""
        from kafka import TopicPartition
        from kafka.admin import OffsetSpec

        client = self.admin()
        try:
            described = client.describe_topics([topic])
            ids = [int(p["partition_index"]) for t in described for p in t["partitions"]]
            found = client.list_partition_offsets(
                {TopicPartition(topic, p): OffsetSpec.LATEST for p in ids}
            )
        finally:
            client.close()
        return {int(tp.partition): int(o.offset) for tp, o in sorted(found.items())}

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after the devenv's timeout; the temp dir goes."""
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


__all__ = ["KafkaBroker", "KafkaBrokerError", "KafkaSettings", "server_properties"]
