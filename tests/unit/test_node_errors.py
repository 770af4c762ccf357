"""Preflight errors of the local node name their fix."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hrl_autoscaler.tools.devenv.node import hostdeps


def test_not_root_says_run_as_root() -> None:
    with pytest.raises(hostdeps.NodePreflightError, match="needs root"):
        hostdeps.check_root(euid=1000)
    hostdeps.check_root(euid=0)


def test_missing_kernel_features_name_modprobe(tmp_path: Path) -> None:
    missing = hostdeps.missing_kernel_features("nodev\tproc\n", tmp_path / "absent")
    assert any("modprobe overlay" in m for m in missing)
    assert any("modprobe br_netfilter" in m for m in missing)
    assert hostdeps.missing_kernel_features("nodev\toverlay\n", tmp_path) == []


def test_taken_port_names_the_component() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(hostdeps.NodePreflightError, match=f"{port} for kubelet is taken"):
            hostdeps.check_ports("127.0.0.1", [(port, "kubelet")])


def test_missing_cni_plugin_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(hostdeps.NodePreflightError, match="containernetworking-plugins"):
        hostdeps.host_tools(cni_bin_dir=tmp_path)
