"""The local kube-apiserver is real: stamped version, readiness, RBAC in force."""

from __future__ import annotations

import ssl

import httpx
import pytest
from kubernetes import client as k8s_client

from hrl_autoscaler.tools.devenv.binaries import KUBERNETES_VERSION
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = [pytest.mark.e2e, pytest.mark.localcp]


def test_version_reports_the_stamped_release(devenv: DevEnvHandle) -> None:
    info = k8s_client.VersionApi(devenv.api_client).get_code()
    assert info.git_version == KUBERNETES_VERSION
    major, minor = KUBERNETES_VERSION[1:].split(".")[:2]
    assert (info.major, info.minor) == (major, minor)


def test_readyz_and_livez_answer_ok(devenv: DevEnvHandle) -> None:
    cp = devenv.env.control_plane
    assert cp is not None
    with httpx.Client(verify=cp.ssl_context(), timeout=5) as http:
        for path in ("/readyz", "/livez"):
            response = http.get(f"{cp.url}{path}")
            assert response.status_code == 200, (path, response.text)
            assert response.text == "ok"


def test_rbac_is_enforced_for_anonymous_users(devenv: DevEnvHandle) -> None:
    """The admin (system:masters) may list namespaces; an anonymous client may not."""
    namespaces = k8s_client.CoreV1Api(devenv.api_client).list_namespace().items
    names = [ns.metadata.name for ns in namespaces if ns.metadata]
    assert {"default", "kube-system"} <= set(names)
    cp = devenv.env.control_plane
    assert cp is not None
    assert cp.certs is not None
    trust_only = ssl.create_default_context(cafile=str(cp.certs.ca_cert))
    with httpx.Client(verify=trust_only, timeout=5) as anonymous:
        response = anonymous.get(f"{cp.url}/api/v1/namespaces")
    assert response.status_code == 403
    assert "system:anonymous" in response.text


def test_kubeconfig_is_self_contained(devenv: DevEnvHandle) -> None:
    """The kubeconfig embeds its credentials, so it works when copied elsewhere."""
    text = devenv.kubeconfig.read_text()
    assert "certificate-authority-data" in text
    assert "client-key-data" in text
    assert devenv.env.api_url in text
