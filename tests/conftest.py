"""Options for the whole suite.

``--kubeconfig PATH`` runs the e2e suite against a cluster that already runs (the kind path,
``make kind-e2e``) instead of starting a local kube-apiserver and etcd. Tests marked
``localcp`` examine the local control plane itself (its binaries, processes, certificates) and
are skipped there; tests marked ``kind`` need a real cluster with kubelets, the Spark Operator
and this chart installed, and run only there.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kubeconfig",
        action="store",
        default=None,
        type=Path,
        help="run the e2e tests on the cluster of this kubeconfig (e.g. kind) instead of a "
        "local kube-apiserver and etcd; Prometheus still runs on this host",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_cluster = config.getoption("--kubeconfig") is not None
    for item in items:
        if on_cluster and "localcp" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="examines the local control plane itself"))
        if not on_cluster and "kind" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs a real cluster: run with --kubeconfig"))
