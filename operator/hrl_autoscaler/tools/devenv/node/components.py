"""Command lines of the node's processes (pure: paths and ports in, argv out)."""

from __future__ import annotations

from pathlib import Path

from hrl_autoscaler.tools.devenv.certs import ControlPlaneCerts
from hrl_autoscaler.tools.devenv.controlplane import SERVICE_CLUSTER_IP_RANGE
from hrl_autoscaler.tools.devenv.node.config import NodeConfig


def containerd_argv(binary: Path, config: Path) -> list[str]:
    return [str(binary), "--config", str(config), "--log-level", "warn"]


def kubelet_argv(binary: Path, cfg: NodeConfig, kubeconfig: Path, config: Path) -> list[str]:
    """kubelet with its config file; identity and node address on the command line."""
    return [
        str(binary),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={cfg.kubelet_dir}",
        f"--cert-dir={cfg.kubelet_dir / 'pki'}",
        f"--hostname-override={cfg.node_name}",
        f"--node-ip={cfg.host_ip}",
        "--v=1",
    ]


def controller_manager_argv(
    binary: Path,
    certs: ControlPlaneCerts,
    kubeconfig: Path,
    port: int,
    serving: tuple[Path, Path],
) -> list[str]:
    """Signs service-account tokens with the control plane's SA key and puts the root CA into
    each namespace's ``kube-root-ca.crt`` (what in-cluster clients trust); every controller runs
    with its own service account, as upstream's RBAC expects."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--service-account-private-key-file={certs.service_account_key}",
        f"--root-ca-file={certs.ca_cert}",
        "--use-service-account-credentials=true",
        f"--tls-cert-file={serving[0]}",
        f"--tls-private-key-file={serving[1]}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--node-monitor-grace-period=40s",
        "--profiling=false",
    ]


def scheduler_argv(
    binary: Path, kubeconfig: Path, port: int, serving: tuple[Path, Path]
) -> list[str]:
    return [
        str(binary),
        f"--tls-cert-file={serving[0]}",
        f"--tls-private-key-file={serving[1]}",
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--profiling=false",
    ]


def kube_proxy_argv(binary: Path, config: Path) -> list[str]:
    return [str(binary), f"--config={config}", "--v=1"]


def kube_proxy_cleanup_argv(binary: Path) -> list[str]:
    """``kube-proxy --cleanup``: removes its iptables, nftables and IPVS rules, then exits."""
    return [str(binary), "--cleanup", "--v=1"]


def coredns_argv(binary: Path, corefile: Path) -> list[str]:
    return [str(binary), "-conf", str(corefile)]
