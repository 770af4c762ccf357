"""Find, or build once and cache, the binaries of the local control plane.

Versions live here and only here. The Go binaries (kube-apiserver, etcd, helm, kubectl) are built
from the Go module proxy into ``<cache>/bin/<name>-<version>/<name>``; the directory is keyed by
version so a version bump builds anew while old builds stay usable. Prometheus comes from Debian's
package, because building it needs its web UI assets that the module proxy does not carry.

Every path can be overridden with an environment variable (``HRL_AUTOSCALER_KUBE_APISERVER``,
``HRL_AUTOSCALER_ETCD``, ``HRL_AUTOSCALER_HELM``, ``HRL_AUTOSCALER_KUBECTL``,
``HRL_AUTOSCALER_PROMETHEUS``), so a machine that already has these binaries (or Debian's
``etcd-server``) can skip the build.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hrl_autoscaler.tools.devenv import gobuild
from hrl_autoscaler.tools.devenv.node import coredns_build

#: Kubernetes release of kube-apiserver (its staging modules are tagged ``v0.<minor>.<patch>``).
KUBERNETES_VERSION = "v1.35.4"
#: etcd release; the 3.6 line is what Kubernetes 1.34+ is tested with.
ETCD_VERSION = "v3.6.16"
#: Helm 3 release, used to install the chart into the local control plane. The ``-k8s1.35`` suffix
#: names the Kubernetes version stamped into the build (see :func:`gobuild.helm_ldflags`) and keys
#: the cache, so the older helm that assumed Kubernetes v1.20 is not reused.
HELM_VERSION = "v3.21.4-k8s1.35"
#: CoreDNS release for the local node's cluster DNS, built through a wrapper module that links
#: only the plugins the node needs (see :func:`node.coredns_build.build_coredns`).
COREDNS_VERSION = "v1.14.7"
#: actionlint release: lints the kind-e2e GitHub workflow, which cannot run here (no Docker).
ACTIONLINT_VERSION = "v1.7.12"
#: Upstream Prometheus 3.16.0 (module versions ``v0.3MM.P`` are releases 3.MM.P), built from the
#: module proxy without its web UI for the node tier's Kubernetes service discovery: Debian's
#: package leaves ``kubernetes_sd_configs`` out ("field kubernetes_sd_configs not found"), and
#: the shipped scrape config (manifests/monitoring/scrape-config.yaml) is written with it. The
#: rest of the suite keeps Debian's server, which it was written against.
PROMETHEUS_UPSTREAM_VERSION = "v0.316.0"
#: Where Debian's ``prometheus`` package puts the server.
PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
#: The apt package to install when Prometheus is missing.
PROMETHEUS_APT_PACKAGE = "prometheus"

BUILD_COMMAND = "python -m hrl_autoscaler.tools.devenv build"

Progress = Callable[[str], None]


class BinaryMissingError(RuntimeError):
    """A binary the local control plane needs is not there; the message says how to get it."""


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every binary the local control plane runs."""

    kube_apiserver: Path
    etcd: Path
    helm: Path
    prometheus: Path
    kubectl: Path
    actionlint: Path


