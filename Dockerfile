# syntax=docker/dockerfile:1.7
#
# spark-hrl-autoscaler images, two targets:
#
#   docker build -t spark-hrl-autoscaler:0.1.0 .                         # the operator (default)
#   docker build --target spark-job -t spark-hrl-autoscaler-spark:0.1.0 . # Spark driver/executor
#
# The operator image holds a virtual environment with the runtime dependencies only (the [k8s]
# extra: kopf, kubernetes, aiohttp; deciding runs the frozen policies with numpy, so no torch or
# Stable-Baselines3) and the frozen policies in /app/policies. It runs as a numeric non-root
# user and writes nothing outside /tmp, so it works with readOnlyRootFilesystem and an emptyDir
# on /tmp (the Helm chart mounts one).
#
# Without a Docker engine or a registry, `hrl-autoscaler dev image build` (needs root and
# `make image-deps`) builds this file as it is with buildah on a Debian bookworm base made by
# debootstrap; only the base changes, so keep everything it needs inside the base's Debian:
#   buildah bud --build-arg PYTHON_IMAGE=localhost/hrl-autoscaler-base:<hash> --target operator .
# tests/e2e/test_image.py then runs that image; `hrl-autoscaler dev image build --target spark-job`
# builds the Spark image the same way (tests/e2e/test_spark_k8s_image.py submits a job with it).
# HEALTHCHECK is a Docker-format field: OCI images (and Kubernetes, which uses the chart's
# probes) ignore it.
#
# Base images are pinned by tag; pin by digest too in a release pipeline, e.g.
#   docker build --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:... .
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------------------------------------
# builder: the package and its runtime dependencies in /opt/venv
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV VIRTUAL_ENV=/opt/venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
ENV PATH="${VIRTUAL_ENV}/bin:${PATH}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m venv "$VIRTUAL_ENV"
# Versions are pinned in pyproject.toml. pip compiles the bytecode at install time, so the
# read-only image never needs to write __pycache__.
RUN --mount=type=cache,target=/root/.cache/pip pip install ".[k8s]"
# Deciding needs no training stack: fail the build if a dependency ever pulls torch in.
RUN python -c "import importlib.util as u, sys; sys.exit('torch must not be installed' if u.find_spec('torch') else 0)"
RUN pip check
RUN hrl-autoscaler run --help > /dev/null

# ---------------------------------------------------------------------------------------------
# spark-job: the image of the Spark driver and executors (and the example SparkApplications)
# ---------------------------------------------------------------------------------------------
# On the same Debian base as the operator (apache/spark cannot be pulled here, and its Ubuntu
# has no Python 3.11): Debian's OpenJDK 17 JRE, one venv with pyspark (pinned in pyproject's
# [spark] extra; SPARK_HOME is its package directory, which holds bin/, jars/ and the Kubernetes
# backend) and the package without torch, the Kafka connector baked into $SPARK_HOME/jars, and
# an entrypoint that speaks Spark's Kubernetes backend (`driver ...`, `executor`; anything else
# is run as given). Runs as uid 185 (`spark`), as the upstream image does.
#   spark-submit --master k8s://... --deploy-mode cluster \
#     --conf spark.kubernetes.container.image=localhost/spark-hrl-autoscaler-spark:0.1.0 \
#     local:///opt/hrl-autoscaler/iot_job.py ...
FROM ${PYTHON_IMAGE} AS spark-job
USER root
ENV HRL_VENV=/opt/hrl-autoscaler/venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# The JRE from Debian (the base's sources.list names its mirror). Slim bases drop
# /usr/share/man, where the JRE's postinst registers java's man page: recreate man1 first.
# tini reaps the executors' Python workers and forwards SIGTERM (see the entrypoint).
RUN set -eux; \
    mkdir -p /usr/share/man/man1; \
    apt-get update; \
    apt-get install -y --no-install-recommends openjdk-17-jre-headless tini; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java; \
    /opt/java/bin/java -version
RUN python -m venv "$HRL_VENV"
COPY pyproject.toml README.md /tmp/hrl-src/
COPY operator /tmp/hrl-src/operator
# pyspark and the package without torch, plus the [k8s] extra for the kubernetes client that
# the in-place agent uses to read its SparkApplication's target-executors annotation, and the
# [kafka] extra (kafka-python) with which the job commits its Kafka progress as a consumer group.
RUN --mount=type=cache,target=/root/.cache/pip \
    "$HRL_VENV/bin/pip" install "/tmp/hrl-src[k8s,spark,kafka]" && rm -rf /tmp/hrl-src
RUN "$HRL_VENV/bin/python" -c "import importlib.util as u, sys; sys.exit('torch must not be installed' if u.find_spec('torch') else 0)"
ENV JAVA_HOME=/opt/java \
    SPARK_HOME=/opt/hrl-autoscaler/venv/lib/python3.11/site-packages/pyspark
COPY operator/hrl_autoscaler/tools/spark/iot_job.py /opt/hrl-autoscaler/iot_job.py
COPY operator/hrl_autoscaler/tools/spark/sum_job.py operator/hrl_autoscaler/tools/spark/rate_job.py \
     /opt/hrl-autoscaler/
COPY operator/hrl_autoscaler/tools/spark/entrypoint.sh /opt/entrypoint.sh
# The Kafka connector and what it needs beyond pyspark's jars, pinned with sha256.
RUN set -eux; \
    test -x "$SPARK_HOME/bin/spark-submit"; \
    "$HRL_VENV/bin/python" -m hrl_autoscaler.tools.spark.kafka_jars "$SPARK_HOME/jars"; \
    mkdir -p "$SPARK_HOME/conf" /opt/spark/work-dir; \
    groupadd --system --gid 185 spark; \
    useradd --system --uid 185 --gid 185 --home-dir /opt/spark/work-dir --no-create-home \
        --shell /usr/sbin/nologin spark; \
    chown 185:185 /opt/spark/work-dir; \
    chmod 755 /opt/entrypoint.sh; \
    chmod 1777 /tmp
# Driver and executors run Python with this venv; HOME is the work dir (writable by 185),
# other caches go to /tmp.
ENV PATH="/opt/hrl-autoscaler/venv/bin:/opt/java/bin:${PATH}" \
    PYSPARK_PYTHON=/opt/hrl-autoscaler/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/hrl-autoscaler/venv/bin/python \
    HOME=/opt/spark/work-dir \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/.cache \
    PYTHONUNBUFFERED=1
WORKDIR /opt/spark/work-dir
USER 185
ENTRYPOINT ["/opt/entrypoint.sh"]

# ---------------------------------------------------------------------------------------------
# operator (default target): the venv, the policies, nothing else
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS operator
LABEL org.opencontainers.image.title="spark-hrl-autoscaler" \
      org.opencontainers.image.description="Kubernetes operator that autoscales Spark streaming applications with hierarchical RL" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /opt/venv /opt/venv
# Frozen PPO policy and TD3 meta-controllers (default_policies_dir() falls back to /app/policies).
COPY policies /app/policies
# Everything the process (or a library it loads) might write goes to /tmp, an emptyDir in the
# chart: the kubernetes client's temporary certificate files (TMPDIR), matplotlib's and other
# caches (MPLCONFIGDIR, XDG_*). Nothing is written to the image.
ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:${PATH}" \
    HOME=/tmp \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HRL_AUTOSCALER_POLICIES=/app/policies
WORKDIR /app
# Numeric, so runAsNonRoot can verify it without a passwd entry.
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["hrl-autoscaler"]
CMD ["run"]
