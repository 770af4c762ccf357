"""A tiny PySpark batch job: the smoke test of the spark-job image on Kubernetes.

It sums ``1..N`` over several partitions and reports which executors ran the partitions, so a
test that reads the driver's log knows the executors (not the driver) did the work:

    spark-submit ... local:///opt/hrl-autoscaler/sum_job.py 1000000 8

prints ``SUM n=1000000 partitions=8 sum=500000500000 expected=500000500000``,
``HOSTS <sorted host names of the executors that ran a partition>`` and ``KAFKA <yes|no>``
(whether the driver's JVM loads the Kafka source the image bakes into ``$SPARK_HOME/jars``).
Exits 1 on a wrong sum.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable, Iterator


def _host(_: Iterable[int]) -> Iterator[str]:
    yield socket.gethostname()


#: The Kafka connector's data source (spark-sql-kafka-0-10): loaded, so the jars are complete.
KAFKA_SOURCE = "org.apache.spark.sql.kafka010.KafkaSourceProvider"


def main(argv: list[str]) -> int:
    from pyspark.sql import SparkSession  # in the driver only: the module imports without it

    n = int(argv[0]) if argv else 1_000_000
    partitions = int(argv[1]) if len(argv) > 1 else 8
    spark = SparkSession.builder.appName("hrl-sum-job").getOrCreate()
    try:
        numbers = spark.sparkContext.parallelize(range(1, n + 1), partitions)
        total = numbers.sum()
        hosts = sorted(set(numbers.mapPartitions(_host).collect()))
        jvm = spark.sparkContext._jvm
        try:
            jvm.java.lang.Class.forName(KAFKA_SOURCE)  # type: ignore[union-attr]
            kafka = "yes"
        except Exception:  # py4j's Py4JJavaError: the class (or a dependency) is missing
            kafka = "no"
    finally:
        spark.stop()
    expected = n * (n + 1) // 2
    print(f"SUM n={n} partitions={partitions} sum={total} expected={expected}", flush=True)
    print(f"HOSTS {' '.join(hosts)}", flush=True)
    print(f"KAFKA {kafka}", flush=True)
    return 0 if total == expected else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
