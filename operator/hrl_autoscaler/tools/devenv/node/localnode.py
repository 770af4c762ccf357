"""LocalNode: the node's processes next to a running control plane, started and stopped as one.

Start order follows dependencies: controller manager and scheduler (API clients only), containerd,
the images imported into it, CoreDNS's objects, then kubelet, kube-proxy and CoreDNS. Stop runs
the other way, then ``kube-proxy --cleanup`` and :func:`.teardown.sweep` remove what the
processes leave outside themselves (container processes, mounts, interfaces, rules, cgroups).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client

from hrl_autoscaler.tools.devenv.certs import ControlPlaneCerts
from hrl_autoscaler.tools.devenv.controlplane import ControlPlane, api_client_from
from hrl_autoscaler.tools.devenv.node import (
    cluster_objects,
    components,
    hostdeps,
    hostservice,
    images,
    pki,
)
from hrl_autoscaler.tools.devenv.node import config as nodeconfig
from hrl_autoscaler.tools.devenv.node.teardown import (
    IP_FORWARD,
    IP_FORWARD_FILE,
    NODE_ROOT,
    Leftovers,
    sweep_stale_nodes,
    teardown,
)
from hrl_autoscaler.tools.devenv.processes import ManagedProcess, ProcessExitedError

Progress = Callable[[str], None]
READY_TIMEOUT_SECONDS = 90.0
#: Names of the node's processes in the state file (``dev down`` stops these first).
NODE_PROCESSES = frozenset(
    {
        "kube-controller-manager",
        "kube-scheduler",
        "containerd",
        "kubelet",
        "kube-proxy",
        "coredns",
        "prometheus-bridge",
    }
)


class NodeError(RuntimeError):
    """The node did not come up; the message names the component and its log."""


@dataclass(frozen=True)
class NodeBinaries:
    """The node's Go binaries (built by ``hrl-autoscaler dev build``)."""

    kubelet: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kube_proxy: Path
    coredns: Path

    @classmethod
    def from_names(cls, paths: dict[str, Path]) -> NodeBinaries:
        return cls(**{name.replace("-", "_"): path for name, path in paths.items()})


