"""kopf's peering object, read by the decision loop (:mod:`hrl_autoscaler.runtime.core.peering`).

Cluster-wide operators share one ``ClusterKopfPeering``; an operator restricted to namespaces
has a ``KopfPeering`` in each. The object must exist for kopf to exchange keep-alives;
:meth:`PeeringReader.ensure` creates it when missing (the CRDs themselves come from
``manifests/peering.yaml``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.peering import may_act, parse_peers
from hrl_autoscaler.runtime.k8s.client import api_error, read_json

log = logging.getLogger("hrl_autoscaler.runtime.k8s.peering")

GROUP, VERSION = "kopf.dev", "v1"
CLUSTER_PLURAL, NAMESPACED_PLURAL = "clusterkopfpeerings", "kopfpeerings"


class PeeringReader:
    def __init__(
        self,
        api: k8s_client.ApiClient,
        name: str,
        identity: str,
        priority: int,
        namespaces: Sequence[str] = (),
        timeout_s: float = 5.0,
    ) -> None:
        self.objects = k8s_client.CustomObjectsApi(api)
        self.name = name
        self.identity = identity
        self.priority = priority
        self.namespaces = tuple(namespaces)
        self.timeout_s = timeout_s

    def _get(self, namespace: str | None) -> dict[str, Any]:
        if namespace is None:
            response = self.objects.get_cluster_custom_object(
                GROUP,
                VERSION,
                CLUSTER_PLURAL,
                self.name,
                _preload_content=False,
                _request_timeout=self.timeout_s,
            )
        else:
            response = self.objects.get_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                NAMESPACED_PLURAL,
                self.name,
                _preload_content=False,
                _request_timeout=self.timeout_s,
            )
        return read_json(response)

    def ensure(self) -> None:
        """Create the peering object(s) when missing; log (not raise) when that fails."""
        for namespace in self.namespaces or (None,):
            body: dict[str, Any] = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ClusterKopfPeering" if namespace is None else "KopfPeering",
                "metadata": {"name": self.name},
            }
            try:
                if namespace is None:
                    self.objects.create_cluster_custom_object(
                        GROUP, VERSION, CLUSTER_PLURAL, body, _preload_content=False
                    )
                else:
                    body["metadata"]["namespace"] = namespace
                    self.objects.create_namespaced_custom_object(
                        GROUP, VERSION, namespace, NAMESPACED_PLURAL, body, _preload_content=False
                    )
                log.info("created the peering object %s", self.name)
            except ApiException as exc:
                if exc.status != 409:
                    log.warning(
                        "cannot create the peering object %s: %s (apply manifests/peering.yaml)",
                        self.name,
                        api_error(exc),
                    )

    def may_act(self) -> tuple[bool, str]:
        """Whether this replica leads in every peering it belongs to."""
        now = datetime.now(UTC)
        for namespace in self.namespaces or (None,):
            try:
                status = self._get(namespace).get("status") or {}
            except ApiException as exc:
                return False, f"peering object {self.name} unreadable: {api_error(exc)}"
            except Exception as exc:
                return False, f"peering object {self.name} unreadable: {exc}"
            allowed, why = may_act(parse_peers(status), self.identity, self.priority, now)
            if not allowed:
                return False, why
        return True, f"{self.identity} leads (priority {self.priority})"
