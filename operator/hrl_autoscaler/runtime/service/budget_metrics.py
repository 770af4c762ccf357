"""The ExecutorBudgets' metrics (``hrl_autoscaler_budget_*``), in the operator's registry.

A :class:`~hrl_autoscaler.runtime.core.ports.BudgetSink` fed with what the budget controller
writes (every status it writes, every application it limits), so the series say exactly what
``kubectl get executorbudgets`` says. The ``budget`` label is ``namespace/name`` of the
ExecutorBudget; per-application series carry ``namespace`` and ``application`` like every other
per-application series of the operator (the dashboard's variables select on them). As in
:mod:`.telemetry`, counters are created at 0 as soon as their label set is known, and the
series of an application that left a budget (or of a deleted budget) are removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.spec import BudgetKey
from hrl_autoscaler.runtime.core.ports import BudgetRef
from hrl_autoscaler.runtime.core.reporting import AppEvent

BUDGET = ["budget"]
BUDGET_APP = ["budget", "namespace", "application"]


def budget_label(budget: BudgetRef | BudgetKey) -> str:
    return f"{budget.namespace}/{budget.name}"


class BudgetMetrics:
    """Implements :class:`~hrl_autoscaler.runtime.core.ports.BudgetSink` (metrics only)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.limit = Gauge(
            "hrl_autoscaler_budget_limit_executors",
            "an ExecutorBudget's spec.maxExecutors in force (absent for a cost-only budget)",
            BUDGET,
            registry=r,
        )
        self.used = Gauge(
            "hrl_autoscaler_budget_used_executors",
            "executor targets in force of the applications a budget covers, summed",
            BUDGET,
            registry=r,
        )
        self.allocated = Gauge(
            "hrl_autoscaler_budget_allocated_executors",
            "the caps of a budget's last allocation, summed (at most its limit)",
            BUDGET,
            registry=r,
        )
        self.utilisation = Gauge(
            "hrl_autoscaler_budget_utilisation",
            "used over limit (the fuller of maxExecutors and maxCostPerHour; 1 = full)",
            BUDGET,
            registry=r,
        )
        self.cap = Gauge(
            "hrl_autoscaler_budget_cap_executors",
            "the most executors an application may have until its budget's next allocation",
            BUDGET_APP,
            registry=r,
        )
        self.index = Gauge(
            "hrl_autoscaler_budget_index",
            "whittle policies: the application's index at its cap (what one more executor is "
            "worth to it; the clearing index decides who gets the next)",
            BUDGET_APP,
            registry=r,
        )
        self.limited_total = Counter(
            "hrl_autoscaler_budget_limited",
            "decisions a budget cut (the application got fewer executors than it wanted; a "
            "BudgetLimited event); created at 0 for every application a budget allocates to",
            BUDGET_APP,
            registry=r,
        )
        self.exceedances = Counter(
            "hrl_autoscaler_budget_exceedances",
            "statuses written showing usedExecutors above limitExecutors (never expected: "
            "scale-downs to a smaller cap are written before scale-ups into the room they make)",
            BUDGET,
            registry=r,
        )
        self._apps: dict[str, set[tuple[str, str]]] = {}
        """budget -> the applications with series under it."""
        self._indexed: dict[str, set[tuple[str, str]]] = {}

    # -- BudgetSink ----------------------------------------------------------------------------

    def status(self, budget: BudgetRef, status: Mapping[str, Any]) -> None:
        b = budget_label(budget)
        self.exceedances.labels(b)
        _set(self.limit, b, status.get("limitExecutors"))
        _set(self.used, b, status.get("usedExecutors"))
        _set(self.allocated, b, status.get("allocatedExecutors"))
        _set(self.utilisation, b, status.get("utilisation"))
        used, limit = status.get("usedExecutors"), status.get("limitExecutors")
        if isinstance(used, int) and isinstance(limit, int) and used > limit:
            self.exceedances.labels(b).inc()
        rows = status.get("allocations")
        if not isinstance(rows, list):
            if "policy" not in status:  # invalid from the start: nothing allocated
                self._drop_apps(b, set())
            return
        seen: set[tuple[str, str]] = set()
        indexed: set[tuple[str, str]] = set()
        for row in rows:
            namespace, _, name = str(row.get("application", "")).partition("/")
            if not name:
                continue
            seen.add((namespace, name))
            self.cap.labels(b, namespace, name).set(float(row.get("cap", 0)))
            self.limited_total.labels(b, namespace, name)
            if row.get("index") is not None:
                self.index.labels(b, namespace, name).set(float(row["index"]))
                indexed.add((namespace, name))
        for app in self._indexed.get(b, set()) - indexed:
            _remove(self.index, b, *app)
        self._indexed[b] = indexed
        self._drop_apps(b, seen)

    def event(self, budget: BudgetRef, event: AppEvent) -> None:
        """Events are counted by the events themselves (``kubectl get events``)."""

    def limited(self, budget: BudgetRef, app: AppKey, wanted: int, got: int) -> None:
        b = budget_label(budget)
        self._apps.setdefault(b, set()).add((app.namespace, app.name))
        self.limited_total.labels(b, app.namespace, app.name).inc()

    # -- housekeeping --------------------------------------------------------------------------

    def forget(self, budget: BudgetRef | BudgetKey) -> None:
        """A deleted budget: none of its series remain."""
        b = budget_label(budget)
        for gauge in (self.limit, self.used, self.allocated, self.utilisation):
            _remove(gauge, b)
        _remove(self.exceedances, b)
        self._drop_apps(b, set())
        self._apps.pop(b, None)

    def _drop_apps(self, b: str, keep: set[tuple[str, str]]) -> None:
        for app in self._apps.get(b, set()) - keep:
            for metric in (self.cap, self.index, self.limited_total):
                _remove(metric, b, *app)
        for app in self._indexed.get(b, set()) - keep:
            _remove(self.index, b, *app)
        self._indexed[b] = self._indexed.get(b, set()) & keep
        self._apps[b] = set(keep)


def _set(gauge: Gauge, budget: str, value: Any) -> None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        gauge.labels(budget).set(float(value))
    else:
        _remove(gauge, budget)


def _remove(metric: Gauge | Counter, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
