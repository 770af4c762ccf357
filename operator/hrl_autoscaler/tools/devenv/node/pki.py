"""Identities of the node's components: one client certificate and kubeconfig each.

Each component authenticates as the user Kubernetes' built-in RBAC (and the Node authorizer)
expects, as ``hack/local-up-cluster.sh`` does, rather than all sharing the admin certificate:
kubelet as ``system:node:<name>`` in ``system:nodes``, the controller manager and scheduler as
``system:kube-controller-manager`` / ``system:kube-scheduler``, kube-proxy as ``system:kube-proxy``
(bound to ``system:node-proxier``), and CoreDNS as ``system:coredns`` (bound by
:mod:`.cluster_objects`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hrl_autoscaler.tools.devenv.certs import (
    ControlPlaneCerts,
    issue_client_cert,
    issue_serving_cert,
)
from hrl_autoscaler.tools.devenv.controlplane import write_kubeconfig


def subjects(node_name: str) -> dict[str, str]:
    """Component -> certificate subject (O = group, CN = user)."""
    return {
        "kubelet": f"/O=system:nodes/CN=system:node:{node_name}",
        "kube-controller-manager": "/CN=system:kube-controller-manager",
        "kube-scheduler": "/CN=system:kube-scheduler",
        "kube-proxy": "/CN=system:kube-proxy",
        "coredns": "/CN=system:coredns",
    }


def component_kubeconfigs(
    certs: ControlPlaneCerts, server: str, directory: Path, node_name: str
) -> dict[str, Path]:
    """Issue each component's certificate and write its kubeconfig; return name -> kubeconfig."""
    directory.mkdir(parents=True, exist_ok=True)
    configs: dict[str, Path] = {}
    for component, subject in subjects(node_name).items():
        cert, key = issue_client_cert(directory, component, subject, (certs.ca_cert, certs.ca_key))
        identity = dataclasses.replace(certs, admin_cert=cert, admin_key=key)
        configs[component] = write_kubeconfig(
            directory / f"{component}.kubeconfig", server, identity
        )
    return configs


def serving_cert(certs: ControlPlaneCerts, directory: Path, name: str) -> tuple[Path, Path]:
    """A 127.0.0.1 serving certificate from the control plane's CA (health checks verify it)."""
    return issue_serving_cert(
        directory, f"{name}-serving", ("127.0.0.1", "localhost"), (certs.ca_cert, certs.ca_key)
    )
