"""Executors as pods on a Kubernetes node, for a driver in this process (Spark's client mode).

The same interface as :class:`~hrl_autoscaler.tools.spark.standalone.StandaloneCluster`
(``master_url``, ``spark_conf``, ``environment``, a context manager), so a caller that runs a
driver here (the calibration) measures executors that are real pods from our Spark image,
started by Spark's Kubernetes scheduler backend, instead of JVMs on a standalone worker.

Why client mode: the driver's progress, the executor-allocation API and the load writer stay
in this process as they are for the standalone run, so the two measurements differ only in
where the executors live. Executors reach the driver at the node's host address; they read the
input and write the streaming state through a ``hostPath`` mount of the work directory at the
same path (one node: the pods and this process see the same files). Files are created with
umask 000 (``fs.permissions.umask-mode``) because the driver runs as root here and the
executors as the image's uid 185; both must write the checkpoint.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.k8s.client import api_client
from hrl_autoscaler.tools.devenv.controlplane import close_api_client
from hrl_autoscaler.tools.lifecycle import StartStop
from hrl_autoscaler.tools.spark.k8s_auth import SparkClientAuth, current_cluster, mint_auth
from hrl_autoscaler.tools.spark.spark_setup import find_spark_home

RUN_LABEL = "hrl-autoscaler.io/run"
#: Executors ask for a tenth of a core: the node has two, and what is measured is what the
#: JVM gets when it runs, not what the scheduler reserved.
EXECUTOR_CPU_REQUEST = "100m"


def kubeconfig_server(kubeconfig: Path) -> str:
    """The current context's API server URL (``https://...``)."""
    server = str(current_cluster(kubeconfig).get("server") or "")
    if not server.startswith("https://"):
        raise ValueError(
            f"--kubeconfig {kubeconfig}: the cluster server must be https://..., got {server!r}"
        )
    return server


def host_address(server: str) -> str:
    """The address pods reach this machine at: the API server's host when it is an IP
    (the local node advertises the host's primary address), else the primary address."""
    match = re.match(r"^https://(\d+\.\d+\.\d+\.\d+)(?::\d+)?/?", server)
    if match and not match.group(1).startswith("127."):
        return match.group(1)
    from hrl_autoscaler.tools.devenv.node.hostdeps import primary_ip

    return primary_ip()


class KubernetesExecutors(StartStop):
    """Executor pods in ``namespace`` of the cluster of ``kubeconfig``, image ``image``."""

    def __init__(
        self,
        kubeconfig: Path,
        image: str,
        shared_dir: Path,
        *,
        namespace: str = "hrl-calibration",
        pull_policy: str = "Never",
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.server = kubeconfig_server(self.kubeconfig)
        self.image = image
        self.shared_dir = Path(shared_dir).resolve()
        self.namespace = namespace
        self.pull_policy = pull_policy
        self.run_id = uuid.uuid4().hex[:12]
        self.host = host_address(self.server)
        self.spark_home: Path | None = None
        self.auth: SparkClientAuth | None = None
        self._auth_dir: Path | None = None
        self._api: k8s_client.ApiClient | None = None

    @property
    def master_url(self) -> str:
        return "k8s://" + self.server

    def spark_conf(self, executor_memory: str = "512m", executor_cores: int = 1) -> dict[str, str]:
        """Client-mode settings: the image, the namespace, the driver's address for the pods,
        the shared directory mounted at the same path, and a label to find this run's pods."""
        volume = "spark.kubernetes.executor.volumes.hostPath.shared"
        return {
            "spark.master": self.master_url,
            "spark.submit.deployMode": "client",
            "spark.kubernetes.namespace": self.namespace,
            "spark.kubernetes.container.image": self.image,
            "spark.kubernetes.container.image.pullPolicy": self.pull_policy,
            "spark.kubernetes.executor.request.cores": EXECUTOR_CPU_REQUEST,
            f"spark.kubernetes.executor.label.{RUN_LABEL}": self.run_id,
            f"{volume}.mount.path": str(self.shared_dir),
            f"{volume}.options.path": str(self.shared_dir),
            f"{volume}.options.type": "Directory",
            "spark.driver.host": self.host,
            "spark.driver.bindAddress": "0.0.0.0",  # noqa: S104 (the pods connect from the bridge)
            "spark.executor.cores": str(executor_cores),
            "spark.executor.memory": executor_memory,
            "spark.hadoop.fs.permissions.umask-mode": "000",
            **(self.auth.client_mode_confs() if self.auth is not None else {}),
        }

    def environment(self) -> dict[str, str]:
        """The driver's environment. Spark's Kubernetes client (fabric8) must not read the
        kubeconfig: it cannot parse the local control plane's EC client key ("Invalid DER"),
        and it authenticates with :meth:`SparkClientAuth.client_mode_confs` instead."""
        assert self.spark_home is not None, "start() first"
        return {"SPARK_HOME": str(self.spark_home), "KUBERNETES_AUTH_TRYKUBECONFIG": "false"}

    def _core(self) -> k8s_client.CoreV1Api:
        if self._api is None:
            self._api = api_client(self.kubeconfig)
        return k8s_client.CoreV1Api(self._api)

    def start(self) -> KubernetesExecutors:
        self.spark_home = find_spark_home()
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        self.shared_dir.chmod(0o777)  # executors run as uid 185
        core = self._core()
        try:
            core.create_namespace(
                k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name=self.namespace))
            )
        except ApiException as exc:
            if exc.status != 409:  # already there
                raise
        assert self._api is not None
        # not in the shared directory: the executor pods mount that one
        self._auth_dir = Path(tempfile.mkdtemp(prefix="hrl-spark-auth-"))
        self.auth = mint_auth(self._api, self.kubeconfig, self._auth_dir)
        return self

    def executor_pods(self) -> list[Any]:
        """This run's executor pods (any phase)."""
        return list(
            self._core()
            .list_namespaced_pod(self.namespace, label_selector=f"{RUN_LABEL}={self.run_id}")
            .items
        )

    def stop(self) -> None:
        """Delete this run's executor pods (Spark deletes them when the driver stops cleanly;
        this covers a driver that did not)."""
        if self._api is None:
            return
        try:
            self._core().delete_collection_namespaced_pod(
                self.namespace, label_selector=f"{RUN_LABEL}={self.run_id}", grace_period_seconds=0
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        finally:
            close_api_client(self._api)
            self._api = None
            if self._auth_dir is not None:
                shutil.rmtree(self._auth_dir, ignore_errors=True)


__all__ = ["KubernetesExecutors", "host_address", "kubeconfig_server"]
