"""Real Spark: a standalone cluster for tests, the IoT streaming job, the in-place agent.

- :mod:`.standalone`: a master and a worker from the pip ``pyspark`` package (tests, calibration);
  :mod:`.spark_setup` checks the Spark installation and Java.
- :mod:`.iot_job`: the IoT Structured Streaming job (also runnable as a file by ``spark-submit``),
  with :mod:`.iot_options` (its options) and :mod:`.iot_query` (its Spark settings and query).
- :mod:`.agent`: :class:`ExecutorTargetAgent`, the driver-side half of ``in-place`` actuation
  (with :mod:`.agent_spark`, :mod:`.agent_targets` and :mod:`.agent_metrics`).
- The Spark image (the Dockerfile's ``spark-job`` target): ``entrypoint.sh`` (driver and
  executor commands for Spark's Kubernetes backend), :mod:`.kafka_jars` (the Kafka connector's
  pinned jars, fetched at build time), :mod:`.sum_job` and :mod:`.rate_job` (the image's smoke-test
  jobs: a batch sum; a rate-source stream that scales itself in place).

Nothing here imports pyspark at import time (the operator's image has none); the job and the
agent import it, or call into it, only inside a driver.
"""

from hrl_autoscaler.tools.spark.agent import ExecutorTargetAgent, start_agent
from hrl_autoscaler.tools.spark.agent_spark import AgentConfigurationError

__all__ = ["AgentConfigurationError", "ExecutorTargetAgent", "start_agent"]
