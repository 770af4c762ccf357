"""An ExecutorBudget's ``status``: what ``kubectl get/describe executorbudgets`` shows, and
what an operator restart resumes from."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.appruntime import AppRuntime
from hrl_autoscaler.runtime.core.budget.claims import Allocation
from hrl_autoscaler.runtime.core.budget.spec import BudgetSpec, ParsedBudget


def timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: Any) -> float | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def budget_status(
    parsed: ParsedBudget,
    spec: BudgetSpec | None,
    allocation: Allocation | None,
    allocated_at: float | None,
    apps: Sequence[AppRuntime],
    wanted: Mapping[AppKey, int],
    ready: tuple[str, str, float] | None,
    problems: str,
) -> dict[str, Any]:
    """The status subresource's content (deterministic: compared to skip unchanged writes)."""
    status: dict[str, Any] = {"observedGeneration": parsed.generation}
    if ready is not None:
        state, reason, since = ready
        status["conditions"] = [
            {
                "type": "Ready",
                "status": state,
                "reason": reason,
                "message": problems or "the caps below are in force",
                "lastTransitionTime": timestamp(since),
            }
        ]
    if spec is None:
        return status
    used = sum(r.current_executors() for r in apps)
    cost = sum(r.current_executors() * r.active_settings.cost_per_executor_hour for r in apps)
    limits = [
        u
        for u in (
            used / spec.max_executors if spec.max_executors else None,
            cost / spec.max_cost_per_hour if spec.max_cost_per_hour else None,
        )
        if u is not None
    ]
    status.update(
        policy=spec.policy,
        applications=len(apps),
        usedExecutors=used,
        costPerHour=round(cost, 4),
        utilisation=round(max(limits), 4) if limits else 0.0,
    )
    if spec.max_executors is not None:
        status["limitExecutors"] = spec.max_executors
    if spec.max_cost_per_hour is not None:
        status["limitCostPerHour"] = spec.max_cost_per_hour
    if allocation is None or allocated_at is None:
        return status
    status["allocatedExecutors"] = allocation.total()
    status["lastAllocationTime"] = timestamp(allocated_at)
    if allocation.clearing_index is not None:
        status["clearingIndex"] = round(allocation.clearing_index, 6)
    current = {r.key: r.current_executors() for r in apps}
    status["allocations"] = [
        {
            "application": str(key),
            "cap": cap,
            "executors": current.get(key, 0),
            "wanted": wanted.get(key, current.get(key, 0)),
            **_index(allocation.index.get(key)),
        }
        for key, cap in sorted(allocation.caps.items())
    ]
    return status


def _index(value: float | None) -> dict[str, float]:
    if value is None or not math.isfinite(value):
        return {}
    return {"index": round(value, 6)}


def stored_caps(status: Mapping[str, Any] | None) -> tuple[Allocation, float] | None:
    """The allocation a previous operator wrote (None when there is none or it is unreadable):
    a restarted operator keeps enforcing it until the budget is next due."""
    if not status:
        return None
    at = parse_timestamp(status.get("lastAllocationTime"))
    rows = status.get("allocations")
    if at is None or not isinstance(rows, list):
        return None
    caps: dict[AppKey, int] = {}
    for row in rows:
        try:
            namespace, name = str(row["application"]).split("/", 1)
            caps[AppKey(namespace, name)] = int(row["cap"])
        except (KeyError, TypeError, ValueError):
            return None
    gate_only = status.get("policy") == "first-come"
    return Allocation(caps, gate_only=gate_only), at
