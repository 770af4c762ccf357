"""The global controller: budgets -> coverage -> claims -> caps, on each budget's interval.

The slow timescale of seed 004, between the fast loop (every decision) and the meta loop: every
``intervalSeconds`` (2 minutes by default), and at once when a budget or the set of
applications it covers changes, each budget's policy turns its applications' claims into caps
that sum to at most the budget. The fast step clamps to the cap; the :mod:`.gate` orders and
admits the writes. Bad budgets are reported once per distinct problem and change nothing: the
last good spec stays in force, and a budget overlapping an older one is not enforced at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.appruntime import AppRuntime
from hrl_autoscaler.runtime.core.budget.claims import Allocation, BudgetLimit, Claim
from hrl_autoscaler.runtime.core.budget.policies import ArbitrationPolicy
from hrl_autoscaler.runtime.core.budget.spec import (
    BudgetKey,
    BudgetSpec,
    ParsedBudget,
    parse_budget,
)
from hrl_autoscaler.runtime.core.budget.status import budget_status, stored_caps
from hrl_autoscaler.runtime.core.ports import BudgetRef, BudgetSink, BudgetSource
from hrl_autoscaler.runtime.core.reporting import Reason, simple_event

log = logging.getLogger("hrl_autoscaler.budget")

PolicyFactory = Callable[[str], ArbitrationPolicy]


@dataclass(frozen=True, slots=True)
class BudgetView:
    """What the fast loop needs of an application's budget this cycle."""

    budget: BudgetRef
    limit: BudgetLimit
    cap: int
    gate_only: bool = False


@dataclass
class _Budget:
    parsed: ParsedBudget
    good: BudgetSpec | None = None
    policy: ArbitrationPolicy | None = None
    allocation: Allocation | None = None
    allocated_at: float | None = None
    covered: tuple[AppKey, ...] = ()
    wanted: dict[AppKey, int] = field(default_factory=dict)
    warned: dict[str, str] = field(default_factory=dict)
    """``reason:field`` -> the message last reported, so a problem is reported once."""
    ready: tuple[str, str, float] | None = None
    """The Ready condition's (status, reason) and when it last changed."""
    written: Mapping[str, Any] | None = None

    @property
    def ref(self) -> BudgetRef:
        return BudgetRef(self.parsed.key.namespace, self.parsed.key.name, self.parsed.uid)

    @property
    def order(self) -> tuple[str, str, str]:
        return (self.parsed.created, self.parsed.key.namespace, self.parsed.key.name)


