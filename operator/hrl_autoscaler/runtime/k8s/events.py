"""Kubernetes Events on SparkApplications and ExecutorBudgets, posted from a background thread.

Posting takes a round trip per event; with hundreds of applications a cycle must not wait for
them, so :meth:`KubernetesEventSink.emit` (and :meth:`~KubernetesEventSink.emit_about`, for any
other object such as an ExecutorBudget) only queues and one thread posts in order. A full queue
drops the event (counted, and logged) rather than slowing decisions down.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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
#: The API server's limit on ``reportingInstance`` and ``action`` once ``eventTime`` is set.
MAX_REPORTING_FIELD = 128
QUEUE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class InvolvedObject:
    """The object an Event is about (what ``kubectl describe`` lists it under)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str
    resource_version: str | None = None

    @classmethod
    def of_app(cls, app: AppSnapshot) -> InvolvedObject:
        return cls(
            API_VERSION, KIND, app.key.namespace, app.key.name, app.uid, app.resource_version
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def object_event_body(
    obj: InvolvedObject, event: AppEvent, instance: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about ``obj``.

    ``firstTimestamp``/``lastTimestamp`` have whole seconds, and two decisions a second apart
    (a scale-up and its correction on fast load) would tie; ``eventTime`` (microseconds) keeps
    their order for ``kubectl get events --sort-by=.eventTime``, ``explain`` and the tests. The
    API server then also requires ``action`` and ``reportingInstance`` (at most 128 characters).
    """
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    message = event.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    involved: dict[str, Any] = {
        "apiVersion": obj.api_version,
        "kind": obj.kind,
        "name": obj.name,
        "namespace": obj.namespace,
        "uid": obj.uid,
    }
    if obj.resource_version is not None:
        involved["resourceVersion"] = obj.resource_version
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{obj.name}.", "namespace": obj.namespace},
        "involvedObject": involved,
        "reason": event.reason.value,
        "message": message,
        "type": event.type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance[:MAX_REPORTING_FIELD],
        "action": event.reason.value[:MAX_REPORTING_FIELD],
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def post_event(
    api: k8s_client.ApiClient, namespace: str, body: dict[str, Any], timeout_s: float
) -> None:
    """POST ``body`` to the namespace's core/v1 events as it is.

    ``CoreV1Api.create_namespaced_event`` first parses the body into its ``CoreV1Event`` model
    and writes ``eventTime`` back with ``datetime.isoformat``, which drops the fraction when the
    microseconds are zero; the API server then refuses the Event (a MicroTime needs six digits),
    about once a million events. The body here is plain JSON already, so it goes out unparsed.
    Raises :class:`ApiException` on any status outside 2xx.
    """
    method, url, headers, payload, post_params = api.param_serialize(
        method="POST",
        resource_path="/api/v1/namespaces/{namespace}/events",
        path_params={"namespace": namespace},
        header_params={"Accept": "application/json", "Content-Type": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method, url, headers, payload, post_params, timeout_s)
    data = response.read()
    if not 200 <= response.status <= 299:
        text = data.decode("utf-8", "replace") if data else None
        raise ApiException.from_response(http_resp=response, body=text, data=None)


def event_body(app: AppSnapshot, event: AppEvent, instance: str, now: datetime) -> dict[str, Any]:
    """A core/v1 Event about ``app`` (what ``kubectl describe sparkapp`` shows)."""
    return object_event_body(InvolvedObject.of_app(app), event, instance, now)


class KubernetesEventSink:
    """Implements :class:`hrl_autoscaler.runtime.core.ports.EventSink`; :meth:`emit_about`
    posts about any other object through the same queue and thread."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        instance: str,
        on_drop: Callable[[], None] | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.api = api
        self.instance = instance
        self.on_drop = on_drop
        self.timeout_s = timeout_s
        self._queue: queue.Queue[tuple[InvolvedObject, AppEvent] | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._run, name="event-poster", daemon=True)
        self._thread.start()

    def emit(self, app: AppSnapshot, event: AppEvent) -> None:
        self.emit_about(InvolvedObject.of_app(app), event)

    def emit_about(self, obj: InvolvedObject, event: AppEvent) -> None:
        try:
            self._queue.put_nowait((obj, event))
        except queue.Full:
            log.warning("event queue full: dropped %s for %s", event.reason.value, obj)
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

    def _post(self, obj: InvolvedObject, event: AppEvent) -> None:
        body = object_event_body(obj, event, self.instance, datetime.now(UTC))
        try:
            post_event(self.api, obj.namespace, body, self.timeout_s)
        except ApiException as exc:
            log.warning("event %s on %s not posted: %s", event.reason.value, obj, api_error(exc))
        except Exception as exc:  # network errors: the decision stands, the event is lost
            log.warning("event %s on %s not posted: %s", event.reason.value, obj, exc)

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
