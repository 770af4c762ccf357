"""Credentials for Spark's own Kubernetes client (fabric8) when it runs outside the cluster.

``spark-submit --deploy-mode cluster`` (the submission role) and a client-mode driver here (the
calibration's executor pods) both talk to the API server with fabric8, which cannot read every
kubeconfig: the local control plane's client keys are EC (P-256), which fabric8's PEM reader
refuses. So, as a CI system would, they authenticate with a bearer token of a service account
of their own (``hrl-spark-submitter``, bound to exactly what Spark creates: pods, their services,
config maps and volume claims) and the cluster's CA, both written to files that Spark's
``spark.kubernetes.authenticate.*`` settings name. The token comes from the TokenRequest API:
short-lived, never stored in the cluster.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

SUBMITTER = "hrl-spark-submitter"
SUBMITTER_NAMESPACE = "kube-system"
#: Two hours: a calibration run or a test; the submission role asks for a new one per submission.
TOKEN_TTL_S = 7200
#: What Spark's client creates and watches for a driver (cluster mode) or executors (client mode).
RULES = [
    k8s_client.V1PolicyRule(
        api_groups=[""],
        resources=["pods", "services", "configmaps", "persistentvolumeclaims"],
        verbs=["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
    )
]


@dataclass(frozen=True)
class SparkClientAuth:
    """The API server, its CA and a token file, as Spark's settings name them."""

    server: str
    ca_cert: Path
    token_file: Path

    def submission_confs(self) -> dict[str, str]:
        """For ``spark-submit --deploy-mode cluster``: the client that creates the driver."""
        prefix = "spark.kubernetes.authenticate.submission"
        return {
            f"{prefix}.caCertFile": str(self.ca_cert),
            f"{prefix}.oauthTokenFile": str(self.token_file),
        }

    def client_mode_confs(self) -> dict[str, str]:
        """For a driver in this process (client mode): the client that creates executors."""
        prefix = "spark.kubernetes.authenticate"
        return {
            f"{prefix}.caCertFile": str(self.ca_cert),
            f"{prefix}.oauthTokenFile": str(self.token_file),
        }


def current_cluster(kubeconfig: Path) -> dict[str, str]:
    """The current context's ``cluster`` entry of ``kubeconfig`` (server, CA)."""
    try:
        config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"--kubeconfig {kubeconfig}: cannot read it: {exc}") from None
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
    context = contexts.get(config.get("current-context", ""))
    if context is None or context.get("cluster") not in clusters:
        raise ValueError(f"--kubeconfig {kubeconfig}: no current-context with a known cluster")
    return dict(clusters[context["cluster"]])


def _ensure(call: object, *args: object) -> None:
    try:
        call(*args)  # type: ignore[operator]
    except ApiException as exc:
        if exc.status != 409:  # already there
            raise


def ensure_submitter(api: k8s_client.ApiClient) -> None:
    """The submitter's service account, ClusterRole and binding (idempotent)."""
    core = k8s_client.CoreV1Api(api)
    rbac = k8s_client.RbacAuthorizationV1Api(api)
    meta = k8s_client.V1ObjectMeta(name=SUBMITTER)
    _ensure(
        core.create_namespaced_service_account,
        SUBMITTER_NAMESPACE,
        k8s_client.V1ServiceAccount(metadata=meta),
    )
    _ensure(rbac.create_cluster_role, k8s_client.V1ClusterRole(metadata=meta, rules=RULES))
    _ensure(
        rbac.create_cluster_role_binding,
        k8s_client.V1ClusterRoleBinding(
            metadata=meta,
            role_ref=k8s_client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=SUBMITTER
            ),
            subjects=[
                k8s_client.RbacV1Subject(
                    kind="ServiceAccount", name=SUBMITTER, namespace=SUBMITTER_NAMESPACE
                )
            ],
        ),
    )


def mint_auth(
    api: k8s_client.ApiClient, kubeconfig: Path, directory: Path, ttl_s: int = TOKEN_TTL_S
) -> SparkClientAuth:
    """A fresh token of the submitter (created first when missing) and the cluster's CA, as
    files in ``directory``; ``api`` is an administrator's client for ``kubeconfig``."""
    cluster = current_cluster(kubeconfig)
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert = directory / "ca.crt"
    if cluster.get("certificate-authority-data"):
        ca_cert.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    elif cluster.get("certificate-authority"):
        ca_cert.write_bytes(Path(cluster["certificate-authority"]).read_bytes())
    else:
        raise ValueError(f"--kubeconfig {kubeconfig}: the cluster names no certificate authority")
    ensure_submitter(api)
    request = k8s_client.AuthenticationV1TokenRequest(
        spec=k8s_client.V1TokenRequestSpec(audiences=[], expiration_seconds=ttl_s)
    )
    response = k8s_client.CoreV1Api(api).create_namespaced_service_account_token(
        SUBMITTER, SUBMITTER_NAMESPACE, request
    )
    token = response.status.token if response.status is not None else None
    if not token:
        raise ValueError(f"the API server issued no token for {SUBMITTER_NAMESPACE}/{SUBMITTER}")
    token_file = directory / "token"
    token_file.touch(mode=0o600)
    token_file.write_text(token)
    return SparkClientAuth(str(cluster["server"]), ca_cert, token_file)


__all__ = ["SUBMITTER", "SparkClientAuth", "current_cluster", "ensure_submitter", "mint_auth"]
