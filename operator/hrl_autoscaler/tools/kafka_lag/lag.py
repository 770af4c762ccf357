"""Consumer-group lag arithmetic: committed offsets and log-end offsets in, lag per topic out.

Pure functions over plain mappings, so the rules are unit-tested without a broker:

* lag of a partition = its log-end offset (high-water mark) - the group's committed offset,
  never below 0 (a commit read after a newer end offset is a race, not a negative backlog);
* a partition of a topic the group consumes but with **no committed offset counts its whole
  log as lag** (the end offset, from 0: retention is ignored). That is what a new consumer
  group that starts from the earliest offset has ahead of it, and it keeps a job that has
  not committed yet from looking idle;
* a group's topics are those it has committed any offset on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TopicPartition = tuple[str, int]
"""(topic, partition): kafka-python's ``TopicPartition`` is such a named tuple."""


@dataclass(frozen=True)
class TopicLag:
    """One group's position on one topic, summed over the topic's partitions."""

    group: str
    topic: str
    lag: int
    """Records behind the log end (the backlog the operator reads)."""
    offset: int
    """Sum of committed offsets (0 for a partition without one)."""
    partitions: int
    uncommitted: int
    """Partitions without a committed offset (their whole log counted as lag)."""


def group_topic_lags(
    group: str,
    committed: Mapping[TopicPartition, int | None],
    end_offsets: Mapping[TopicPartition, int],
) -> list[TopicLag]:
    """Lag per topic of ``group``.

    ``committed`` has the group's committed offsets (None or a negative value = none: kafka
    reports -1 for a partition without a commit); ``end_offsets`` every partition of the
    group's topics. A partition missing from ``end_offsets`` is skipped (the topic shrank or
    was deleted; there is no end to measure against).
    """
    topics = sorted({topic for topic, _ in committed})
    out = []
    for topic in topics:
        lag = offset = partitions = uncommitted = 0
        for (t, partition), end in sorted(end_offsets.items()):
            if t != topic:
                continue
            at = committed.get((t, partition))
            if at is None or at < 0:
                uncommitted += 1
                at = 0
            partitions += 1
            offset += at
            lag += max(0, end - at)
        if partitions:
            out.append(TopicLag(group, topic, lag, offset, partitions, uncommitted))
    return out


def all_lags(
    committed_by_group: Mapping[str, Mapping[TopicPartition, int | None]],
    end_offsets: Mapping[TopicPartition, int],
) -> list[TopicLag]:
    """:func:`group_topic_lags` for every group, sorted by group then topic."""
    return [
        lag
        for group in sorted(committed_by_group)
        for lag in group_topic_lags(group, committed_by_group[group], end_offsets)
    ]


def topics_of(committed_by_group: Mapping[str, Mapping[TopicPartition, int | None]]) -> set[str]:
    """Every topic any of the groups has committed on (whose partitions' ends are needed)."""
    return {topic for offsets in committed_by_group.values() for topic, _ in offsets}


def partitions_of(topics: Mapping[str, Iterable[int]]) -> list[TopicPartition]:
    """(topic, partition) pairs from topic -> partition ids, sorted."""
    return sorted((topic, p) for topic, ids in topics.items() for p in ids)


__all__ = [
    "TopicLag",
    "TopicPartition",
    "all_lags",
    "group_topic_lags",
    "partitions_of",
    "topics_of",
]
