"""Micro-batch progress (``StreamingQuery.recentProgress``) into the calibration's numbers.

Pure functions of the progress dictionaries, so they are unit-tested on recorded progress and
the Spark run only has to collect them. Spark keeps the last 100 progress entries
(``spark.sql.streaming.numRecentProgressUpdates``), so the collector polls and merges by
``batchId``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from hrl_autoscaler.tools.calibration.schema import BatchSample, LoadStep

FALLING_BEHIND = 0.9
"""A step whose flow-through rate is below 90% of what arrived did not keep up."""


def _epoch(text: str) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def batch_sample(progress: Mapping[str, Any]) -> BatchSample | None:
    """One progress entry as a sample; None for batches that read nothing (no-data batches
    that only advance the watermark are not load)."""
    rows = int(progress.get("numInputRows") or 0)
    duration_ms = (progress.get("durationMs") or {}).get("triggerExecution")
    if rows <= 0 or duration_ms is None:
        return None
    start = _epoch(progress["timestamp"])
    duration_s = float(duration_ms) / 1000.0
    event_latency = None
    event_time = progress.get("eventTime") or {}
    if event_time.get("avg"):
        event_latency = start + duration_s - _epoch(event_time["avg"])
    return BatchSample(
        batch_id=int(progress["batchId"]),
        start_epoch_s=start,
        duration_s=duration_s,
        input_rows=rows,
        event_latency_s=event_latency,
    )


def merge_progress(
    seen: dict[int, BatchSample], entries: Iterable[Mapping[str, Any]]
) -> dict[int, BatchSample]:
    """Add new batches from a poll of ``recentProgress`` to ``seen`` (by batch id)."""
    for entry in entries:
        sample = batch_sample(entry)
        if sample is not None:
            seen.setdefault(sample.batch_id, sample)
    return seen


def summarise_step(
    executors: int,
    offered_eps: float,
    produced_eps: float,
    duration_s: float,
    batches: Sequence[BatchSample],
    trigger_s: float,
    saturation_ratio: float = 1.0,
) -> LoadStep:
    """What the job did under one load step.

    ``processed_eps`` is Spark's processing rate (rows / busy time); ``input_eps`` what
    flowed through per wall second: rows of all batches but the last over the time from the
    first batch's start to the last one's. The step is saturated when that falls clearly
    below what arrived (the backlog grows) or the batches grow past ``saturation_ratio`` x
    the trigger interval *and* keep growing; a steady batch longer than the trigger is not
    saturation: the file source then runs batches back to back, each holding more rows.
    """
    if not batches:
        raise ValueError(
            f"no micro-batch with data at {executors} executor(s), {offered_eps:.0f} events/s: "
            "the job did not process anything (is it reading the load generator's directory?)"
        )
    ordered = sorted(batches, key=lambda b: b.batch_id)
    rows = [b.input_rows for b in ordered]
    durations = [b.duration_s for b in ordered]
    busy = sum(durations)
    processed = sum(rows) / busy if busy > 0 else 0.0
    if len(ordered) >= 2:
        span = ordered[-1].start_epoch_s - ordered[0].start_epoch_s
        flowed = sum(rows[:-1]) / span if span > 0 else processed
    else:
        flowed = min(processed, rows[0] / trigger_s)
    mean_batch = sum(durations) / len(durations)
    third = max(1, len(durations) // 3)
    growing = len(durations) >= 3 and sum(durations[-third:]) / third > 1.3 * (
        sum(durations[:third]) / third
    )
    saturated = flowed < FALLING_BEHIND * produced_eps or (
        mean_batch > saturation_ratio * trigger_s and growing
    )
    latencies = [b.event_latency_s for b in ordered if b.event_latency_s is not None]
    return LoadStep(
        executors=executors,
        offered_eps=offered_eps,
        produced_eps=produced_eps,
        duration_s=duration_s,
        batches=list(ordered),
        mean_batch_s=mean_batch,
        mean_input_rows=sum(rows) / len(rows),
        processed_eps=processed,
        input_eps=flowed,
        saturated=saturated,
        mean_event_latency_s=sum(latencies) / len(latencies) if latencies else None,
    )


def max_sustained(steps: Sequence[LoadStep]) -> dict[str, float]:
    """Highest achieved rate the job kept up with, per executor count (JSON keys)."""
    out: dict[str, float] = {}
    for step in steps:
        if not step.saturated:
            key = str(step.executors)
            out[key] = max(out.get(key, 0.0), step.produced_eps)
    return out