class BudgetController:
    """Every ExecutorBudget the watch delivers, and the caps of the applications they cover.

    :meth:`upsert`/:meth:`remove`/:meth:`sync` are fed by the watch (any thread); :meth:`step`
    runs in the decision loop's thread.
    """

    def __init__(
        self,
        params: SimParams,
        sink: BudgetSink,
        policies: PolicyFactory,
        horizon_s: float,
        synced: bool = False,
    ) -> None:
        self.params = params
        self.sink = sink
        self.policies = policies
        self.horizon_extra_s = horizon_s
        """Added to each budget's interval: an executor granted now serves after start-up."""
        self.synced = synced
        """True once every existing budget is known (before that, scale-ups wait)."""
        self._lock = threading.Lock()
        self._budgets: dict[BudgetKey, _Budget] = {}
        self._list_error: str | None = None

    # -- fed by the watch --------------------------------------------------------------------

    def sync(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        """The full list (at start-up): budgets not in it are gone."""
        parsed = [parse_budget(b) for b in bodies]
        with self._lock:
            for gone in set(self._budgets) - {p.key for p in parsed}:
                del self._budgets[gone]
        for p in parsed:
            self._upsert(p)
        self.synced = True

    def ensure_synced(self, source: BudgetSource) -> None:
        """List the budgets once before any scale-up: until then one could exceed a budget the
        watch has not delivered yet. A failure is logged once per distinct error."""
        if self.synced:
            return
        try:
            bodies = source.list()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            if error != self._list_error:
                log.warning("ExecutorBudgets not listable (%s); scale-ups wait", error)
            self._list_error = error
            return
        if bodies is None:
            log.info("the ExecutorBudget CRD is not installed: no budgets")
        self.sync(bodies or [])
        log.info("listed %d ExecutorBudgets", len(bodies or []))

    def upsert(self, body: Mapping[str, Any]) -> None:
        self._upsert(parse_budget(body))

    def remove(self, key: BudgetKey) -> None:
        with self._lock:
            if self._budgets.pop(key, None) is not None:
                log.info("budget %s deleted: its applications are no longer capped", key)

    def _upsert(self, parsed: ParsedBudget) -> None:
        with self._lock:
            known = self._budgets.get(parsed.key)
            if known is None or known.parsed.uid != parsed.uid:
                known = _Budget(parsed)
                self._budgets[parsed.key] = known
                caps = stored_caps(parsed.status)
                if caps is not None:
                    known.allocation, known.allocated_at = caps
                    known.covered = tuple(sorted(known.allocation.caps))
                    log.info("budget %s: resuming from its stored allocation", parsed.key)
            known.parsed = parsed
            if parsed.spec is not None and parsed.spec != known.good:
                if known.good is None or parsed.spec.policy != known.good.policy:
                    known.policy = self.policies(parsed.spec.policy)
                resumed = known.good is None and _observed(parsed) == parsed.generation
                known.good = parsed.spec
                if not resumed:  # a changed budget is allocated at once
                    known.allocated_at = None

    # -- one cycle ---------------------------------------------------------------------------

    def step(self, runtimes: Sequence[AppRuntime], now: float) -> dict[AppKey, BudgetView]:
        """Allocate the budgets that are due; every covered application's view.

        The applications must be known first: the operator lists them before its first cycle
        (``handlers.prime``), or a restarted operator would see its budgets empty.
        """
        with self._lock:
            budgets = sorted(self._budgets.values(), key=lambda b: b.order)
        covered = self._coverage(budgets, runtimes, now)
        views: dict[AppKey, BudgetView] = {}
        for budget in budgets:
            apps = covered.get(budget.parsed.key)
            if apps is None:  # not enforced (invalid from the start, or overlapping)
                continue
            if budget.good is None:
                continue
            self._allocate_if_due(budget, apps, now)
            allocation = budget.allocation
            limit = BudgetLimit(budget.good.max_executors, budget.good.max_cost_per_hour)
            for runtime in apps:
                cap = None if allocation is None else allocation.caps.get(runtime.key)
                if cap is None:  # not allocated yet: keep what it has
                    cap = runtime.current_executors()
                views[runtime.key] = BudgetView(
                    budget.ref, limit, cap, allocation is not None and allocation.gate_only
                )
            self._write_status(budget, apps, now)
        return views

    def _coverage(
        self, budgets: Sequence[_Budget], runtimes: Sequence[AppRuntime], now: float
    ) -> dict[BudgetKey, list[AppRuntime]]:
        """Which budget owns each application: the oldest that matches it. A newer budget
        matching an owned application is not enforced (reported)."""
        for budget in budgets:
            self._report_invalid(budget, now)
        owner: dict[AppKey, _Budget] = {}
        enforced: dict[BudgetKey, list[AppRuntime]] = {}
        for budget in budgets:
            spec = budget.good
            if spec is None:
                continue
            key = budget.parsed.key
            mine = [
                r
                for r in runtimes
                if spec.covers_namespace(key.namespace, r.key.namespace)
                and spec.selector.matches(r.snapshot.labels)
            ]
            taken = [(r.key, owner[r.key]) for r in mine if r.key in owner]
            if taken:
                app, other = taken[0]
                self._warn(
                    budget,
                    Reason.BUDGET_OVERLAP,
                    application=str(app),
                    covered_by=str(other.parsed.key),
                    action="not enforced until no older budget covers its applications",
                )
                continue
            self._clear(budget, Reason.BUDGET_OVERLAP)
            for r in mine:
                owner[r.key] = budget
            enforced[key] = mine
            if not mine:
                self._warn(
                    budget,
                    Reason.BUDGET_EMPTY,
                    namespaces=",".join(spec.namespaces or (key.namespace,)),
                    selector=_selector_text(spec),
                    action="nothing to allocate; enabled applications it matches are capped",
                )
            else:
                self._clear(budget, Reason.BUDGET_EMPTY)
        return enforced

    def _allocate_if_due(self, budget: _Budget, apps: list[AppRuntime], now: float) -> None:
        spec = budget.good
        assert spec is not None
        assert budget.policy is not None
        keys = tuple(sorted(r.key for r in apps))
        due = (
            budget.allocated_at is None
            or now >= budget.allocated_at + spec.interval_seconds
            or keys != budget.covered
        )
        if not due:
            return
        limit = BudgetLimit(spec.max_executors, spec.max_cost_per_hour)
        horizon = spec.interval_seconds + self.horizon_extra_s
        claims = [claim_for(r, now, horizon, self.params) for r in apps]
        allocation = budget.policy.allocate(claims, limit)
        previous = budget.allocation
        budget.allocation, budget.allocated_at, budget.covered = allocation, now, keys
        budget.wanted = {c.key: c.wanted for c in claims}
        if not allocation.feasible:
            self._warn(
                budget,
                Reason.BUDGET_INFEASIBLE,
                limit=limit.describe(),
                minimums=str(sum(c.min_executors for c in claims)),
                action="every application capped at its minimum",
            )
        else:
            self._clear(budget, Reason.BUDGET_INFEASIBLE)
        if previous is None or dict(previous.caps) != dict(allocation.caps):
            caps = " ".join(f"{k}={v}" for k, v in sorted(allocation.caps.items()))
            log.info(
                "budget %s (%s, %s): caps %s",
                budget.parsed.key,
                spec.policy,
                limit.describe(),
                caps,
            )
            self.sink.event(
                budget.ref,
                simple_event(
                    Reason.BUDGET_ALLOCATED, policy=spec.policy, limit=limit.describe(), caps=caps
                ),
            )

    def _write_status(self, budget: _Budget, apps: list[AppRuntime], now: float) -> None:
        """Patch the status when it changed (the used executors move every cycle or two)."""
        problems = sorted(budget.warned.items())
        ready = ("True", "Allocated") if not problems else ("False", problems[0][0].split(":")[0])
        if budget.ready is None or budget.ready[:2] != ready:
            budget.ready = (*ready, now)
        status = budget_status(
            budget.parsed,
            budget.good,
            budget.allocation,
            budget.allocated_at,
            apps,
            budget.wanted,
            budget.ready,
            "; ".join(message for _, message in problems),
        )
        if status != budget.written:
            self.sink.status(budget.ref, status)
            budget.written = status

    # -- reporting ---------------------------------------------------------------------------

    def _report_invalid(self, budget: _Budget, now: float) -> None:
        errors = budget.parsed.errors
        self._clear(budget, Reason.BUDGET_INVALID, keep=[e.field for e in errors])
        if not errors:
            return
        kept = "the last good spec stays in force" if budget.good else "not enforced"
        for error in errors:
            self._warn(
                budget,
                Reason.BUDGET_INVALID,
                field=error.field,
                value=error.value,
                accepted=error.accepted,
                action=kept,
            )
        if budget.good is None:
            self._write_status(budget, [], now)

    def _warn(self, budget: _Budget, reason: Reason, **fields: str) -> None:
        """Report a problem once per distinct message (a bad budget repeats every cycle)."""
        event = simple_event(reason, **fields)
        slot = f"{reason.value}:{fields.get('field', '')}"
        if budget.warned.get(slot) == event.message:
            return
        budget.warned[slot] = event.message
        log.warning("budget %s: %s", budget.parsed.key, event.message)
        self.sink.event(budget.ref, event)

    def _clear(self, budget: _Budget, reason: Reason, keep: Sequence[str] = ()) -> None:
        prefix = reason.value + ":"
        gone = [k for k in budget.warned if k.startswith(prefix) and k[len(prefix) :] not in keep]
        for slot in gone:
            del budget.warned[slot]
        if gone and not keep:
            log.info("budget %s: %s resolved", budget.parsed.key, reason.value)


def claim_for(runtime: AppRuntime, now: float, horizon_s: float, params: SimParams) -> Claim:
    """One application's claim from what the loop keeps for it."""
    s = runtime.active_settings
    current = runtime.current_executors()
    rate = runtime.rate.executor_rate_eps
    forecast = runtime.load.forecast(now, horizon_s)
    if forecast is None:  # no metrics yet: claim what it has, at the utilisation DS2 aims for
        capacity = params.with_overrides(executor_rate_eps=rate).capacity_eps(current)
        load, sd, violations = 0.7 * capacity, 0.2 * capacity, 0.0
    else:
        load, sd, violations = forecast.mean_eps, forecast.sd_eps, forecast.violation_rate
    return Claim(
        key=runtime.key,
        min_executors=s.min_executors,
        max_executors=s.max_executors,
        current=current,
        wanted=runtime.wanted if runtime.wanted is not None else current,
        load_eps=load,
        load_sd_eps=sd,
        executor_rate_eps=rate,
        latency_slo_ms=s.latency_slo_ms,
        cost_weight=runtime.weights().alpha,
        priority=s.priority_weight,
        price_per_hour=s.cost_per_executor_hour,
        violation_rate=violations,
    )


def _observed(parsed: ParsedBudget) -> int | None:
    """The generation the stored status was written for (None without one)."""
    try:
        return int((parsed.status or {})["observedGeneration"])
    except (KeyError, TypeError, ValueError):
        return None


def _selector_text(spec: BudgetSpec) -> str:
    parts = [f"{k}={v}" for k, v in sorted(spec.selector.match_labels.items())]
    parts += [
        f"{r.key} {r.operator} ({','.join(r.values)})" if r.values else f"{r.key} {r.operator}"
        for r in spec.selector.match_expressions
    ]
    return ",".join(parts) or "(everything)"
