"""The pods of one submitted SparkApplication, as a user would look at them.

Tests and tools that watch an application the submission role started ask the same three
questions: which pod is the driver (a resubmission leaves the old one terminating), how many
executor pods of an application id are Running, and what the driver last logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.tools.devenv.sparkop.spec import APP_NAME_LABEL
from hrl_autoscaler.tools.devenv.sparkop.status import APP_ID_LABEL, ROLE_LABEL


def _live(pod: k8s_client.V1Pod) -> bool:
    return pod.metadata is not None and pod.metadata.deletion_timestamp is None


def _running(pod: k8s_client.V1Pod) -> bool:
    return _live(pod) and pod.status is not None and pod.status.phase == "Running"


@dataclass(frozen=True)
class ApplicationPods:
    """The driver and executor pods of the SparkApplication ``namespace/name``."""

    core: k8s_client.CoreV1Api
    namespace: str
    name: str

    def driver(self) -> k8s_client.V1Pod | None:
        """The live driver pod (not one being deleted), or None."""
        selector = f"{APP_NAME_LABEL}={self.name},{ROLE_LABEL}=driver"
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        live = [p for p in pods if _live(p)]
        return live[0] if live else None

    def running_executors(self, app_id: str) -> int:
        """Executor pods of ``app_id`` that are Running and not being deleted."""
        selector = f"{APP_ID_LABEL}={app_id},{ROLE_LABEL}=executor"
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        return sum(1 for p in pods if _running(p))

    def driver_log(self, lines: int = 60) -> str:
        """The driver's last ``lines`` log lines, or why there are none."""
        driver = self.driver()
        if driver is None or driver.metadata is None or not driver.metadata.name:
            return "(no driver pod)"
        name = str(driver.metadata.name)
        try:
            return str(self.core.read_namespaced_pod_log(name, self.namespace, tail_lines=lines))
        except ApiException as exc:
            return f"(no log of {name}: {exc.status} {exc.reason})"


__all__ = ["ApplicationPods"]
