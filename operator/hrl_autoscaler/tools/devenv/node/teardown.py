"""What a stopped node must not leave behind, and the sweep that removes it.

kubelet, containerd and the CNI plugins create state outside their processes: container
processes (shims, pause, workloads), mounts (container root filesystems, token volumes, pinned
network namespaces in /run/netns), the bridge and veth interfaces, iptables chains (``KUBE-*``
from kubelet and kube-proxy, ``CNI-*`` from the bridge and portmap plugins) and cgroups
(``kubepods``). :func:`leftovers` lists each kind (the shutdown test asserts it is empty);
:func:`sweep` removes them after the processes are stopped, in dependency order.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrl_autoscaler.tools.devenv.node.components import kube_proxy_cleanup_argv
from hrl_autoscaler.tools.devenv.node.config import NodeConfig
from hrl_autoscaler.tools.devenv.node.hostdeps import NodePreflightError
from hrl_autoscaler.tools.devenv.processes import command_lines

CGROUP_ROOT = Path("/sys/fs/cgroup")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
#: In a node's data dir: the host's ip_forward before the node enabled it (CNI's bridge needs it).
IP_FORWARD_FILE = "ip_forward_before"
#: Where node data (containerd root and state, kubelet root, CNI state) lives, one directory per
#: node; on the root filesystem because containerd's overlayfs snapshotter needs a real one.
NODE_ROOT = Path("/var/lib/hrl-autoscaler/nodes")
NETNS_DIR = Path("/run/netns")
CHAIN_PREFIXES = ("KUBE-", "CNI-")
IPTABLES_TABLES = ("filter", "nat", "mangle")


@dataclass
class Leftovers:
    """Everything of a node still on the host; empty after a clean stop."""

    processes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not any(self.__dict__.values())


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(fields[4].replace("\\040", " "))
    return points


def node_mounts(data_dir: Path) -> list[str]:
    """Mounts under the data dir, and the pinned pod network namespaces (``cni-*``)."""
    prefix = str(data_dir).rstrip("/") + "/"
    netns = str(NETNS_DIR) + "/cni-"
    return [p for p in _mount_points() if p.startswith(prefix) or p.startswith(netns)]


def _cgroup_of(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return ""


def node_processes(data_dir: Path) -> list[tuple[int, str]]:
    """(pid, command) of processes in pod cgroups or run from the data dir (shims, pause)."""
    return [
        (pid, cmdline.strip()[:160])
        for pid, cmdline in command_lines()
        if "kubepods" in _cgroup_of(str(pid)) or str(data_dir) in cmdline
    ]


def node_interfaces(bridge: str) -> list[str]:
    """The node's bridge and any veth still enslaved to it or left without a peer."""
    result = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    names = []
    for line in result.stdout.splitlines():
        parts = line.split(": ")
        if len(parts) < 2:
            continue
        name = parts[1].split("@")[0]
        if name == bridge or f"master {bridge}" in line:
            names.append(name)
    return names


def node_rules() -> list[str]:
    """iptables/ip6tables chains and rules named ``KUBE-*`` or ``CNI-*``, and nft tables of
    kube-proxy (``kube-proxy`` in the ip/ip6 families), as ``<tool> <table>: <line>``."""
    found = []
    for tool in ("iptables-save", "ip6tables-save"):
        for table in IPTABLES_TABLES:
            result = subprocess.run([tool, "-t", table], capture_output=True, text=True)
            for line in result.stdout.splitlines():
                if any(prefix in line for prefix in CHAIN_PREFIXES):
                    found.append(f"{tool} {table}: {line}")
    nft = (
        subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
        if _has("nft")
        else None
    )
    if nft is not None:
        found += [f"nft: {t}" for t in nft.stdout.splitlines() if "kube-proxy" in t]
    return found


def _has(command: str) -> bool:
    return any(os.access(Path(d) / command, os.X_OK) for d in os.environ.get("PATH", "").split(":"))


def node_cgroups() -> list[str]:
    """``kubepods*`` cgroup directories in every v1 hierarchy (and the unified one)."""
    found = []
    if CGROUP_ROOT.is_dir():
        for hierarchy in sorted(CGROUP_ROOT.iterdir()):
            found += [str(p) for p in sorted(hierarchy.glob("kubepods*"))]
    return found


def leftovers(data_dir: Path, bridge: str) -> Leftovers:
    return Leftovers(
        processes=[f"{pid} {cmd}" for pid, cmd in node_processes(data_dir)],
        mounts=node_mounts(data_dir),
        interfaces=node_interfaces(bridge),
        rules=node_rules(),
        cgroups=node_cgroups(),
    )


