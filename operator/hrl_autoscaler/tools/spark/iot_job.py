"""The IoT Structured Streaming job that the autoscaler scales: sensor events in, windowed
per-device aggregates and anomaly counts out.

Run it as a file (``spark-submit iot_job.py ...`` or ``python iot_job.py --master ...``; the
Spark image has it at ``/opt/hrl-autoscaler/iot_job.py``) or import it (:func:`run`,
:func:`build_stream`, :func:`spark_conf`). ``python iot_job.py --help`` lists the options.

Input: newline-delimited JSON events ``{"device_id", "device_type", "event_time", "reading"}``,
from a directory where ``hrl-autoscaler loadgen`` writes one ``part-<epoch_ms>-<seq>.jsonl``
file per tick (atomically: a ``.``-prefixed temporary name, then a rename; Spark's file source
skips names starting with ``.`` or ``_``, so it never reads a half-written file), or from a
Kafka topic with the same JSON as values.

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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

    from hrl_autoscaler.config import ExecutorAgentSettings
    from hrl_autoscaler.tools.spark.agent import ExecutorTargetAgent

log = logging.getLogger("hrl_autoscaler.tools.spark.iot_job")

QUERY_NAME = "iot"
"""The streaming query's name: the ``<query>`` in the metric names the operator's PromQL
matches (``metrics_<namespace>_driver_spark_streaming_<query>_...``)."""
METRICS_NAMESPACE = "spark"
"""``spark.metrics.namespace``: a fixed prefix instead of the application id, so the metric
names do not change with every run."""
EVENT_SCHEMA = "device_id STRING, device_type STRING, event_time TIMESTAMP, reading DOUBLE"
KAFKA_PACKAGE = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.1.1"
"""The Kafka connector matching PySpark 4.1.1 (Scala 2.13); not in the Spark image."""

Sink = Literal["noop", "console", "memory", "parquet"]
Source = Literal["directory", "kafka"]
AgentSource = Literal["none", "annotation", "file"]


@dataclass(frozen=True)
class IotJobOptions:
    """Everything the job can be told; :meth:`to_argv` gives the matching command line."""

    source: Source = "directory"
    input_dir: Path | None = None
    """Directory of ``*.jsonl`` event files (``source=directory``)."""
    kafka_bootstrap: str | None = None
    kafka_topic: str = "iot-events"
    max_files_per_trigger: int | None = None
    """Cap on files per micro-batch; None = all new files (the input rate follows the load)."""
    max_offsets_per_trigger: int | None = None
    """Cap on Kafka records per micro-batch; None = all available."""
    trigger_s: float = 2.0
    """Micro-batch interval, s. The simulator's latency model assumes a trigger of ~1-2 s."""
    window_s: int = 10
    watermark_s: int = 30
    """Event-time lateness tolerated before a window is final (and its state dropped)."""
    work_factor: int = 2000
    """CPU work per event, in iterations of a small floating-point expression (about 0.07 us
    each here): 0 = parsing and aggregation only, 2000 = about 150 us per event."""
    input_partitions: int = 8
    """Minimum tasks that read (and do the per-event work of) each micro-batch. Spark packs
    small files into as few tasks as it has cores, and a 1 s tick's file is small, so without
    this a batch of three files is two tasks and a third or fourth executor has nothing to do:
    the job would not scale. Files are split by bytes (``spark.sql.files.minPartitionNum``
    with a small ``openCostInBytes``), Kafka by ``minPartitions``."""
    shuffle_partitions: int = 4
    """``spark.sql.shuffle.partitions``: the state store has one instance per partition, and
    Spark's default of 200 would dominate small batches on small clusters."""
    sink: Sink = "noop"
    output_dir: Path | None = None
    """Where ``sink=parquet`` writes."""
    checkpoint_dir: Path | None = None
    """Checkpoint location; None = a temporary one (not allowed for ``parquet``)."""
    app_name: str = "iot-stream"
    master: str | None = None
    """``spark.master``; None = what ``spark-submit`` or the environment says."""
    ui_port: int | None = None
    """Driver UI port (the metrics endpoints); None = Spark's default (4040, or the next free)."""
    conf: Mapping[str, str] = field(default_factory=dict)
    """Extra Spark settings (``--conf KEY=VALUE``), applied last."""
    run_seconds: float | None = None
    """Stop after this many seconds; None = until terminated (SIGTERM stops gracefully)."""
    status_file: Path | None = None
    """Written (JSON: application id, UI URL, agent metrics port) once the query runs."""
    progress_file: Path | None = None
    """Each micro-batch's progress appended as one JSON line (the calibration reads it)."""
    agent: AgentSource = "none"
    """Start the in-place executor agent with its target from the SparkApplication's
    annotation or from ``agent_target_file``."""
    agent_namespace: str | None = None
    agent_name: str | None = None
    agent_kubeconfig: Path | None = None
    agent_target_file: Path | None = None
    agent_poll_interval_s: float | None = None
    agent_metrics_port: int | None = None
    min_executors: int | None = None
    max_executors: int | None = None
    initial_executors: int | None = None

    def __post_init__(self) -> None:
        if self.source == "directory" and self.input_dir is None:
            raise ValueError("source=directory needs input_dir (--input-dir)")
        if self.source == "kafka" and not self.kafka_bootstrap:
            raise ValueError("source=kafka needs kafka_bootstrap (--kafka-bootstrap)")
        if self.sink == "parquet" and (self.output_dir is None or self.checkpoint_dir is None):
            raise ValueError("sink=parquet needs output_dir and checkpoint_dir")
        if self.input_partitions < 1 or self.shuffle_partitions < 1:
            raise ValueError("input_partitions and shuffle_partitions must be >= 1")
        if self.work_factor < 0:
            raise ValueError(f"work_factor must be >= 0, got {self.work_factor}")
        if self.trigger_s <= 0 or self.window_s <= 0 or self.watermark_s < 0:
            raise ValueError("trigger_s and window_s must be > 0, watermark_s >= 0")

    def agent_settings(self) -> ExecutorAgentSettings:
        """The agent's settings: these options over ``HRL_AUTOSCALER_AGENT_*`` variables."""
        from hrl_autoscaler.config import ExecutorAgentSettings

        given: dict[str, Any] = {
            "source": self.agent,
            "namespace": self.agent_namespace,
            "name": self.agent_name,
            "kubeconfig": self.agent_kubeconfig,
            "target_file": self.agent_target_file,
            "poll_interval_s": self.agent_poll_interval_s,
            "metrics_port": self.agent_metrics_port,
            "min_executors": self.min_executors,
            "max_executors": self.max_executors,
            "initial_executors": self.initial_executors,
        }
        return ExecutorAgentSettings(**{k: v for k, v in given.items() if v is not None})

    def to_argv(self) -> list[str]:
        """The command-line flags that reproduce these options (for launchers)."""
        argv: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "conf":
                for key, item in value.items():
                    argv += ["--conf", f"{key}={item}"]
            elif value is not None and value != f.default:
                argv += ["--" + f.name.replace("_", "-"), str(value)]
        return argv


