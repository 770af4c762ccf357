"""ExecutorBudgets on the API server: listing them, writing their status, posting their events.

Implements :class:`~hrl_autoscaler.runtime.core.ports.BudgetSource` and
:class:`~hrl_autoscaler.runtime.core.ports.BudgetSink`. The decision loop calls the sink in its
own thread, so nothing here waits on the API server there: events go through the operator's
event poster, and status patches through a small writer thread that keeps only the newest
status of each budget. A failed patch is logged and retried (the newest status, after
:data:`RETRY_S`) until it is written, superseded, or the budget is gone (404), so a status that
an API hiccup lost does not stay stale until the allocation next changes. A restarted operator
resumes from the status (the caps in force), which is why it matters that it gets written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.spec import (
    BUDGET_API_VERSION,
    BUDGET_GROUP,
    BUDGET_KIND,
    BUDGET_PLURAL,
    BUDGET_VERSION,
)
from hrl_autoscaler.runtime.core.ports import BudgetRef, BudgetSink
from hrl_autoscaler.runtime.core.reporting import AppEvent
from hrl_autoscaler.runtime.k8s.client import MERGE_PATCH, api_error, read_json
from hrl_autoscaler.runtime.k8s.events import InvolvedObject, KubernetesEventSink

log = logging.getLogger("hrl_autoscaler.runtime.k8s.budgets")

RETRY_S = 5.0
"""Wait before retrying a status patch that failed (the newest status is the one retried)."""

STATUS_FIELDS = (
    "observedGeneration",
    "conditions",
    "policy",
    "applications",
    "usedExecutors",
    "costPerHour",
    "utilisation",
    "limitExecutors",
    "limitCostPerHour",
    "allocatedExecutors",
    "lastAllocationTime",
    "clearingIndex",
    "allocations",
)
"""Every field the operator writes into a status (a merge patch sets the absent ones to null,
so a field that no longer applies, e.g. ``limitCostPerHour`` after the limit was removed, goes)."""


def status_patch(status: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that makes the stored status equal ``status`` (for the fields the
    operator owns; anything else someone wrote there is left alone)."""
    body: dict[str, Any] = dict.fromkeys(STATUS_FIELDS)
    body.update(status)
    return {"status": body}


def budget_object(budget: BudgetRef) -> InvolvedObject:
    return InvolvedObject(
        BUDGET_API_VERSION, BUDGET_KIND, budget.namespace, budget.name, budget.uid
    )


class KubernetesBudgetSource:
    """Lists every ExecutorBudget the operator may see: cluster-wide, or in each of its
    namespaces when it is restricted to some (its RBAC grants no more)."""

    def __init__(
        self, api: k8s_client.ApiClient, namespaces: Sequence[str] = (), timeout_s: float = 10.0
    ) -> None:
        self.objects = k8s_client.CustomObjectsApi(api)
        self.namespaces = tuple(namespaces)
        self.timeout_s = timeout_s

    def list(self) -> list[Mapping[str, Any]] | None:
        """None when the CRD is not installed (404); raises any other API error."""
        items: list[Mapping[str, Any]] = []
        try:
            if not self.namespaces:
                response = self.objects.list_cluster_custom_object(
                    BUDGET_GROUP,
                    BUDGET_VERSION,
                    BUDGET_PLURAL,
                    _preload_content=False,
                    _request_timeout=self.timeout_s,
                )
                return list(read_json(response).get("items") or [])
            for namespace in self.namespaces:
                response = self.objects.list_namespaced_custom_object(
                    BUDGET_GROUP,
                    BUDGET_VERSION,
                    namespace,
                    BUDGET_PLURAL,
                    _preload_content=False,
                    _request_timeout=self.timeout_s,
                )
                items += read_json(response).get("items") or []
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise RuntimeError(f"listing ExecutorBudgets failed: {api_error(exc)}") from exc
        return items


class KubernetesBudgetSink:
    """Status patches (a writer thread), Events (the operator's poster) and the metrics."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        events: KubernetesEventSink,
        metrics: BudgetSink | None = None,
        timeout_s: float = 10.0,
        retry_s: float = RETRY_S,
    ) -> None:
        self.objects = k8s_client.CustomObjectsApi(api)
        self.events = events
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self._pending: dict[tuple[str, str], tuple[BudgetRef, dict[str, Any], float]] = {}
        """(namespace, name) -> the newest status not yet written, and when to try it."""
        self._busy = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="budget-status", daemon=True)
        self._thread.start()

    # -- BudgetSink ----------------------------------------------------------------------------

    def status(self, budget: BudgetRef, status: Mapping[str, Any]) -> None:
        if self.metrics is not None:
            self._observe(self.metrics.status, budget, status)
        with self._cond:
            self._pending[(budget.namespace, budget.name)] = (budget, status_patch(status), 0.0)
            self._cond.notify()

    def event(self, budget: BudgetRef, event: AppEvent) -> None:
        self.events.emit_about(budget_object(budget), event)
        if self.metrics is not None:
            self._observe(self.metrics.event, budget, event)

    def limited(self, budget: BudgetRef, app: AppKey, wanted: int, got: int) -> None:
        if self.metrics is not None:
            self._observe(self.metrics.limited, budget, app, wanted, got)

    @staticmethod
    def _observe(call: Any, *args: Any) -> None:
        try:
            call(*args)
        except Exception:  # metrics must never cost a decision
            log.exception("budget metrics failed")

    # -- the writer ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                item = self._next()
                if item is None:
                    return
                self._busy += 1
            try:
                ok = self._patch(*item)
            finally:
                with self._cond:
                    self._busy -= 1
                    budget, body = item
                    key = (budget.namespace, budget.name)
                    if not ok and key not in self._pending and not self._closed:
                        self._pending[key] = (budget, body, time.monotonic() + self.retry_s)
                    self._cond.notify_all()

    def _next(self) -> tuple[BudgetRef, dict[str, Any]] | None:
        """The next due status (waiting for one); None once closed. Holds the lock."""
        while True:
            if self._closed:
                return None
            now = time.monotonic()
            due = [k for k, (_, _, at) in self._pending.items() if at <= now]
            if due:
                budget, body, _ = self._pending.pop(due[0])
                return budget, body
            waits = [at - now for _, _, at in self._pending.values()]
            self._cond.wait(timeout=min(waits) if waits else None)

    def _patch(self, budget: BudgetRef, body: dict[str, Any]) -> bool:
        """True when written or no longer wanted (the budget is gone)."""
        try:
            self.objects.patch_namespaced_custom_object_status(
                BUDGET_GROUP,
                BUDGET_VERSION,
                budget.namespace,
                BUDGET_PLURAL,
                budget.name,
                body,
                _content_type=MERGE_PATCH,
                _preload_content=False,
                _request_timeout=self.timeout_s,
            )
            return True
        except ApiException as exc:
            if exc.status == 404:
                log.info("budget %s is gone: its status is not written", budget)
                return True
            log.warning(
                "status of budget %s not written (retried in %.0f s): %s",
                budget,
                self.retry_s,
                api_error(exc),
            )
        except Exception as exc:  # network errors
            log.warning(
                "status of budget %s not written (retried in %.0f s): %s", budget, self.retry_s, exc
            )
        return False

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every due status is written (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._busy or any(at <= time.monotonic() for _, _, at in self._pending.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(timeout=min(left, 0.1))
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is due (up to ``timeout_s``), then stop the thread."""
        self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=1.0)
