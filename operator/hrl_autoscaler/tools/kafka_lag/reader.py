"""Read consumer groups' committed offsets and their topics' log-end offsets from Kafka.

Four admin requests per read, whatever the number of groups: list the groups (when none are
named), fetch their committed offsets (one OffsetFetch per coordinator), describe their topics
(for partitions without a commit), and list the partitions' latest offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hrl_autoscaler.tools.kafka_lag.lag import (
    TopicLag,
    TopicPartition,
    all_lags,
    partitions_of,
    topics_of,
)

KAFKA_CLIENT = "kafka-python==3.0.12"


class Admin(Protocol):
    """What the reader needs of kafka-python's ``KafkaAdminClient``."""

    def list_groups(self) -> list[dict[str, Any]]: ...

    def list_group_offsets(self, group_specs: dict[str, Any]) -> dict[str, dict[Any, Any]]: ...

    def describe_topics(self, topics: list[str] | None = ...) -> list[dict[str, Any]]: ...

    def list_partition_offsets(self, topic_partition_specs: dict[Any, Any]) -> dict[Any, Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Snapshot:
    """One consistent-enough read: every group's lag per topic and each partition's end."""

    lags: list[TopicLag]
    end_offsets: dict[TopicPartition, int]


def kafka_admin(bootstrap: str, request_timeout_ms: int = 5000) -> Admin:
    """A kafka-python admin client, or ValueError naming the missing extra."""
    try:
        from kafka import KafkaAdminClient
    except ImportError:
        raise ValueError(
            f"the lag exporter needs the Kafka client: pip install '{KAFKA_CLIENT}' "
            "(the [kafka] extra)"
        ) from None
    admin: Admin = KafkaAdminClient(
        bootstrap_servers=[s.strip() for s in bootstrap.split(",") if s.strip()],
        client_id="hrl-autoscaler-kafka-lag",
        request_timeout_ms=request_timeout_ms,
        # kafka-python waits 30 s for a first connection by default: longer than a scrape
        bootstrap_timeout_ms=request_timeout_ms,
        reconnect_backoff_max_ms=min(request_timeout_ms, 5000),
    )
    return admin


def close_quietly(admin: Any, log: logging.Logger) -> None:
    """Close a Kafka client that may be broken already (then closing fails too: logged)."""
    if admin is None:
        return
    try:
        admin.close()
    except Exception:
        log.debug("closing the admin client failed", exc_info=True)


def read_snapshot(admin: Admin, groups: Sequence[str] = ()) -> Snapshot:
    """Lag of ``groups`` (every consumer group when empty); raises on any Kafka error."""
    names = list(groups) or sorted(
        str(g["group_id"]) for g in admin.list_groups() if g.get("group_type") != "share"
    )
    if not names:
        return Snapshot([], {})
    fetched = admin.list_group_offsets(dict.fromkeys(names))
    committed: dict[str, dict[TopicPartition, int | None]] = {
        group: {(tp[0], int(tp[1])): int(meta[0]) for tp, meta in offsets.items()}
        for group, offsets in fetched.items()
    }
    topics = sorted(topics_of(committed))
    if not topics:
        return Snapshot([], {})
    described = admin.describe_topics(topics)
    partitions = partitions_of(
        {
            str(t["name"]): [int(p["partition_index"]) for p in t.get("partitions", [])]
            for t in described
            if not t.get("error_code")
        }
    )
    from kafka import TopicPartition as KafkaTopicPartition
    from kafka.admin import OffsetSpec

    latest = admin.list_partition_offsets(
        {KafkaTopicPartition(t, p): OffsetSpec.LATEST for t, p in partitions}
    )
    ends = {(tp[0], int(tp[1])): int(found[0]) for tp, found in latest.items()}
    return Snapshot(all_lags(committed, ends), ends)


__all__ = ["Admin", "Snapshot", "close_quietly", "kafka_admin", "read_snapshot"]