def _kill_processes(data_dir: Path) -> None:
    for _ in range(3):
        procs = node_processes(data_dir)
        if not procs:
            return
        for pid, _cmd in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def _unmount(data_dir: Path) -> None:
    for point in sorted(node_mounts(data_dir), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        if point.startswith(str(NETNS_DIR)):
            with contextlib.suppress(OSError):
                Path(point).unlink()


def rule_cleanup(dump: str) -> tuple[list[list[str]], list[str]]:
    """From one table's ``iptables-save`` text: the rules of other chains that jump into a
    ``KUBE-*``/``CNI-*`` chain (as ``-D`` arguments) and those chains (to flush, then delete)."""
    chains = [
        line[1:].split()[0]
        for line in dump.splitlines()
        if line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES)
    ]
    deletes = []
    for line in dump.splitlines():
        if not line.startswith("-A ") or line[3:].startswith(CHAIN_PREFIXES):
            continue
        words = shlex.split(line[3:])
        targets = {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g")}
        if targets & set(chains):
            deletes.append(words)
    return deletes, chains


def _delete_rules() -> None:
    """Remove jumps into KUBE-/CNI- chains from every chain, then flush and delete those."""
    for save, tool in (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables")):
        for table in IPTABLES_TABLES:
            dump = subprocess.run([save, "-t", table], capture_output=True, text=True).stdout
            deletes, chains = rule_cleanup(dump)
            for rule in deletes:
                subprocess.run([tool, "-t", table, "-D", *rule], capture_output=True, check=False)
            for flag in ("-F", "-X"):
                for chain in chains:
                    subprocess.run([tool, "-t", table, flag, chain], capture_output=True)


def _remove_cgroups() -> None:
    for top in node_cgroups():
        for directory in sorted(Path(top).rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir():
                with contextlib.suppress(OSError):
                    directory.rmdir()
        with contextlib.suppress(OSError):
            Path(top).rmdir()


def sweep(data_dir: Path, bridge: str) -> Leftovers:
    """Remove what stopped components left; return what could not be removed."""
    _kill_processes(data_dir)
    _unmount(data_dir)
    for name in node_interfaces(bridge):
        subprocess.run(["ip", "link", "delete", name], capture_output=True, check=False)
    _delete_rules()
    _remove_cgroups()
    return leftovers(data_dir, bridge)


def teardown(
    data_dir: Path, bridge: str, kube_proxy: Path, ip_forward_before: str | None
) -> Leftovers:
    """After the processes stopped: ``kube-proxy --cleanup``, the sweep, ip_forward restored."""
    if kube_proxy.is_file():
        subprocess.run(
            kube_proxy_cleanup_argv(kube_proxy),
            capture_output=True,
            check=False,
            timeout=60,
        )
    left = sweep(data_dir, bridge)
    if not left.mounts:  # never delete through a mount (a subPath bind mount is host data)
        shutil.rmtree(data_dir, ignore_errors=True)
    if ip_forward_before is not None:
        IP_FORWARD.write_text(ip_forward_before + "\n")
    return left


def teardown_recorded(record: dict[str, Any]) -> Leftovers:
    """:func:`teardown` from :meth:`LocalNode.record` (for ``dev down``)."""
    return teardown(
        Path(record["data_dir"]),
        str(record["bridge"]),
        Path(record["kube_proxy"]),
        record.get("ip_forward_before"),
    )


def sweep_stale_nodes(progress: Callable[[str], None]) -> None:
    """Remove what a killed node left (its processes died, its mounts, rules, interfaces and
    cgroups did not). Node data lives under NODE_ROOT, not in the control plane's temporary data
    dir, because that one is deleted wholesale by whoever finds it stale, and deleting through
    a pod's bind mount would delete host files. One node per host (fixed ports, one bridge), so
    a node directory whose kubelet and containerd are gone is stale."""
    for stale in sorted(NODE_ROOT.glob("node-*")):
        if any("kubelet" in cmd or "containerd " in cmd for _, cmd in node_processes(stale)):
            raise NodePreflightError(
                f"a node is still running from {stale}: stop it first (`hrl-autoscaler dev down`)"
            )
        left = sweep(stale, NodeConfig(stale, "0.0.0.0").bridge)
        with contextlib.suppress(OSError):
            IP_FORWARD.write_text((stale / IP_FORWARD_FILE).read_text())
        if not left.mounts:
            shutil.rmtree(stale, ignore_errors=True)
        progress(f"removed a node left by a killed run: {stale}")
