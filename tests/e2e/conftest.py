"""Session fixtures for the e2e suite: one real control plane and Prometheus for all tests.

The ``devenv`` fixture starts etcd, kube-apiserver and Prometheus once per test session (a few
seconds) and installs the upstream Spark Operator CRD from ``<repo>/../shared/crds`` when it is
there, so every object and patch the tests write is validated against what real clusters run;
without it, the project's own CRD (``manifests/crds``) is installed instead. The operator's own
ExecutorBudget CRD (``manifests/crds/executorbudgets.yaml``) is installed either way. Binaries
are built on first use if the Makefile did not build them already (that takes minutes, once). With
``--kubeconfig`` (tests/conftest.py) the session uses that cluster instead of starting one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.crds import default_crd_paths, upstream_crd_dir
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle, assert_stopped


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def devenv(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[DevEnvHandle]:
    """The shared control plane and Prometheus for the session (a LocalStack without emulator
    or operator: each module starts those it needs on top of it).

    Locally: etcd, kube-apiserver and Prometheus started here. With ``--kubeconfig``: that
    cluster's API (its Spark Operator's own CRD is used as it is) and a Prometheus started here.
    """
    cluster: Path | None = pytestconfig.getoption("--kubeconfig")
    upstream = upstream_crd_dir()
    crds = default_crd_paths()
    assert crds, "neither ../shared/crds nor manifests/crds found"
    options = StackOptions(
        work_dir=tmp_path_factory.mktemp("devenv"),
        crds=crds,
        cluster_kubeconfig=cluster,
        binaries=ensure_binaries(_progress) if cluster is None else None,
        emulator=False,
        operator=False,
        progress=_progress,
    )
    source = ("upstream" if upstream else "project") if cluster is None else "cluster"
    with LocalStack(options) as stack:
        assert stack.env is not None
        assert stack.api_client is not None
        env = stack.env
        processes, data_dir = env.processes, env.data_dir
        yield DevEnvHandle(
            env=env,
            kubeconfig=stack.kubeconfig,
            api_client=stack.api_client,
            prometheus_url=stack.prometheus_url,
            crd_source=source,
        )
    assert_stopped(processes, data_dir)


@pytest.fixture
def upstream_crd(devenv: DevEnvHandle) -> Path | None:
    """The upstream SparkApplication CRD directory the session serves (None on a
    ``--kubeconfig`` cluster, which serves its Spark Operator's own). A test of what only the
    upstream schema checks is skipped without it locally, and fails in CI (CI=true), where the
    checkout always has ``../shared/crds`` beside it: a clone elsewhere tests less."""
    if devenv.crd_source == "cluster":
        return None
    upstream = upstream_crd_dir()
    if upstream is None:
        root = Path(__file__).resolve().parents[2]
        where = root.parent / "shared" / "crds"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{where} is missing in CI: the upstream SparkApplication CRD is unchecked")
        pytest.skip(f"{where} is missing: only the project's permissive CRD is served")
    return upstream


# --- the real local node (issue 18): `pytest -m node`, root only ------------------------------

from hrl_autoscaler.tools.devenv.node.handle import NodeHandle  # noqa: E402


@pytest.fixture(scope="session")
def node_env() -> Iterator[NodeHandle]:
    """The control plane, Prometheus and one real node (kubelet, containerd, kube-proxy, CoreDNS)
    for the session. Skips when not root: the node creates namespaces, mounts and iptables rules.
    ``test_node.py::test_clean_shutdown_leaves_nothing`` stops it last and checks the host."""
    import os

    if os.geteuid() != 0:
        pytest.skip("the local node needs root (kubelet, containerd, kube-proxy); run as root")
    from hrl_autoscaler.tools.devenv.controlplane import close_api_client
    from hrl_autoscaler.tools.devenv.session import DevEnv

    binaries = ensure_binaries(_progress)
    env = DevEnv(
        crds=default_crd_paths(), binaries=binaries, build=True, node=True, progress=_progress
    )
    env.start()
    api = env.api_client()
    assert env.local_node is not None
    handle = NodeHandle(
        env=env,
        kubeconfig=env.kubeconfig,
        api_client=api,
        kubectl_binary=binaries.kubectl,
        prometheus_url=env.prometheus_url,
        containerd_address=str(env.local_node.cfg.containerd_socket),
        node_name=env.local_node.cfg.node_name,
        data_dir=env.local_node.cfg.data_dir,
        bridge=env.local_node.cfg.bridge,
        prometheus_pod_url=env.local_node.prometheus_pod_url,
    )
    try:
        yield handle
    finally:
        close_api_client(api)
        handle.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The node's shutdown test stops the session's node: run it after every other test."""
    last = [i for i in items if i.name == "test_clean_shutdown_leaves_nothing"]
    items[:] = [i for i in items if i not in last] + last
