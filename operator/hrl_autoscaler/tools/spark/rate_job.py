"""A tiny Structured Streaming job on Spark's ``rate`` source that scales itself in place: the
smoke test of streaming and of in-place actuation on Kubernetes with the spark-job image.

The ``rate`` source needs no shared input (the IoT job's directory source would need a volume
shared by the test and the pods). After a few micro-batches the driver asks for ``scale_to``
executors with the in-place agent's own bridge (:class:`.agent_spark.Py4jSparkBridge`:
``requestTotalExecutors``), waits until they registered, then scales back (requested total
first, then an idle executor killed, as the agent does), while the query keeps running:

    spark-submit ... local:///opt/hrl-autoscaler/rate_job.py 50 3

prints ``SCALED from=2 to=3 seconds=...``, ``SCALED from=3 to=2 seconds=...`` and
``STREAM batches=<n> rows=<m> app=<application id>``. Exits 1 if a scale did not happen in time.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

#: How long one scale may take: a new executor pod starts its JVM in about 5-10 s here.
SCALE_TIMEOUT_S = 180.0


def _scale(bridge: Any, target: int, timeout_s: float) -> float | None:
    """Seconds until exactly ``target`` executors are registered, or None after ``timeout_s``.

    Scale-out is the requested total alone. Scale-in lowers the total (so nothing replaces what
    leaves) and kills the newest idle executors; Kubernetes' allocator deletes only pending
    pods when the total drops, so running ones must be killed, retried while they are busy."""
    started = time.monotonic()
    if not bridge.request_total(target):
        return None
    while time.monotonic() - started < timeout_s:
        executors = bridge.executors()
        if len(executors) == target:
            return round(time.monotonic() - started, 1)
        excess = len(executors) - target
        if excess > 0:
            idle = sorted((e.executor_id for e in executors if e.active_tasks == 0), key=int)
            bridge.kill(idle[-excess:], force=False)
        time.sleep(0.5)
    return None


def main(argv: list[str]) -> int:
    from pyspark.sql import DataFrame, SparkSession  # in the driver only

    from hrl_autoscaler.tools.spark.agent_spark import Py4jSparkBridge

    rows_per_second = int(argv[0]) if argv else 50
    scale_to = int(argv[1]) if len(argv) > 1 else 3
    spark = SparkSession.builder.appName("hrl-rate-job").getOrCreate()
    bridge = Py4jSparkBridge(spark.sparkContext)
    totals = {"batches": 0, "rows": 0}
    lock = threading.Lock()

    def count(batch: DataFrame, batch_id: int) -> None:
        rows = batch.count()  # runs on the executors
        with lock:
            totals["batches"] += 1
            totals["rows"] += rows

    stream = (
        spark.readStream.format("rate")
        .option("rowsPerSecond", rows_per_second)
        .option("numPartitions", 4)
        .load()
    )
    query = stream.writeStream.foreachBatch(count).trigger(processingTime="2 seconds").start()
    ok = True
    try:
        while totals["batches"] < 3:
            time.sleep(0.5)
        before = len(bridge.executors())
        for target in (scale_to, before):
            current = len(bridge.executors())
            seconds = _scale(bridge, target, SCALE_TIMEOUT_S)
            print(f"SCALED from={current} to={target} seconds={seconds}", flush=True)
            ok = ok and seconds is not None
        seen = totals["batches"]
        while totals["batches"] < seen + 2:  # the query keeps running after the scaling
            time.sleep(0.5)
    finally:
        query.stop()
        app = spark.sparkContext.applicationId
        spark.stop()
    print(f"STREAM batches={totals['batches']} rows={totals['rows']} app={app}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
