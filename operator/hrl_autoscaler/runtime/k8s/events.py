"""Kubernetes Events on SparkApplications, posted from a background thread.

Posting takes a round trip per event; with hundreds of applications a cycle must not wait for
them, so :meth:`KubernetesEventSink.emit` only queues and one thread posts in order. A full
queue drops the event (counted, and logged) rather than slowing decisions down.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.application import API_VERSION, KIND, AppSnapshot
from hrl_autoscaler.runtime.core.reporting import AppEvent
from hrl_autoscaler.runtime.k8s.client import api_error

log = logging.getLogger("hrl_autoscaler.runtime.k8s.events")

COMPONENT = "hrl-autoscaler"
MAX_MESSAGE = 1024
QUEUE_SIZE = 10_000


def event_body(app: AppSnapshot, event: AppEvent, instance: str, now: datetime) -> dict[str, Any]:
    """A core/v1 Event about ``app`` (what ``kubectl describe sparkapp`` shows)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    message = event.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{app.key.name}.", "namespace": app.key.namespace},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": app.key.name,
            "namespace": app.key.namespace,
            "uid": app.uid,
            "resourceVersion": app.resource_version,
        },
        "reason": event.reason.value,
        "message": message,
        "type": event.type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class KubernetesEventSink:
    """Implements :class:`hrl_autoscaler.runtime.core.ports.EventSink`."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        instance: str,
        on_drop: Callable[[], None] | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.core = k8s_client.CoreV1Api(api)
        self.instance = instance
        self.on_drop = on_drop
        self.timeout_s = timeout_s
        self._queue: queue.Queue[tuple[AppSnapshot, AppEvent] | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._run, name="event-poster", daemon=True)
        self._thread.start()

    def emit(self, app: AppSnapshot, event: AppEvent) -> None:
        try:
            self._queue.put_nowait((app, event))
        except queue.Full:
            log.warning("event queue full: dropped %s for %s", event.reason.value, app.key)
            if self.on_drop is not None:
                self.on_drop()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._post(*item)
            finally:
                self._queue.task_done()

    def _post(self, app: AppSnapshot, event: AppEvent) -> None:
        body: Any = event_body(app, event, self.instance, datetime.now(UTC))
        try:
            self.core.create_namespaced_event(
                app.key.namespace, body, _preload_content=False, _request_timeout=self.timeout_s
            )
        except ApiException as exc:
            log.warning(
                "event %s on %s not posted: %s", event.reason.value, app.key, api_error(exc)
            )
        except Exception as exc:  # network errors: the decision stands, the event is lost
            log.warning("event %s on %s not posted: %s", event.reason.value, app.key, exc)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event is posted (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks

    def close(self, timeout_s: float = 10.0) -> None:
        """Post what is queued (up to ``timeout_s``), then stop the thread."""
        self.flush(timeout_s)
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            return
        self._thread.join(timeout=1.0)
