"""Start the submission role from an admin kubeconfig: the master URL, the ``spark-submit`` of
the installed Spark and the environment it needs, checked before the first application."""

from __future__ import annotations

import os
from pathlib import Path

from hrl_autoscaler.tools.devenv.emulator.server import api_from_kubeconfig
from hrl_autoscaler.tools.devenv.sparkop.controller import SparkSubmitController
from hrl_autoscaler.tools.spark.k8s_auth import mint_auth
from hrl_autoscaler.tools.spark.kubernetes_executors import kubeconfig_server
from hrl_autoscaler.tools.spark.spark_setup import check_java, find_spark_home


def master_url(kubeconfig: Path) -> str:
    """``k8s://`` + the current context's cluster server, as ``spark-submit --master`` wants."""
    return "k8s://" + kubeconfig_server(kubeconfig)


def start_submitter(kubeconfig: Path, log_dir: Path) -> SparkSubmitController:
    """A running :class:`SparkSubmitController` for the cluster of ``kubeconfig``.

    spark-submit's Kubernetes client (fabric8) cannot read the local control plane's EC client
    keys, so each submission gets a fresh token of a submitter service account
    (:mod:`hrl_autoscaler.tools.spark.k8s_auth`); the driver in the pod uses its own.
    """
    check_java()
    spark_home = find_spark_home()
    env = {**os.environ, "SPARK_HOME": str(spark_home)}
    env.pop("KUBECONFIG", None)  # the credentials are the token's, named by the confs
    api = api_from_kubeconfig(kubeconfig)
    return SparkSubmitController(
        api,
        master=master_url(kubeconfig),
        spark_submit=spark_home / "bin" / "spark-submit",
        log_dir=log_dir,
        env=env,
        client_conf=lambda: mint_auth(api, kubeconfig, log_dir / "auth").submission_confs(),
    ).start()


__all__ = ["master_url", "start_submitter"]
