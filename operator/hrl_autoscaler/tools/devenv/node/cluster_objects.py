"""API objects the node needs besides its processes: CoreDNS's RBAC and the ``kube-dns`` Service.

CoreDNS runs as a host process (no pod image for it), so ``kube-dns`` is a Service without a
selector whose EndpointSlice points at the host address and CoreDNS's port: kube-proxy DNATs
``<dns ip>:53`` there, and pods resolve ``*.svc.cluster.local`` as on any cluster.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.tools.devenv.node.config import NodeConfig

COREDNS_USER = "system:coredns"


def coredns_rbac() -> list[dict[str, Any]]:
    """What CoreDNS's kubernetes plugin reads (upstream's deployment RBAC), bound to its user."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": COREDNS_USER},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["endpoints", "services", "pods", "namespaces"],
                "verbs": ["list", "watch"],
            },
            {
                "apiGroups": ["discovery.k8s.io"],
                "resources": ["endpointslices"],
                "verbs": ["list", "watch"],
            },
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": COREDNS_USER},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": COREDNS_USER,
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": COREDNS_USER}
        ],
    }
    return [role, binding]


def kube_dns_service(cfg: NodeConfig) -> dict[str, Any]:
    ports = [
        {"name": "dns", "port": 53, "targetPort": cfg.dns_port, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "targetPort": cfg.dns_port, "protocol": "TCP"},
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns"},
        },
        "spec": {"clusterIP": cfg.dns_service_ip, "ports": ports},
    }


def kube_dns_endpoint_slice(cfg: NodeConfig) -> dict[str, Any]:
    """The slice kube-proxy follows: the host address, CoreDNS's port, always ready."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kube-dns-host",
            "namespace": "kube-system",
            "labels": {
                "kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": "hrl-autoscaler-devenv",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [cfg.host_ip], "conditions": {"ready": True}}],
        "ports": [
            {"name": "dns", "port": cfg.dns_port, "protocol": "UDP"},
            {"name": "dns-tcp", "port": cfg.dns_port, "protocol": "TCP"},
        ],
    }


def create(call: Any, *args: Any) -> None:
    """Call a client ``create_*`` with a plain dict body; an existing object is fine."""
    try:
        call(*args)
    except ApiException as exc:
        if exc.status != 409:  # already there (a restarted node on the same etcd)
            raise


def apply(api: k8s_client.ApiClient, cfg: NodeConfig) -> None:
    """Create CoreDNS's RBAC, the kube-dns Service and its EndpointSlice."""
    rbac = k8s_client.RbacAuthorizationV1Api(api)
    role, binding = coredns_rbac()
    create(rbac.create_cluster_role, role)
    create(rbac.create_cluster_role_binding, binding)
    core = k8s_client.CoreV1Api(api)
    create(core.create_namespaced_service, "kube-system", kube_dns_service(cfg))
    discovery = k8s_client.DiscoveryV1Api(api)
    create(discovery.create_namespaced_endpoint_slice, "kube-system", kube_dns_endpoint_slice(cfg))
