"""From the raw objects to one :class:`~.model.Explanation` (no API calls: tests feed dicts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hrl_autoscaler.runtime.core.annotations import target_annotation
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.tools.explain import history, provenance
from hrl_autoscaler.tools.explain.gather import Gathered
from hrl_autoscaler.tools.explain.model import AppFacts, BudgetShare, Explanation
from hrl_autoscaler.tools.explain.opconfig import OperatorDefaults


def load_state(
    text: str | None, app_uid: str, owner_uid: str | None, notes: list[str]
) -> AppState | None:
    """The stored state, when there is one and it is this application's (as the operator
    decides: a state left by a deleted namesake is not resumed)."""
    if text is None:
        notes.append("no state ConfigMap yet: the operator has made no decision to remember")
        return None
    try:
        state = AppState.from_json(text)
    except ValueError as exc:
        notes.append(f"the state ConfigMap is unusable ({exc}); the operator starts afresh")
        return None
    uid = state.app_uid or owner_uid
    if uid and app_uid and uid != app_uid:
        notes.append("the state ConfigMap belongs to a deleted namesake; it is not resumed")
        return None
    return state


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def budget_share(budgets: Sequence[Mapping[str, Any]], key: str) -> BudgetShare | None:
    """The ExecutorBudget whose status allocates to ``key`` (``namespace/name``)."""
    for budget in budgets:
        status = budget.get("status") or {}
        for row in status.get("allocations") or []:
            if row.get("application") != key:
                continue
            meta = budget.get("metadata") or {}
            ready = next(
                (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None
            )
            return BudgetShare(
                budget=f"{meta.get('namespace')}/{meta.get('name')}",
                policy=str(status.get("policy") or (budget.get("spec") or {}).get("policy", "")),
                cap=_int(row.get("cap")),
                executors=_int(row.get("executors")),
                wanted=_int(row.get("wanted")),
                index=_float(row.get("index")),
                limit_executors=_int(status.get("limitExecutors")),
                limit_cost_per_hour=_float(status.get("limitCostPerHour")),
                ready=(f"{ready.get('status')} ({ready.get('reason')})" if ready else "unknown"),
            )
    return None


def explain(found: Gathered, operator: OperatorDefaults) -> Explanation:
    """The explanation of the gathered application under the operator's defaults."""
    notes = list(found.notes)
    meta = found.app.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    uid = str(meta.get("uid") or "")
    annotations: dict[str, str] = dict(meta.get("annotations") or {})
    state = load_state(found.state_json, uid, found.state_owner_uid, notes)
    resolution, last_good = provenance.resolve(
        annotations, operator, state.last_good_settings if state else None
    )
    settings = resolution.settings
    applied_meta = any(str(m.get("applied")) == "true" for m in (state.meta if state else []))
    meta_weights = settings.weight_policy == "meta" and settings.mode == "auto" and applied_meta
    spec_executors = ((found.app.get("spec") or {}).get("executor") or {}).get("instances")
    app = AppFacts(
        namespace=namespace,
        name=name,
        uid=uid,
        state=str(((found.app.get("status") or {}).get("applicationState") or {}).get("state", "")),
        spec_executors=int(spec_executors or 1),
        target_executors=target_annotation(annotations),
        last_change_at=state.last_change_at if state else None,
        last_target=state.last_target if state else None,
        executor_rate_eps=state.executor_rate_eps if state else None,
        input_history=len(state.inputs) if state else 0,
        input_saved_at=state.inputs_at if state else None,
        input_peak_eps=max((r for _, r in state.input_peaks), default=None) if state else None,
        calm_since=state.calm_since if state else None,
    )
    events = [history.event_row(e) for e in found.events]
    decision_events, holds, fallbacks, others = history.split_events(events)
    return Explanation(
        app=app,
        operator_config=operator.source,
        settings=provenance.setting_rows(
            annotations, operator, resolution, last_good, meta_weights
        ),
        rejected=provenance.rejected_rows(resolution, last_good, annotations),
        weights=provenance.weights_in_force(
            settings, state.weights if state else None, meta_weights
        ),
        decisions=tuple(history.decisions(state.decisions if state else [], decision_events)),
        weights_history=tuple(history.meta_updates(state.meta if state else [])),
        holds=tuple(holds),
        fallbacks=tuple(fallbacks),
        other_events=tuple(others),
        budget=budget_share(found.budgets, f"{namespace}/{name}"),
        notes=tuple(notes),
    )
