"""The IoT Structured Streaming job that the autoscaler scales: sensor events in, windowed
per-device aggregates and anomaly counts out.

Run it as a file (``spark-submit iot_job.py ...`` or ``python iot_job.py --master ...``; the
Spark image has it at ``/opt/hrl-autoscaler/iot_job.py``) or import it (:func:`run`,
:func:`~.iot_query.build_stream`, :func:`~.iot_query.spark_conf`). ``python iot_job.py --help``
lists the options.

This file is the entry point: running, supervising and the command line. The options
(:mod:`.iot_options`) and the Spark settings and query (:mod:`.iot_query`) are imported from the
installed package by absolute name, so the file still runs alone (the Spark image copies it next
to the package installed from the same sources; the job always needed the package, for the
device catalogue and the in-place agent).

Input: newline-delimited JSON events ``{"device_id", "device_type", "event_time", "reading"}``,
from a directory where ``hrl-autoscaler loadgen`` writes one ``part-<epoch_ms>-<seq>.jsonl``
file per tick (atomically: a ``.``-prefixed temporary name, then a rename; Spark's file source
skips names starting with ``.`` or ``_``, so it never reads a half-written file), or from a
Kafka topic with the same JSON as values. With Kafka, the driver commits each batch's end
offsets to the consumer group named after the application (``--kafka-group``), because Spark
itself never does and the operator's backlog is that group's lag (see
:mod:`hrl_autoscaler.tools.kafka_lag.committer`).

Per micro-batch it: parses the events, spends ``work_factor`` units of CPU per event (see
:func:`work_column`), flags readings outside their device type's normal band, and updates
10 s tumbling-window aggregates per device (count, mean, min, max, anomalies) with a
watermark, written to a configurable sink (``noop`` by default: the computation is the load,
the output is not the point).

Observability is what the operator reads: the query is named ``iot`` with
``spark.sql.streaming.metricsEnabled=true``, ``spark.metrics.namespace=spark`` and the
PrometheusServlet sink, so the driver UI serves ``/metrics/prometheus`` with
``metrics_spark_driver_spark_streaming_iot_{inputRate_total,processingRate_total,latency}_Value``
and ``/metrics/executors/prometheus`` with ``metrics_executor_*`` (both checked live against
Spark 4.1.1 by tests/e2e/test_spark_inplace.py).

By default every new file goes into the next micro-batch: the input rate Spark reports then
follows the offered load, and an overloaded job shows longer batches (latency). With
``--max-files-per-trigger`` batches have a bounded size instead (useful to measure capacity),
but an overload then only shows as files waiting on disk, which no metric reports.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrl_autoscaler.tools.spark.iot_options import IotJobOptions
from hrl_autoscaler.tools.spark.iot_query import QUERY_NAME, create_session, start_query

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

    from hrl_autoscaler.tools.kafka_lag.committer import OffsetCommitter
    from hrl_autoscaler.tools.spark.agent import ExecutorTargetAgent

log = logging.getLogger("hrl_autoscaler.tools.spark.iot_job")


# -- running ---------------------------------------------------------------------------------


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data) + "\n")
    tmp.replace(path)


def run(options: IotJobOptions) -> int:
    """Run the job until terminated, ``run_seconds`` elapse, or the query fails (exit 1)."""
    stop_requested: list[int] = []

    def _on_signal(signum: int, _frame: Any) -> None:
        stop_requested.append(signum)

    previous = signal.signal(signal.SIGTERM, _on_signal)
    spark = create_session(options)
    agent: ExecutorTargetAgent | None = None
    try:
        sc = spark.sparkContext
        if options.agent != "none":
            from hrl_autoscaler.tools.spark.agent import start_agent

            agent = start_agent(sc, options.agent_settings())
        committer = _committer(options)
        try:
            return _run_query(spark, options, stop_requested, committer, agent)
        finally:
            if committer is not None:
                log.info(
                    "consumer group %s: %d offset commits, %d failed",
                    committer.group,
                    committer.commits,
                    committer.failures,
                )
                committer.close()
    finally:
        if agent is not None:
            agent.stop()
        spark.stop()
        signal.signal(signal.SIGTERM, previous)


def _committer(options: IotJobOptions) -> OffsetCommitter | None:
    """For a Kafka source: the committer that reports progress as the consumer group."""
    if options.source != "kafka" or options.kafka_bootstrap is None:
        return None
    from hrl_autoscaler.tools.kafka_lag.committer import OffsetCommitter

    return OffsetCommitter.for_bootstrap(options.kafka_bootstrap, options.commit_group)


#: How often the query is started again after :data:`REPLAY_FAILURE` before the job gives up.
REPLAY_RESTARTS = 3

#: Spark 4.1.1's Kafka source fails the first batch that a restarted query replays from its
#: offset log (the batch planned, not committed, when the previous driver was stopped):
#: reporting that batch's progress reads the latest offsets, which only planning a new batch
#: sets (SPARK-55271 / SPARK-57438, "Cannot invoke ... because the return value of
#: scala.Option.get() is null" in ``KafkaMicroBatchStream.metrics``). The batch's output and its
#: entry in the commit log are written before the failure, so starting the query again from the
#: checkpoint goes on with the next batch, exactly once. A restart actuation stops the driver
#: mid-batch whenever the job is busy, so this is the normal case there, not a rare one.
REPLAY_FAILURE = 'because the return value of "scala.Option.get()" is null'


def _run_query(
    spark: SparkSession,
    options: IotJobOptions,
    stop_requested: list[int],
    committer: OffsetCommitter | None,
    agent: ExecutorTargetAgent | None,
) -> int:
    """Start the query and supervise it; after :data:`REPLAY_FAILURE` start it again."""
    sc = spark.sparkContext
    for attempt in range(REPLAY_RESTARTS + 1):
        query = start_query(spark, options)
        log.info(
            "query %s running as application %s (UI %s)", QUERY_NAME, sc.applicationId, sc.uiWebUrl
        )
        if options.status_file is not None:
            _write_json(
                options.status_file,
                {
                    "application_id": sc.applicationId,
                    "application_name": sc.appName,
                    "ui_url": sc.uiWebUrl,
                    "query_id": str(query.id),
                    "agent_metrics_port": agent.metrics.port if agent is not None else None,
                },
            )
        failure = _supervise(query, options, stop_requested, committer)
        if failure is None:
            return 0
        if options.source != "kafka" or REPLAY_FAILURE not in failure or attempt == REPLAY_RESTARTS:
            log.error("query %s failed: %s", QUERY_NAME, failure)
            return 1
        log.warning(
            "query %s failed reporting the batch it replayed from its checkpoint (Spark's "
            "SPARK-55271; the batch's output and commit are written): starting it again from "
            "the checkpoint (%d of %d)",
            QUERY_NAME,
            attempt + 1,
            REPLAY_RESTARTS,
        )
    return 1


def _supervise(
    query: StreamingQuery,
    options: IotJobOptions,
    stop_requested: list[int],
    committer: OffsetCommitter | None = None,
) -> str | None:
    """Wait for the end, appending each batch's progress to ``progress_file`` and committing
    the newest batch's Kafka offsets to the consumer group; the query's failure, if it failed."""
    from pyspark.errors import StreamingQueryException

    deadline = None if options.run_seconds is None else time.monotonic() + options.run_seconds
    last_seen = ""
    while True:
        try:
            finished = query.awaitTermination(1)
        except StreamingQueryException as raised:  # how a failed query ends the wait
            _record_progress(query, options.progress_file, last_seen, committer)
            return str(raised)
        last_seen = _record_progress(query, options.progress_file, last_seen, committer)
        if finished:
            failure = query.exception()
            return None if failure is None else str(failure)
        if stop_requested or (deadline is not None and time.monotonic() >= deadline):
            log.info("stopping query %s", QUERY_NAME)
            query.stop()
            _record_progress(query, options.progress_file, last_seen, committer)
            return None


def _record_progress(
    query: StreamingQuery,
    path: Path | None,
    last_seen: str,
    committer: OffsetCommitter | None = None,
) -> str:
    """Append the progress entries newer than ``last_seen`` to ``path`` and commit the
    newest entry's Kafka offsets; returns the newest entry's ``timestamp``.

    Entries are told apart by their trigger's start ``timestamp`` (ISO 8601, fixed width, so
    ordered as text), not by ``batchId``: an idle trigger reports the id of the batch that
    has not run yet, with no rows, and the batch that later runs under that id must not be
    skipped. Readers drop entries without rows (see ``calibration.progress``).
    """
    if path is None and committer is None:
        return last_seen
    entries: list[dict[str, Any]] = []
    for progress in query.recentProgress:
        # a StreamingQueryProgress in Spark 4 (its JSON text in .json), a dict before
        text = getattr(progress, "json", None)
        entries.append(json.loads(text) if isinstance(text, str) else dict(progress))
    fresh = [e for e in entries if str(e.get("timestamp", "")) > last_seen]
    if not fresh:
        return last_seen
    if path is not None:
        with path.open("a") as out:
            for record in fresh:
                out.write(json.dumps(record) + "\n")
    if committer is not None:
        committer.commit(fresh[-1])  # the offsets are cumulative: the newest entry says all
    return str(fresh[-1].get("timestamp", last_seen))


# -- command line ----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    d = IotJobOptions.__dataclass_fields__
    p = argparse.ArgumentParser(
        prog="iot_job.py",
        description="IoT Structured Streaming job: windowed per-device aggregates and anomaly "
        "flags over sensor events, with the metrics the hrl-autoscaler operator reads.",
    )
    src = p.add_argument_group("input")
    src.add_argument("--source", choices=["directory", "kafka"], default="directory")
    src.add_argument("--input-dir", type=Path, help="directory of *.jsonl event files")
    src.add_argument("--kafka-bootstrap", help="Kafka bootstrap servers (source=kafka)")
    src.add_argument("--kafka-topic", default=d["kafka_topic"].default)
    src.add_argument(
        "--kafka-starting-offsets",
        choices=["latest", "earliest"],
        default=d["kafka_starting_offsets"].default,
        help="where a new query starts on the topic (default: %(default)s)",
    )
    src.add_argument(
        "--kafka-group",
        help="consumer group the batches' end offsets are committed to, for lag tools "
        "(default: the app name)",
    )
    src.add_argument("--max-files-per-trigger", type=int, help="cap on files per micro-batch")
    src.add_argument("--max-offsets-per-trigger", type=int, help="cap on Kafka records/batch")
    q = p.add_argument_group("processing")
    q.add_argument("--trigger-s", type=float, default=d["trigger_s"].default)
    q.add_argument("--window-s", type=int, default=d["window_s"].default)
    q.add_argument("--watermark-s", type=int, default=d["watermark_s"].default)
    q.add_argument(
        "--work-factor",
        type=int,
        default=d["work_factor"].default,
        help="CPU work per event (iterations; ~0.07 us each) (default: %(default)s)",
    )
    q.add_argument(
        "--input-partitions",
        type=int,
        default=d["input_partitions"].default,
        help="minimum tasks per batch for reading and the per-event work (default: %(default)s)",
    )
    q.add_argument("--shuffle-partitions", type=int, default=d["shuffle_partitions"].default)
    out = p.add_argument_group("output")
    out.add_argument("--sink", choices=["noop", "console", "memory", "parquet"], default="noop")
    out.add_argument("--output-dir", type=Path)
    out.add_argument("--checkpoint-dir", type=Path)
    s = p.add_argument_group("spark")
    s.add_argument("--app-name", default=d["app_name"].default)
    s.add_argument("--master", help="spark.master (default: from spark-submit)")
    s.add_argument("--ui-port", type=int, help="driver UI port, serving the metrics")
    s.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting"
    )
    r = p.add_argument_group("run")
    r.add_argument("--run-seconds", type=float, help="stop after this long")
    r.add_argument("--status-file", type=Path, help="JSON with the app id once running")
    r.add_argument("--progress-file", type=Path, help="append each batch's progress (JSON)")
    a = p.add_argument_group("in-place agent (also HRL_AUTOSCALER_AGENT_* variables)")
    a.add_argument("--agent", choices=["none", "annotation", "file"], default="none")
    a.add_argument("--agent-namespace")
    a.add_argument("--agent-name", help="the SparkApplication (default: the driver label)")
    a.add_argument("--agent-kubeconfig", type=Path, help="default: in-cluster config")
    a.add_argument("--agent-target-file", type=Path)
    a.add_argument("--agent-poll-interval-s", type=float)
    a.add_argument("--agent-metrics-port", type=int, help="serve the agent's gauges here")
    a.add_argument("--min-executors", type=int)
    a.add_argument("--max-executors", type=int)
    a.add_argument("--initial-executors", type=int)
    return p


def options_from_args(argv: Sequence[str] | None = None) -> IotJobOptions:
    p = parser()
    args = vars(p.parse_args(argv))
    conf = {}
    for item in args.pop("conf"):
        key, sep, value = item.partition("=")
        if not sep or not key:
            p.error(f"--conf {item!r}: expected KEY=VALUE")
        conf[key] = value
    try:
        return IotJobOptions(conf=conf, **args)
    except ValueError as exc:
        p.error(str(exc))
        raise  # unreachable: error() exits


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = options_from_args(argv)
    try:
        return run(options)
    except Exception as exc:
        from hrl_autoscaler.tools.spark.agent_spark import AgentConfigurationError

        if isinstance(exc, AgentConfigurationError):
            log.error("the in-place agent cannot start: %s", exc)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
