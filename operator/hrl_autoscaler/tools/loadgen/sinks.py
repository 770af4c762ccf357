"""Where events go: a directory of JSON-lines files (local runs) or a Kafka topic (clusters).

Directory format, agreed with the Spark job: one file per tick,
``<dir>/part-<epoch_ms>-<seq>.jsonl``, written under a temporary name that starts with ``.``
(Spark's file source ignores hidden files) and renamed into place, so the job never reads a
half-written file. Kafka: one record per event, keyed by device id (a device's readings stay
in order on one partition), flushed once per tick so a tick's events are on the broker when
the tick ends.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from hrl_autoscaler.config import LOADGEN

KAFKA_CLIENT = "kafka-python==3.0.12"
"""The pinned Kafka client (the optional ``[kafka]`` extra); imported only by the Kafka sink."""

FILE_PATTERN = re.compile(r"^part-(\d{13})-(\d{6})\.jsonl$")
_DEVICE_ID = re.compile(r'"device_id": "([^"]+)"')


class Sink(Protocol):
    """Receives each tick's lines; ``write`` returns once they are visible to consumers."""

    name: str

    def write(self, tick: int, epoch_ms: int, lines: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class DirectorySink:
    """Atomic JSON-lines files in a directory (created when missing)."""

    name = "directory"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"--out: {self.directory} exists and is not a directory")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"--out: cannot create {self.directory}: {exc.strerror}") from None
        self.files = 0

    def write(self, tick: int, epoch_ms: int, lines: Sequence[str]) -> None:
        if not lines:
            return  # an empty file would only cost the job a listing
        name = f"part-{epoch_ms:013d}-{tick:06d}.jsonl"
        tmp = self.directory / f".{name}.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
            handle.write("\n")
        os.rename(tmp, self.directory / name)
        self.files += 1

    def close(self) -> None:
        return None


class Producer(Protocol):
    """What the Kafka sink needs of a producer (kafka-python's ``KafkaProducer`` has it)."""

    def send(self, topic: str, value: bytes | None = ..., key: bytes | None = ...) -> Any: ...

    def flush(self, timeout: float | None = ...) -> None: ...

    def close(self, timeout: float | None = ...) -> None: ...


ProducerFactory = Callable[..., Producer]


def _kafka_producer_factory() -> ProducerFactory:
    try:
        from kafka import KafkaProducer
    except ImportError:
        raise ValueError(
            f"--kafka-bootstrap needs the Kafka client: pip install '{KAFKA_CLIENT}' "
            "(the [kafka] extra)"
        ) from None
    factory: ProducerFactory = KafkaProducer
    return factory


class KafkaSink:
    """One Kafka record per event on ``topic``, keyed by device id, flushed per tick."""

    name = "kafka"

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        producer_factory: ProducerFactory | None = None,
        linger_ms: int = LOADGEN.kafka_linger_ms,
        acks: str = LOADGEN.kafka_acks,
        flush_timeout_s: float = 30.0,
    ) -> None:
        servers = [s.strip() for s in bootstrap.split(",") if s.strip()]
        if not servers or any(":" not in s for s in servers):
            raise ValueError(
                f"--kafka-bootstrap must be HOST:PORT[,HOST:PORT...], got {bootstrap!r}"
            )
        if not topic or not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", topic):
            raise ValueError(
                f"--kafka-topic must be 1-249 characters of letters, digits, '.', '_' or '-', "
                f"got {topic!r}"
            )
        factory = producer_factory or _kafka_producer_factory()
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s
        self.records = 0
        self.producer = factory(
            bootstrap_servers=servers,
            linger_ms=linger_ms,
            acks=int(acks) if acks.isdigit() else acks,
            client_id="hrl-autoscaler-loadgen",
        )

    def write(self, tick: int, epoch_ms: int, lines: Sequence[str]) -> None:
        send = self.producer.send
        for line in lines:
            match = _DEVICE_ID.search(line)
            key = match.group(1).encode() if match else None
            send(self.topic, value=line.encode(), key=key)
        self.producer.flush(timeout=self.flush_timeout_s)
        self.records += len(lines)

    def close(self) -> None:
        self.producer.flush(timeout=self.flush_timeout_s)
        self.producer.close(timeout=self.flush_timeout_s)
