"""The IoT job's Spark side (:mod:`.iot_job` runs it): its Spark settings, the session, and the
``iot`` query from the events to the windowed per-device aggregates on the configured sink."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

    from hrl_autoscaler.tools.spark.iot_options import IotJobOptions

QUERY_NAME = "iot"
"""The streaming query's name: the ``<query>`` in the metric names the operator's PromQL
matches (``metrics_<namespace>_driver_spark_streaming_<query>_...``)."""
METRICS_NAMESPACE = "spark"
"""``spark.metrics.namespace``: a fixed prefix instead of the application id, so the metric
names do not change with every run."""
EVENT_SCHEMA = "device_id STRING, device_type STRING, event_time TIMESTAMP, reading DOUBLE"
KAFKA_PACKAGE = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.1.1"
"""The Kafka connector matching PySpark 4.1.1 (Scala 2.13); not in the Spark image."""


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
        .option("startingOffsets", options.kafka_starting_offsets)
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


__all__ = [
    "EVENT_SCHEMA",
    "KAFKA_PACKAGE",
    "METRICS_NAMESPACE",
    "QUERY_NAME",
    "anomaly_column",
    "build_stream",
    "create_session",
    "device_bands",
    "read_events",
    "spark_conf",
    "start_query",
    "work_column",
]
