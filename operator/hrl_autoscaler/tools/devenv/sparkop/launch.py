"""Start the submission role from an admin kubeconfig: the master URL, the ``spark-submit`` of
the installed Spark and the environment it needs, checked before the first application."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from hrl_autoscaler.tools.devenv.emulator.server import api_from_kubeconfig
from hrl_autoscaler.tools.devenv.sparkop.controller import SparkSubmitController
from hrl_autoscaler.tools.spark.spark_setup import check_java, find_spark_home


def master_url(kubeconfig: Path) -> str:
    """``k8s://`` + the current context's cluster server, as ``spark-submit --master`` wants."""
    try:
        config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"--kubeconfig {kubeconfig}: cannot read it: {exc}") from None
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
    context = contexts.get(config.get("current-context", ""))
    if context is None or context.get("cluster") not in clusters:
        raise ValueError(f"--kubeconfig {kubeconfig}: no current-context with a known cluster")
    server = str(clusters[context["cluster"]].get("server") or "")
    if not server.startswith("https://"):
        raise ValueError(
            f"--kubeconfig {kubeconfig}: the cluster server must be https://..., got {server!r}"
        )
    return "k8s://" + server


def start_submitter(kubeconfig: Path, log_dir: Path) -> SparkSubmitController:
    """A running :class:`SparkSubmitController` for the cluster of ``kubeconfig``.

    spark-submit's Kubernetes client (fabric8) reads the same kubeconfig (``KUBECONFIG``) for
    its credentials and CA; the driver in the pod uses its service account instead.
    """
    check_java()
    spark_home = find_spark_home()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "SPARK_HOME": str(spark_home)}
    return SparkSubmitController(
        api_from_kubeconfig(kubeconfig),
        master=master_url(kubeconfig),
        spark_submit=spark_home / "bin" / "spark-submit",
        log_dir=log_dir,
        env=env,
    ).start()


__all__ = ["master_url", "start_submitter"]