class LocalNode:
    """One node on this machine; see the module docstring."""

    def __init__(
        self,
        cfg: nodeconfig.NodeConfig,
        binaries: NodeBinaries,
        certs: ControlPlaneCerts,
        api_url: str,
        admin_kubeconfig: Path,
        logs: Path,
        *,
        tie_to_parent: bool = True,
        progress: Progress = print,
    ) -> None:
        self.cfg = cfg
        self.binaries = binaries
        self.certs = certs
        self.api_url = api_url
        self.admin_kubeconfig = admin_kubeconfig
        self.logs = logs
        self.tie = tie_to_parent
        self.progress = progress
        self.processes: list[ManagedProcess] = []
        self.tools: hostdeps.HostTools | None = None
        self.ip_forward_before: str | None = None
        #: Where pods reach the host's Prometheus, once :meth:`expose_prometheus` ran.
        self.prometheus_pod_url: str | None = None

    def _start(self, name: str, argv: list[str]) -> ManagedProcess:
        process = ManagedProcess.start(
            name, argv, self.logs / f"{name}.log", tie_to_parent=self.tie
        )
        self.processes.append(process)
        return process

    def _write(self, name: str, text: str) -> Path:
        path = self.cfg.config_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def start(self) -> None:
        """Preflight, configs, identities, then every process (see the module docstring)."""
        cfg = self.cfg
        self.tools = hostdeps.preflight(
            cfg.host_ip,
            [
                (cfg.kubelet_port, "kubelet"),
                (cfg.dns_port, "CoreDNS"),
            ],
            [
                (cfg.kubelet_healthz_port, "kubelet healthz"),
                (cfg.proxy_healthz_port, "kube-proxy healthz"),
                (cfg.proxy_metrics_port, "kube-proxy metrics"),
                (cfg.dns_health_port, "CoreDNS health"),
                (cfg.dns_ready_port, "CoreDNS ready"),
                (cfg.containerd_metrics_port, "containerd metrics"),
                (cfg.controller_manager_port, "kube-controller-manager"),
                (cfg.scheduler_port, "kube-scheduler"),
            ],
        )
        pause = images.build_pause(self.progress)
        busybox = images.build_busybox(self.progress)
        self.ip_forward_before = IP_FORWARD.read_text().strip()
        # Kept on disk too: a killed run's leftovers are swept, and this restored, at next start.
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        (cfg.data_dir / IP_FORWARD_FILE).write_text(self.ip_forward_before + "\n")
        IP_FORWARD.write_text("1\n")
        cfg.cni_conf_dir.mkdir(parents=True, exist_ok=True)
        (cfg.cni_conf_dir / "10-hrl-node.conflist").write_text(nodeconfig.cni_conflist(cfg))
        kubeconfigs = pki.component_kubeconfigs(
            self.certs, self.api_url, cfg.config_dir / "pki", cfg.node_name
        )
        self.progress("starting kube-controller-manager and kube-scheduler")
        self._start(
            "kube-controller-manager",
            components.controller_manager_argv(
                self.binaries.kube_controller_manager,
                self.certs,
                kubeconfigs["kube-controller-manager"],
                cfg.controller_manager_port,
                pki.serving_cert(self.certs, cfg.config_dir / "pki", "kube-controller-manager"),
            ),
        )
        self._start(
            "kube-scheduler",
            components.scheduler_argv(
                self.binaries.kube_scheduler,
                kubeconfigs["kube-scheduler"],
                cfg.scheduler_port,
                pki.serving_cert(self.certs, cfg.config_dir / "pki", "kube-scheduler"),
            ),
        )
        self.progress("starting containerd")
        toml = self._write("containerd.toml", nodeconfig.containerd_toml(cfg))
        self._start("containerd", components.containerd_argv(self.tools.containerd, toml))
        self._wait_socket(cfg.containerd_socket, "containerd")
        for archive in (pause, busybox):
            images.import_archive(self.tools.ctr, cfg.containerd_socket, archive)
        self.progress("images imported: pause, busybox")
        with api_client_from(self.admin_kubeconfig) as api:
            cluster_objects.apply(api, cfg)
        self.progress("starting kubelet, kube-proxy and CoreDNS")
        kubelet_yaml = self._write(
            "kubelet.yaml", nodeconfig.kubelet_config(cfg, self.certs.ca_cert)
        )
        self._start(
            "kubelet",
            components.kubelet_argv(
                self.binaries.kubelet, cfg, kubeconfigs["kubelet"], kubelet_yaml
            ),
        )
        proxy_yaml = self._write(
            "kube-proxy.yaml", nodeconfig.kube_proxy_config(cfg, kubeconfigs["kube-proxy"])
        )
        self._start("kube-proxy", components.kube_proxy_argv(self.binaries.kube_proxy, proxy_yaml))
        core = self._write("Corefile", nodeconfig.corefile(cfg, kubeconfigs["coredns"]))
        self._start("coredns", components.coredns_argv(self.binaries.coredns, core))

    def _wait_socket(self, socket: Path, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not socket.exists():
            self._check_processes()
            if time.monotonic() > deadline:
                raise NodeError(f"{name} socket {socket} missing after {timeout:.0f}s")
            time.sleep(0.05)

    def _check_processes(self) -> None:
        for process in self.processes:
            try:
                process.ensure_running()
            except ProcessExitedError as exc:
                raise NodeError(str(exc)) from exc

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> float:
        """Block until the Node is Ready, CoreDNS answers ready and the controller manager has
        made the ``default`` service account (pods cannot be created before); return the wait."""
        started = time.monotonic()
        deadline = started + timeout
        last = "not registered yet"
        with api_client_from(self.admin_kubeconfig) as api:
            core = k8s_client.CoreV1Api(api)
            while time.monotonic() < deadline:
                self._check_processes()
                last = _node_condition(core, self.cfg.node_name)
                if last == "Ready" and self._dns_ready() and _default_account(core):
                    return time.monotonic() - started
                time.sleep(0.2)
        raise NodeError(
            f"node {self.cfg.node_name} not Ready after {timeout:.0f}s ({last}); "
            f"logs in {self.logs}"
        )

    def _dns_ready(self) -> bool:
        import httpx

        try:
            url = f"http://127.0.0.1:{self.cfg.dns_ready_port}/ready"
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> Leftovers:
        """Stop every process (reverse order), clean kube-proxy's rules, sweep the rest."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        return teardown(
            self.cfg.data_dir, self.cfg.bridge, self.binaries.kube_proxy, self.ip_forward_before
        )

    def expose_prometheus(self, port: int) -> str:
        """Pods reach the host's Prometheus at the returned URL (see :mod:`.hostservice`)."""
        name, namespace, service_port = "prometheus", "monitoring", 9090
        hostdeps.check_ports(self.cfg.host_ip, [(port, "prometheus-bridge")])
        self._start("prometheus-bridge", hostservice.forwarder_argv(self.cfg.host_ip, port))
        objects = hostservice.service_objects(name, namespace, service_port, self.cfg.host_ip, port)
        with api_client_from(self.admin_kubeconfig) as api:
            hostservice.apply(api, objects)
        self.prometheus_pod_url = hostservice.url(name, namespace, service_port)
        return self.prometheus_pod_url

    def ready_urls(self) -> dict[str, str]:
        """Health endpoint of each node process, for ``dev status``."""
        cfg = self.cfg
        return {
            "containerd": f"http://127.0.0.1:{cfg.containerd_metrics_port}/v1/metrics",
            "kube-controller-manager": f"https://127.0.0.1:{cfg.controller_manager_port}/healthz",
            "kube-scheduler": f"https://127.0.0.1:{cfg.scheduler_port}/healthz",
            "kubelet": f"http://127.0.0.1:{cfg.kubelet_healthz_port}/healthz",
            "kube-proxy": f"http://127.0.0.1:{cfg.proxy_healthz_port}/healthz",
            "coredns": f"http://127.0.0.1:{cfg.dns_ready_port}/ready",
        }

    def record(self) -> dict[str, Any]:
        """What ``dev down`` in another process needs to clean up after this node."""
        return {
            "data_dir": str(self.cfg.data_dir),
            "bridge": self.cfg.bridge,
            "kube_proxy": str(self.binaries.kube_proxy),
            "ip_forward_before": self.ip_forward_before,
            "node_name": self.cfg.node_name,
            "containerd_address": str(self.cfg.containerd_socket),
            "prometheus_pod_url": self.prometheus_pod_url,
        }


def _default_account(core: k8s_client.CoreV1Api) -> bool:
    try:
        core.read_namespaced_service_account("default", "default")
    except k8s_client.exceptions.ApiException:
        return False
    return True


def _node_condition(core: k8s_client.CoreV1Api, name: str) -> str:
    try:
        node = core.read_node(name)
    except k8s_client.exceptions.ApiException as exc:
        return f"HTTP {exc.status}"
    for condition in (node.status.conditions if node.status else None) or []:
        if condition.type == "Ready":
            return "Ready" if condition.status == "True" else f"NotReady: {condition.message}"
    return "no Ready condition yet"


def node_host_ip() -> str:
    """The address the API server advertises in node mode; checks root first (clear error)."""
    hostdeps.check_root()
    hostdeps.check_kernel()
    return hostdeps.primary_ip()


def start_local_node(
    control_plane: ControlPlane,
    data_dir: Path,
    tie_to_parent: bool,
    progress: Progress,
    *,
    build: bool = False,
    timeout: float = READY_TIMEOUT_SECONDS,
) -> LocalNode:
    """Start a node next to a ready control plane and wait until it is Ready; on failure, stop
    and sweep what was started before raising."""
    from hrl_autoscaler.tools.devenv import binaries as bins

    if build:
        bins.ensure_binaries(progress, require_prometheus=False)
    if control_plane.certs is None or control_plane.node_host_ip is None:
        raise NodeError("the control plane was not started in node mode (node_host_ip)")
    del data_dir  # the node's data lives under NODE_ROOT instead (see sweep_stale_nodes)
    sweep_stale_nodes(progress)
    NODE_ROOT.mkdir(parents=True, exist_ok=True)
    node_dir = Path(tempfile.mkdtemp(prefix="node-", dir=NODE_ROOT))
    cfg = nodeconfig.NodeConfig(data_dir=node_dir, host_ip=control_plane.node_host_ip)
    node = LocalNode(
        cfg,
        NodeBinaries.from_names(bins.find_node_binaries()),
        control_plane.certs,
        control_plane.url,
        control_plane.kubeconfig,
        control_plane.state_dir / "logs",
        tie_to_parent=tie_to_parent,
        progress=progress,
    )
    try:
        node.start()
        waited = node.wait_ready(timeout)
    except BaseException:
        node.stop()
        raise
    progress(f"node {cfg.node_name} Ready ({waited:.1f}s after its processes started)")
    return node
