"""Preflight of the host for a local node: root, kernel features, Debian's runtime packages.

containerd, runc and the CNI plugins are Debian bookworm's packages (``containerd`` 1.6.20,
``runc`` 1.1.5, ``containernetworking-plugins`` 1.1.1 in /usr/lib/cni), not builds: they were
seen working with kubelet 1.35.4 on this kind of machine and cost no build time in CI. Each check
fails with a message that names the fix (``make node-deps``, ``modprobe``, or a port to free).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: ``make node-deps`` installs these Debian packages.
APT_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    "busybox-static",
    "socat",
    "gcc",
    "libc6-dev",
)
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")


class NodePreflightError(RuntimeError):
    """The host cannot run the local node; the message says what to do."""


@dataclass(frozen=True)
class HostTools:
    """Absolute paths of the host commands the node uses."""

    containerd: Path
    ctr: Path
    runc: Path
    iptables: Path
    ip6tables: Path | None
    cni_bin_dir: Path


def _which(name: str, package: str) -> Path:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise NodePreflightError(
            f"`{name}` is missing: install Debian's {package} package (`make node-deps`, or "
            f"apt-get install -y --no-install-recommends {' '.join(APT_PACKAGES)})"
        )
    return Path(found)


def check_root(euid: int | None = None) -> None:
    """kubelet, containerd and kube-proxy need root (namespaces, mounts, cgroups, iptables)."""
    if (os.geteuid() if euid is None else euid) != 0:
        raise NodePreflightError(
            "the local node needs root (kubelet, containerd and kube-proxy create namespaces, "
            "mounts, cgroups and iptables rules); run `dev up --node` or `make node` as root"
        )


def missing_kernel_features(
    filesystems: str, bridge_sysctl: Path = Path("/proc/sys/net/bridge")
) -> list[str]:
    """Kernel features the node needs that this host lacks, each with the command to fix it."""
    missing = []
    if "overlay" not in filesystems.split():
        missing.append("overlay filesystem (containerd's snapshotter): modprobe overlay")
    if not bridge_sysctl.is_dir():
        missing.append(
            "br_netfilter (Service traffic between pods on the bridge): modprobe br_netfilter"
        )
    return missing


def check_kernel() -> None:
    missing = missing_kernel_features(Path("/proc/filesystems").read_text())
    if missing:
        raise NodePreflightError("kernel features missing: " + "; ".join(missing))


def check_ports(host: str, ports: Sequence[tuple[int, str]]) -> None:
    """Each (port, component) must be free on ``host``; name the component when it is not."""
    for port, component in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise NodePreflightError(
                    f"port {host}:{port} for {component} is taken ({exc.strerror}); stop what "
                    f"holds it (`ss -ltnp 'sport = :{port}'`) or a node left by `dev up --node` "
                    "(`hrl-autoscaler dev down`)"
                ) from exc


def host_tools(cni_bin_dir: Path = Path("/usr/lib/cni")) -> HostTools:
    """Find the Debian binaries; raise NodePreflightError naming the package when one is gone."""
    for plugin in CNI_PLUGINS:
        if not os.access(cni_bin_dir / plugin, os.X_OK):
            raise NodePreflightError(
                f"CNI plugin {cni_bin_dir / plugin} is missing: install Debian's "
                "containernetworking-plugins package (`make node-deps`)"
            )
    return HostTools(
        containerd=_which("containerd", "containerd"),
        ctr=_which("ctr", "containerd"),
        runc=_which("runc", "runc"),
        iptables=_which("iptables", "iptables"),
        ip6tables=Path(p) if (p := shutil.which("ip6tables")) else None,
        cni_bin_dir=cni_bin_dir,
    )


def primary_ip() -> str:
    """The source address of the default route: what the API server advertises in node mode."""
    result = subprocess.run(
        ["ip", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=False
    )
    words = result.stdout.split()
    if "src" in words:
        return words[words.index("src") + 1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))
        address: str = sock.getsockname()[0]
    if address.startswith("127."):
        raise NodePreflightError(
            "no non-loopback IPv4 address found (pods reach the API server through it)"
        )
    return address


def preflight(
    host_ip: str,
    ports: Sequence[tuple[int, str]],
    loopback_ports: Sequence[tuple[int, str]] = (),
) -> HostTools:
    """Every check at once, before anything starts: ``ports`` on the host address,
    ``loopback_ports`` (health and metrics endpoints) on 127.0.0.1."""
    check_root()
    check_kernel()
    tools = host_tools()
    check_ports(host_ip, ports)
    check_ports("127.0.0.1", loopback_ports)
    return tools