# -- Spark settings --------------------------------------------------------------------------


def spark_conf(options: IotJobOptions, master: str | None = None) -> dict[str, str]:
    """The Spark settings of the job: metrics for the operator, small shuffles, and on a
    standalone master with the agent, a core cap that lets it reach ``max_executors``.

    ``master`` is the master in force (from options, spark-submit or the environment).
    """
    conf = {
        "spark.app.name": options.app_name,
        "spark.sql.streaming.metricsEnabled": "true",
        "spark.metrics.namespace": METRICS_NAMESPACE,
        "spark.metrics.conf.*.sink.prometheusServlet.class": (
            "org.apache.spark.metrics.sink.PrometheusServlet"
        ),
        "spark.metrics.conf.*.sink.prometheusServlet.path": "/metrics/prometheus",
        "spark.ui.prometheus.enabled": "true",
        "spark.sql.shuffle.partitions": str(options.shuffle_partitions),
        "spark.sql.files.minPartitionNum": str(options.input_partitions),
        # split by actual bytes: the 4 MB default cost of opening a file keeps each small file
        # in one task whatever minPartitionNum says
        "spark.sql.files.openCostInBytes": str(64 * 1024),
        # the agent owns the executor count; Spark's own scaling would fight it
        "spark.dynamicAllocation.enabled": "false",
        "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
        # a driver's log is read by people and tests: no progress bars in it
        "spark.ui.showConsoleProgress": "false",
    }
    if options.master is not None:
        conf["spark.master"] = options.master
    if options.ui_port is not None:
        conf["spark.ui.port"] = str(options.ui_port)
    if options.source == "kafka":
        conf["spark.jars.packages"] = KAFKA_PACKAGE
    master = options.master or master or ""
    if master.startswith("spark://") and options.agent != "none":
        # Standalone: without dynamic allocation the master starts cores.max / executor cores
        # executors and never more, whatever the agent requests.
        cores = int(options.conf.get("spark.executor.cores", "1"))
        most = options.max_executors or options.agent_settings().max_executors
        conf["spark.cores.max"] = str(most * cores)
    conf.update(options.conf)
    return conf


