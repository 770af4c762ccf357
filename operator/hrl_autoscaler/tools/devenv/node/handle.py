"""NodeHandle: what node tests (and the chart tests on the node) get from the ``node_env``
fixture: endpoints, an admin client, ``kubectl``, and image import into the node's containerd."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client as k8s_client

from hrl_autoscaler.tools.devenv.node import images
from hrl_autoscaler.tools.devenv.node.hostdeps import host_tools
from hrl_autoscaler.tools.devenv.node.teardown import Leftovers, leftovers
from hrl_autoscaler.tools.devenv.session import DevEnv


@dataclass
class NodeHandle:
    """A running control plane with one real node (``DevEnv(node=True)``)."""

    env: DevEnv
    kubeconfig: Path
    api_client: k8s_client.ApiClient
    kubectl_binary: Path
    prometheus_url: str
    containerd_address: str
    node_name: str
    data_dir: Path
    bridge: str
    #: The host's Prometheus as pods reach it (``http://prometheus.monitoring.svc:9090``).
    prometheus_pod_url: str | None = None
    stopped: bool = False

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 120.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster (text output; raises on failure with ``check``)."""
        result = subprocess.run(
            [str(self.kubectl_binary), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def import_image(self, archive: Path, base_name: str | None = None) -> None:
        """Import an OCI (or docker-save) archive into the node's containerd, ``k8s.io``
        namespace, where kubelet finds it (use ``imagePullPolicy: Never`` or ``IfNotPresent``).
        ``base_name``: see :func:`.images.import_archive` (archives whose ref is a bare tag)."""
        images.import_archive(host_tools().ctr, Path(self.containerd_address), archive, base_name)

    def images(self) -> list[str]:
        """References of the images in the node's containerd (``k8s.io`` namespace)."""
        result = subprocess.run(
            [
                str(host_tools().ctr),
                "--address",
                self.containerd_address,
                "-n",
                "k8s.io",
                "images",
                "list",
                "-q",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return result.stdout.split()

    def leftovers(self) -> Leftovers:
        return leftovers(self.data_dir, self.bridge)

    def stop(self) -> None:
        """Stop everything (idempotent): the shutdown test calls it before the session ends."""
        if not self.stopped:
            self.stopped = True
            self.env.stop()
