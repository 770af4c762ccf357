"""Make a Structured Streaming query's Kafka progress visible as a consumer group.

Spark's Kafka source keeps its offsets in the query's checkpoint and never commits them to
Kafka, so lag tools (KMinion, :mod:`.exporter`) see no group and the operator's backlog query
sees nothing. The job's driver therefore commits, after each micro-batch, the batch's end
offsets (``sources[i].endOffset`` of the query progress: ``{topic: {partition: offset}}``, the
next offset to read, which is what Kafka's committed offset means too) to a consumer group
named after the application.

The commit is an admin ``OffsetCommit`` for an empty group (no members), which Kafka accepts
from outside the group; it is only a report: Spark never reads it back, so a failed or late
commit cannot lose or repeat data. Failures are logged and counted and never stop the job; the
next batch's commit carries the newer offsets anyway. Repeating the same offsets is skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from hrl_autoscaler.tools.kafka_lag.lag import TopicPartition
from hrl_autoscaler.tools.kafka_lag.reader import close_quietly

log = logging.getLogger("hrl_autoscaler.tools.kafka_lag.committer")

AdminFactory = Callable[[], Any]


def kafka_end_offsets(progress: Mapping[str, Any]) -> dict[TopicPartition, int]:
    """The end offsets of a progress record's Kafka sources (other sources are skipped).

    ``endOffset`` is a JSON object in ``StreamingQueryProgress.json`` and a JSON string in
    some Spark versions' Python dicts; both are read. Negative values (Spark's symbolic
    earliest/latest) are not offsets and are skipped.
    """
    out: dict[TopicPartition, int] = {}
    for source in progress.get("sources") or []:
        if not str(source.get("description", "")).startswith("Kafka"):
            continue
        end = source.get("endOffset")
        if isinstance(end, str):
            try:
                end = json.loads(end)
            except ValueError:
                continue
        if not isinstance(end, Mapping):
            continue
        for topic, partitions in end.items():
            if not isinstance(partitions, Mapping):
                continue
            for partition, offset in partitions.items():
                if isinstance(offset, int) and offset >= 0:
                    out[(str(topic), int(partition))] = offset
    return out


class OffsetCommitter:
    """Commits the newest batch's end offsets under ``group``; never raises."""

    def __init__(self, group: str, admin_factory: AdminFactory) -> None:
        if not group:
            raise ValueError("the consumer group to commit under must not be empty")
        self.group = group
        self._factory = admin_factory
        self._admin: Any = None
        self._last: dict[TopicPartition, int] = {}
        self.commits = 0
        self.failures = 0

    @classmethod
    def for_bootstrap(cls, bootstrap: str, group: str) -> OffsetCommitter:
        def factory() -> Any:
            from kafka import KafkaAdminClient

            return KafkaAdminClient(
                bootstrap_servers=[s.strip() for s in bootstrap.split(",") if s.strip()],
                client_id=f"{group}-offset-report",
                request_timeout_ms=5000,
                # bounded: the job's progress loop waits on this (30 s by default)
                bootstrap_timeout_ms=5000,
                reconnect_backoff_max_ms=5000,
            )

        return cls(group, factory)

    def commit(self, progress: Mapping[str, Any]) -> bool:
        """Commit ``progress``'s Kafka end offsets; True when a commit was made."""
        offsets = kafka_end_offsets(progress)
        if not offsets or offsets == self._last:
            return False
        try:
            from kafka import TopicPartition as KafkaTopicPartition
            from kafka.structs import OffsetAndMetadata

            if self._admin is None:
                self._admin = self._factory()
            results = self._admin.alter_group_offsets(
                self.group,
                {
                    KafkaTopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                    for (t, p), o in offsets.items()
                },
            )
            failed = {tp: err for tp, err in results.items() if err.__name__ != "NoError"}
            if failed:
                raise RuntimeError(f"partition errors: {failed}")
        except Exception as exc:  # a report, never fatal to the job
            self.failures += 1
            log.warning(
                "committing batch %s offsets to consumer group %s failed (%d so far): %s",
                progress.get("batchId"),
                self.group,
                self.failures,
                exc,
            )
            self._reset()
            return False
        self._last = offsets
        self.commits += 1
        return True

    def _reset(self) -> None:
        admin, self._admin = self._admin, None
        close_quietly(admin, log)

    def close(self) -> None:
        self._reset()


__all__ = ["OffsetCommitter", "kafka_end_offsets"]