def create_session(options: IotJobOptions) -> SparkSession:
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    submitted = SparkConf()  # what spark-submit / PYSPARK_SUBMIT_ARGS already set
    builder = SparkSession.builder
    for key, value in spark_conf(options, submitted.get("spark.master", None)).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


# -- the query -------------------------------------------------------------------------------


def device_bands() -> dict[str, tuple[float, float]]:
    """Normal reading range per device type, from the load generator's device catalogue."""
    from hrl_autoscaler.tools.loadgen.events import DEVICE_TYPES

    return {name: (t.low, t.high) for name, t in DEVICE_TYPES.items()}


def work_column(work_factor: int) -> Column:
    """``work_factor`` iterations of ``acc + sin(i * reading)`` per event, as one Spark SQL
    higher-order function (``aggregate`` over ``sequence(1, n)``).

    It stands in for the per-event cost of a real pipeline (parsing rich payloads, enrichment,
    scoring) without a Python UDF, whose cost would be Python serialisation rather than
    executor CPU. ``sequence`` of literals is folded to a constant array once per batch; the
    lambda runs per event and element, on the executors. The result feeds an output column,
    so the optimiser cannot drop it.
    """
    from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

    if work_factor == 0:
        return F.lit(0.0)
    return F.aggregate(
        F.sequence(F.lit(1), F.lit(work_factor)),
        F.lit(0.0),
        lambda acc, i: acc + F.sin(i * F.col("reading")),
    )


def anomaly_column(bands: Mapping[str, tuple[float, float]]) -> Column:
    """True when the reading is outside its device type's band (unknown types: never)."""
    from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

    low = F.create_map(*[F.lit(x) for name, (lo, _) in bands.items() for x in (name, lo)])
    high = F.create_map(*[F.lit(x) for name, (_, hi) in bands.items() for x in (name, hi)])
    device_type = F.col("device_type")
    outside = (F.col("reading") < low[device_type]) | (F.col("reading") > high[device_type])
    return F.coalesce(outside, F.lit(False))


def read_events(spark: SparkSession, options: IotJobOptions) -> DataFrame:
    from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

    if options.source == "directory":
        assert options.input_dir is not None
        reader = spark.readStream.schema(EVENT_SCHEMA).option("pathGlobFilter", "*.jsonl")
        if options.max_files_per_trigger is not None:
            reader = reader.option("maxFilesPerTrigger", options.max_files_per_trigger)
        return reader.json(str(options.input_dir))
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", options.kafka_bootstrap)
        .option("subscribe", options.kafka_topic)
        .option("startingOffsets", "latest")
        .option("failOnDataLoss", "false")
        .option("minPartitions", options.input_partitions)
    )
    if options.max_offsets_per_trigger is not None:
        reader = reader.option("maxOffsetsPerTrigger", options.max_offsets_per_trigger)
    raw = reader.load()
    parsed = raw.select(F.from_json(F.col("value").cast("string"), EVENT_SCHEMA).alias("e"))
    return parsed.select("e.*")


