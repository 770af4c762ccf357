"""The IoT job as calibration runs it: the real query (:mod:`hrl_autoscaler.tools.spark.iot_job`),
started in this driver with the job's own Spark settings, on the load generator's directory.

Calibration measures the job the operator scales, so everything but the input directory, the
checkpoint and the trigger keeps the job's defaults (CPU work per event, shuffle partitions,
watermark, the ``noop`` sink).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def job_options(
    input_dir: Path, checkpoint_dir: Path, trigger_s: float, work_factor: int | None, master: str
) -> Any:
    """The job's options (an ``IotJobOptions``) for a calibration run."""
    from hrl_autoscaler.tools.spark.iot_options import IotJobOptions

    given: dict[str, Any] = {
        "source": "directory",
        "input_dir": input_dir,
        "checkpoint_dir": checkpoint_dir,
        "trigger_s": trigger_s,
        "master": master,
        "app_name": "hrl-autoscaler-calibration",
    }
    if work_factor is not None:
        given["work_factor"] = work_factor
    return IotJobOptions(**given)


def job_conf(options: Any) -> dict[str, str]:
    """The job's own Spark settings (metrics, shuffle partitions, no dynamic allocation)."""
    from hrl_autoscaler.tools.spark.iot_query import spark_conf

    conf: dict[str, str] = spark_conf(options, options.master)
    return conf


def describe(options: Any) -> str:
    from hrl_autoscaler.tools.spark.iot_query import QUERY_NAME

    return (
        f"hrl_autoscaler.tools.spark.iot_job, query {QUERY_NAME!r}: "
        f"work factor {options.work_factor}, "
        f"{options.shuffle_partitions} shuffle partitions, {options.window_s} s windows, "
        f"watermark {options.watermark_s} s, sink {options.sink}"
    )


def start_iot_query(spark: Any, options: Any) -> Any:
    """Start the IoT Structured Streaming query; returns the ``StreamingQuery``."""
    from hrl_autoscaler.tools.spark.iot_query import start_query

    return start_query(spark, options)