def cache_root() -> Path:
    """The cache directory: ``$HRL_AUTOSCALER_CACHE_DIR``, else ``$XDG_CACHE_HOME`` or ~/.cache."""
    explicit = os.environ.get("HRL_AUTOSCALER_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hrl-autoscaler"


def default_state_dir() -> Path:
    """Where ``hrl-autoscaler dev`` keeps its state: ``<cache>/dev``."""
    return cache_root() / "dev"


def bin_dir() -> Path:
    """Where built binaries live, one directory per name and version."""
    return cache_root() / "bin"


def cached_binary(name: str, version: str) -> Path:
    """The path a built binary has in the cache (it may not exist yet)."""
    return bin_dir() / f"{name}-{version}" / name


def _override(env_var: str) -> Path | None:
    value = os.environ.get(env_var)
    return Path(value).expanduser() if value else None


def _go_targets() -> list[tuple[str, str, str, gobuild.Builder]]:
    """(name, version, override env var, builder) for each binary built with Go."""
    return [
        ("etcd", ETCD_VERSION, "HRL_AUTOSCALER_ETCD", gobuild.build_etcd),
        (
            "kube-apiserver",
            KUBERNETES_VERSION,
            "HRL_AUTOSCALER_KUBE_APISERVER",
            gobuild.build_kube_apiserver,
        ),
        ("helm", HELM_VERSION, "HRL_AUTOSCALER_HELM", gobuild.build_helm),
        # kubectl of the same release as the API server (chart tests: `kubectl auth can-i`).
        ("kubectl", KUBERNETES_VERSION, "HRL_AUTOSCALER_KUBECTL", gobuild.build_kubectl),
        ("actionlint", ACTIONLINT_VERSION, "HRL_AUTOSCALER_ACTIONLINT", gobuild.build_actionlint),
        *_node_targets(),
    ]


def _node_targets() -> list[tuple[str, str, str, gobuild.Builder]]:
    """The local node's Go binaries (``dev up --node``): built by ``build`` too, required only
    in node mode. containerd, runc and the CNI plugins are Debian's packages instead (see
    :mod:`.node.hostdeps`): they cost no build time in CI and were seen working with kubelet
    1.35 here."""
    k8s = KUBERNETES_VERSION
    return [
        ("kubelet", k8s, "HRL_AUTOSCALER_KUBELET", gobuild.build_kubelet),
        (
            "kube-controller-manager",
            k8s,
            "HRL_AUTOSCALER_KUBE_CONTROLLER_MANAGER",
            gobuild.build_kube_controller_manager,
        ),
        ("kube-scheduler", k8s, "HRL_AUTOSCALER_KUBE_SCHEDULER", gobuild.build_kube_scheduler),
        ("kube-proxy", k8s, "HRL_AUTOSCALER_KUBE_PROXY", gobuild.build_kube_proxy),
        ("coredns", COREDNS_VERSION, "HRL_AUTOSCALER_COREDNS", coredns_build.build_coredns),
        (
            "prometheus",
            PROMETHEUS_UPSTREAM_VERSION,
            "HRL_AUTOSCALER_PROMETHEUS_UPSTREAM",
            gobuild.build_prometheus,
        ),
    ]


#: Names of the node-only Go binaries (not required by the plain control plane).
NODE_BINARIES = ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns")


def find_node_binaries() -> dict[str, Path]:
    """The node's Go binaries by name, without building; BinaryMissingError names the fix."""
    return {
        name: _resolve(name, version, env)
        for name, version, env, _ in _node_targets()
        if name in NODE_BINARIES
    }


def find_upstream_prometheus() -> Path:
    """The Prometheus built from the module proxy (with Kubernetes service discovery)."""
    return _resolve("prometheus", PROMETHEUS_UPSTREAM_VERSION, "HRL_AUTOSCALER_PROMETHEUS_UPSTREAM")


def find_prometheus() -> Path:
    """Return the Prometheus server binary or explain which apt package provides it."""
    path = _override("HRL_AUTOSCALER_PROMETHEUS") or PROMETHEUS_BINARY
    if not _is_executable(path):
        raise BinaryMissingError(
            f"prometheus not found at {path}. Install Debian's package: "
            f"apt-get install -y --no-install-recommends {PROMETHEUS_APT_PACKAGE} "
            "(or set HRL_AUTOSCALER_PROMETHEUS to a prometheus binary)"
        )
    return path


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _resolve(name: str, version: str, env_var: str) -> Path:
    override = _override(env_var)
    if override is not None:
        if not _is_executable(override):
            raise BinaryMissingError(f"{env_var}={override}: no executable {name} there")
        return override
    path = cached_binary(name, version)
    if not _is_executable(path):
        raise BinaryMissingError(
            f"{name} {version} is not built yet (expected {path}). Build it once with "
            f"`{BUILD_COMMAND}` (takes minutes), or set {env_var} to an existing binary"
        )
    return path


def find_binaries(
    *, require_prometheus: bool = True, require_helm: bool = False, require_kubectl: bool = False
) -> Binaries:
    """Return the cached binaries without building; raise BinaryMissingError naming the fix.

    helm, kubectl and actionlint are optional by default because only chart and workflow tests
    use them; a path that is not required is returned even if nothing is there yet.
    """
    required = (
        {"etcd", "kube-apiserver"}
        | ({"helm"} if require_helm else set())
        | ({"kubectl"} if require_kubectl else set())
    )
    paths = {
        name: _resolve(name, version, env) if name in required else cached_binary(name, version)
        for name, version, env, _ in _go_targets()
    }
    return Binaries(
        kube_apiserver=paths["kube-apiserver"],
        etcd=paths["etcd"],
        helm=_override("HRL_AUTOSCALER_HELM") or paths["helm"],
        prometheus=find_prometheus() if require_prometheus else PROMETHEUS_BINARY,
        kubectl=_override("HRL_AUTOSCALER_KUBECTL") or paths["kubectl"],
        actionlint=_override("HRL_AUTOSCALER_ACTIONLINT") or paths["actionlint"],
    )


@contextmanager
def _build_lock() -> Iterator[None]:
    """Serialise builds across processes; leftovers of killed builds are removed under it."""
    root = bin_dir()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            for stale in root.glob(".tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_binaries(progress: Progress = print, *, require_prometheus: bool = True) -> Binaries:
    """Return every binary, building the missing Go ones first (minutes, once per version).

    Safe to run concurrently and to interrupt: each build goes to a temporary directory under
    the cache that is renamed into place only when complete.
    """
    paths: dict[str, Path] = {}
    for name, version, env_var, builder in _go_targets():
        try:
            paths[name] = _resolve(name, version, env_var)
            continue
        except BinaryMissingError:
            if _override(env_var) is not None:
                raise
        with _build_lock():
            final = cached_binary(name, version)
            if not _is_executable(final):
                gobuild.build_into_cache(name, version, bin_dir(), builder, progress)
            else:
                progress(f"[{name} {version}] built meanwhile by another process")
        paths[name] = final
    prometheus = find_prometheus() if require_prometheus else PROMETHEUS_BINARY
    return Binaries(
        kube_apiserver=paths["kube-apiserver"],
        etcd=paths["etcd"],
        helm=paths["helm"],
        prometheus=prometheus,
        kubectl=paths["kubectl"],
        actionlint=paths["actionlint"],
    )