def build_stream(spark: SparkSession, options: IotJobOptions) -> DataFrame:
    """The aggregate the query writes: per device and window, counts and reading stats."""
    from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

    events = read_events(spark, options).where(F.col("event_time").isNotNull())
    enriched = events.select(
        "device_id",
        "device_type",
        "event_time",
        "reading",
        anomaly_column(device_bands()).alias("anomaly"),
        work_column(options.work_factor).alias("work"),
    )
    return (
        enriched.withWatermark("event_time", f"{options.watermark_s} seconds")
        .groupBy(F.window("event_time", f"{options.window_s} seconds"), "device_id", "device_type")
        .agg(
            F.count(F.lit(1)).alias("events"),
            F.avg("reading").alias("mean_reading"),
            F.min("reading").alias("min_reading"),
            F.max("reading").alias("max_reading"),
            F.sum(F.col("anomaly").cast("int")).alias("anomalies"),
            F.max("work").alias("work_checksum"),
        )
        .select(
            F.col("window.start").alias("window_start"),
            F.col("window.end").alias("window_end"),
            "device_id",
            "device_type",
            "events",
            "mean_reading",
            "min_reading",
            "max_reading",
            "anomalies",
            "work_checksum",
        )
    )


def start_query(spark: SparkSession, options: IotJobOptions) -> StreamingQuery:
    """Start the ``iot`` query on the configured sink."""
    stream = build_stream(spark, options)
    # parquet (a file sink) takes only final windows; the others take every update
    mode = "append" if options.sink == "parquet" else "update"
    writer = (
        stream.writeStream.queryName(QUERY_NAME)
        .outputMode(mode)
        .trigger(processingTime=f"{options.trigger_s:g} seconds")
    )
    if options.checkpoint_dir is not None:
        writer = writer.option("checkpointLocation", str(options.checkpoint_dir))
    if options.sink == "parquet":
        assert options.output_dir is not None
        writer = writer.format("parquet").option("path", str(options.output_dir))
    elif options.sink == "console":
        writer = writer.format("console").option("truncate", "false").option("numRows", 20)
    else:
        writer = writer.format(options.sink)
    return writer.start()


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
        return _supervise(query, options, stop_requested)
    finally:
        if agent is not None:
            agent.stop()
        spark.stop()
        signal.signal(signal.SIGTERM, previous)


def _supervise(query: StreamingQuery, options: IotJobOptions, stop_requested: list[int]) -> int:
    """Wait for the end, appending each batch's progress to ``progress_file``."""
    deadline = None if options.run_seconds is None else time.monotonic() + options.run_seconds
    last_batch = -1
    while True:
        finished = query.awaitTermination(1)
        last_batch = _record_progress(query, options.progress_file, last_batch)
        if finished:
            failure = query.exception()
            if failure is not None:
                log.error("query %s failed: %s", QUERY_NAME, failure)
                return 1
            return 0
        if stop_requested or (deadline is not None and time.monotonic() >= deadline):
            log.info("stopping query %s", QUERY_NAME)
            query.stop()
            _record_progress(query, options.progress_file, last_batch)
            return 0


def _record_progress(query: StreamingQuery, path: Path | None, last_batch: int) -> int:
    if path is None:
        return last_batch
    newest = last_batch
    with path.open("a") as out:
        for progress in query.recentProgress:
            # a StreamingQueryProgress in Spark 4 (its JSON text in .json), a dict before
            text = getattr(progress, "json", None)
            record: dict[str, Any] = json.loads(text) if isinstance(text, str) else dict(progress)
            batch = int(record.get("batchId", -1))
            if batch > last_batch:
                out.write(json.dumps(record) + "\n")
                newest = max(newest, batch)
    return newest


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
