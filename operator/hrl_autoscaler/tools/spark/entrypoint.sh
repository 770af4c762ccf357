#!/bin/bash
# The spark-job image's entrypoint: what Spark's Kubernetes backend asks of a container.
#
# spark-submit --deploy-mode cluster creates a driver pod whose container args are
#   driver --properties-file /opt/spark/conf/spark.properties --class <main> <resource> <args>
# and the driver then creates executor pods with the single arg `executor` and everything else in
# the environment (SPARK_DRIVER_URL, SPARK_EXECUTOR_ID, ...). This script turns those into the
# commands the upstream apache/spark image runs (its entrypoint.sh in Spark's source,
# resource-managers/kubernetes/docker/src/main/dockerfiles/spark/), written anew for this image:
#
#   driver    -> spark-submit --deploy-mode client --conf spark.driver.bindAddress=<pod IP> ...
#                (client mode inside the pod: cluster mode here would submit yet another driver)
#   executor  -> java ... org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend ...
#   anything else is run as given (`python iot_job.py ...`, `bash`), so the image stays usable
#   without Spark's backend.
#
# Both Spark commands run under tini (-s: as a subreaper), which reaps the Python workers an
# executor forks and forwards SIGTERM when Kubernetes deletes the pod.
set -euo pipefail

: "${SPARK_HOME:?SPARK_HOME must be set (the image sets it to the pyspark package)}"

# The JVM's home: the image sets JAVA_HOME; otherwise ask java itself.
if [ -z "${JAVA_HOME:-}" ]; then
  JAVA_HOME="$(java -XshowSettings:properties -version 2>&1 >/dev/null |
    sed -n 's/^ *java\.home = //p')"
fi

# Extra JVM options for executors arrive as SPARK_JAVA_OPT_0, SPARK_JAVA_OPT_1, ... in order.
executor_java_opts=()
while IFS= read -r name; do
  executor_java_opts+=("${!name}")
done < <(compgen -e | sed -n 's/^\(SPARK_JAVA_OPT_[0-9][0-9]*\)$/\1/p' | sort -t_ -k4 -n)

# The classpath: configuration first (so it wins), then Spark's jars, extras, the working dir
# (SPARK-43540: files shipped with --files land there).
classpath="${SPARK_HOME}/jars/*"
if [ -n "${SPARK_CLASSPATH:-}" ]; then
  classpath="${SPARK_CLASSPATH}:${classpath}"
fi
if [ -n "${SPARK_EXTRA_CLASSPATH:-}" ]; then
  classpath="${classpath}:${SPARK_EXTRA_CLASSPATH}"
fi
if [ -n "${HADOOP_CONF_DIR:-}" ]; then
  classpath="${HADOOP_CONF_DIR}:${classpath}"
fi
classpath="${SPARK_CONF_DIR:-${SPARK_HOME}/conf}:${classpath}:${PWD}"

# Python for the driver and its workers (the image sets both to its venv).
if [ -n "${PYSPARK_PYTHON:-}" ]; then
  export PYSPARK_PYTHON
fi
if [ -n "${PYSPARK_DRIVER_PYTHON:-}" ]; then
  export PYSPARK_DRIVER_PYTHON
fi

# tini when the image has it (it does); plain exec otherwise.
init=()
if [ -x /usr/bin/tini ]; then
  init=(/usr/bin/tini -s --)
fi

case "${1:-}" in
  driver)
    shift
    : "${SPARK_DRIVER_BIND_ADDRESS:?the driver pod sets SPARK_DRIVER_BIND_ADDRESS (its IP)}"
    exec "${init[@]}" "${SPARK_HOME}/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS}" \
      --conf "spark.executorEnv.SPARK_DRIVER_POD_IP=${SPARK_DRIVER_BIND_ADDRESS}" \
      --deploy-mode client \
      "$@"
    ;;
  executor)
    shift
    for required in SPARK_DRIVER_URL SPARK_EXECUTOR_ID SPARK_EXECUTOR_CORES \
      SPARK_APPLICATION_ID SPARK_EXECUTOR_POD_IP SPARK_EXECUTOR_MEMORY; do
      if [ -z "${!required:-}" ]; then
        echo "entrypoint: ${required} is not set (the driver sets it on executor pods)" >&2
        exit 64
      fi
    done
    exec "${init[@]}" "${JAVA_HOME}/bin/java" \
      "${executor_java_opts[@]}" \
      -Xms"${SPARK_EXECUTOR_MEMORY}" \
      -Xmx"${SPARK_EXECUTOR_MEMORY}" \
      -cp "${classpath}${SPARK_DIST_CLASSPATH:+:${SPARK_DIST_CLASSPATH}}" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "${SPARK_DRIVER_URL}" \
      --executor-id "${SPARK_EXECUTOR_ID}" \
      --cores "${SPARK_EXECUTOR_CORES}" \
      --app-id "${SPARK_APPLICATION_ID}" \
      --hostname "${SPARK_EXECUTOR_POD_IP}" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
      --podName "${SPARK_EXECUTOR_POD_NAME:-}" \
      "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
