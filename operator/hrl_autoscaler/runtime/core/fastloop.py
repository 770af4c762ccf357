"""The fast loop for one application: metrics -> the decision step -> record, events, intent.

The decision itself is :class:`~hrl_autoscaler.runtime.core.decision.DecisionStep` (shared with
evaluation and training); this module adds what a cluster needs around it: the capacity
estimate saved in the state, the meta window and the budget's load history fed, the Kubernetes
events for a fallback, an SLO-guard rescue or a budget limit, a recommendation in ``recommend``
mode, and in ``auto`` mode a pending scale that :meth:`FastLoop.actuate` writes once the cycle's
scale-downs are written (the budget gate's order).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hrl_autoscaler.runtime.core.adaptation import Adaptation
from hrl_autoscaler.runtime.core.application import AppSnapshot
from hrl_autoscaler.runtime.core.appruntime import AppRuntime
from hrl_autoscaler.runtime.core.budget.controller import BudgetView
from hrl_autoscaler.runtime.core.budget.gate import BudgetGate
from hrl_autoscaler.runtime.core.decision import Decision
from hrl_autoscaler.runtime.core.exclusion import effective_mode, report_pause
from hrl_autoscaler.runtime.core.inputmemory import checkpoint
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.ports import (
    BudgetRef,
    DecisionRecord,
    LoopContext,
    ScaleIntent,
)
from hrl_autoscaler.runtime.core.records import decision_id
from hrl_autoscaler.runtime.core.reporting import AppEvent, Reason, decision_event, simple_event
from hrl_autoscaler.runtime.core.sampling import AppSample, build_metrics
from hrl_autoscaler.runtime.core.sizing import DS2Settings
from hrl_autoscaler.runtime.core.weights import Weights

log = logging.getLogger("hrl_autoscaler.pipeline")


#: The backlog counts as load to be caught up within DS2's catch-up duration.
CATCH_UP_S = DS2Settings().catch_up_s


@dataclass(frozen=True)
class PendingScale:
    """A change decided in ``auto`` mode, written by :meth:`FastLoop.actuate`."""

    runtime: AppRuntime
    decision: Decision
    weights: Weights
    metrics: SystemMetrics

    @property
    def change(self) -> int:
        return self.decision.target - self.decision.current


@dataclass
class FastLoop:
    ctx: LoopContext
    on_patched: Callable[[AppSnapshot], None]
    """Use the patched object until the watch delivers it."""

    @property
    def adaptation(self) -> Adaptation:
        """Restart-time learning and ineffective-scaling reports (:mod:`.adaptation`)."""
        return Adaptation(self.ctx)

    def decide(
        self, runtime: AppRuntime, sample: AppSample, now: float, budget: BudgetView | None = None
    ) -> tuple[DecisionRecord, PendingScale | None]:
        """Decide (within the budget's cap); a change in ``auto`` mode comes back pending."""
        s = runtime.active_settings
        current = runtime.current_executors()
        started = time.perf_counter()
        metrics = build_metrics(sample, current, False, now)
        self.adaptation.observed(runtime, metrics.running_executors, now)
        weights = runtime.weights()
        step = runtime.decision_step
        cap = budget.cap if budget is not None and not budget.gate_only else None
        mode, excluded = effective_mode(self.ctx, runtime, now)
        decision = step.decide(
            metrics,
            weights,
            s.latency_slo_ms,
            commit=mode == "auto",
            cap=cap,
            pause=s.pause,
            objective=s.objective,
        )
        runtime.state.set_rate(runtime.rate.executor_rate_eps)
        checkpoint(step, runtime.state, now, self.ctx.settings)
        # a paused application demands what it is held at: a budget keeps no room for more
        held = decision.capped_from or decision.target
        runtime.wanted = decision.proposed if decision.paused is None else held
        self.adaptation.decided(runtime, decision)
        if not metrics.restarting:
            needed = metrics.input_rate_eps + metrics.backlog_events / CATCH_UP_S
            runtime.load.add(now, needed, metrics.latency_ms <= s.latency_slo_ms)
        if decision.capped_from is not None and budget is not None:
            self.budget_limited(
                runtime,
                budget.budget,
                decision.capped_from,
                decision.target,
                f"its cap under the budget is {budget.cap}",
            )
        elif decision.target <= current:
            runtime.budget_limited = None  # wants no more than it has: nothing is limited
        if s.weight_policy == "meta" and runtime.meta is not None:
            runtime.meta.add(metrics)
        self._report_transitions(runtime, metrics, decision)
        report_pause(self.ctx, runtime, decision)
        record = DecisionRecord(
            current,
            decision.target,
            decision.proposed,
            decision.controller,
            mode,
            time.perf_counter() - started,
            metrics,
            excluded=excluded is not None,
        )
        self.ctx.telemetry.decision(runtime.key, record)
        if not decision.changes:
            log.debug(
                "%s: hold at %d (%s proposed %d%s)",
                runtime.key,
                current,
                decision.controller,
                decision.proposed,
                f"; {'; '.join(decision.reasons)}" if decision.reasons else "",
            )
            return record, None
        if mode == "recommend":
            if excluded is not None:
                decision = replace(decision, reasons=(*decision.reasons, f"excluded: {excluded}"))
            event = self._event(runtime, decision, decision.target, weights, metrics, mode)
            if runtime.last_recommendation != decision.target:
                log.info(
                    "%s: recommend %d -> %d (%s)",
                    runtime.key,
                    current,
                    decision.target,
                    decision.controller,
                )
                self.ctx.events.emit(runtime.snapshot, event)
                remember_decision(runtime, now, event, self.ctx.settings.history_size)
            runtime.last_recommendation = decision.target
            return record, None
        return record, PendingScale(runtime, decision, weights, metrics)

    def _event(
        self,
        runtime: AppRuntime,
        decision: Decision,
        target: int,
        weights: Weights,
        metrics: SystemMetrics,
        mode: str | None = None,
    ) -> AppEvent:
        """The decision's event; ``mode`` when this cycle's differs from the settings' (an
        excluded period recommends)."""
        s = runtime.active_settings
        mode = mode or s.mode
        return decision_event(
            Reason.SCALING_DECISION if mode == "auto" else Reason.SCALING_RECOMMENDATION,
            decision.current,
            target,
            decision.proposed,
            decision.controller,
            mode,
            s.actuation,
            weights,
            metrics,
            decision.reasons,
        )

    def budget_limited(
        self, runtime: AppRuntime, budget: BudgetRef | None, wanted: int, got: int, why: str
    ) -> None:
        """Fewer executors than wanted because of a budget: one event per (wanted, got)."""
        if budget is None or runtime.budget_limited == (wanted, got):
            return
        runtime.budget_limited = (wanted, got)
        log.info(
            "%s: budget %s limits it to %d executors (wanted %d): %s",
            runtime.key,
            budget,
            got,
            wanted,
            why,
        )
        self.ctx.budget_sink.limited(budget, runtime.key, wanted, got)
        self.ctx.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.BUDGET_LIMITED, budget=str(budget), wanted=str(wanted), got=str(got), why=why
            ),
        )

    def _report_transitions(
        self, runtime: AppRuntime, metrics: SystemMetrics, decision: Decision
    ) -> None:
        if decision.fallback_started:
            self._report_fallback(runtime, metrics, decision)
        elif decision.fallback_ended:
            log.info("%s: observation back in the training range; the policy decides", runtime.key)
        if decision.guard_started:
            self._report_slo_guard(runtime, metrics, decision)
        elif decision.guard_ended and runtime.decision_step.slo_guard.stood_down:
            log.warning(
                "%s: latency %.0f ms is still above the %.0f ms SLO with the SLO guard's "
                "executors running and no backlog: more executors do not buy latency here (a "
                "batch floor above the SLO?); the guard stands down until a backlog builds up "
                "or latency is back within the SLO",
                runtime.key,
                metrics.latency_ms,
                runtime.active_settings.latency_slo_ms,
            )
        elif decision.guard_ended:
            log.info("%s: latency back within the SLO; the SLO guard lets go", runtime.key)

    def _report_fallback(
        self, runtime: AppRuntime, metrics: SystemMetrics, decision: Decision
    ) -> None:
        scale_eps = decision.scale.rate_scale_eps if decision.scale else float("nan")
        detail = {
            "input_rate": f"{metrics.input_rate_eps:.0f} eps vs capacity {scale_eps:.0f} eps",
            "executors": f"{metrics.executors} executors vs {self.ctx.params.max_executors}",
            "cpu_utilisation": f"{metrics.cpu_utilisation:.2f}",
            "memory_utilisation": f"{metrics.memory_utilisation:.2f}",
        }
        fields = ", ".join(decision.outside)
        self._fallback(
            runtime,
            f"observation outside the policy's training range ({fields}); DS2 decides",
            "ds2",
            ",".join(decision.outside),
            "; ".join(detail.get(f, f) for f in decision.outside),
        )

    def _report_slo_guard(
        self, runtime: AppRuntime, metrics: SystemMetrics, decision: Decision
    ) -> None:
        slo_ms = runtime.active_settings.latency_slo_ms
        guard = runtime.decision_step.slo_guard
        factor, breaches = guard.settings.latency_factor, guard.breaches
        who = "the calm rule" if decision.ruled_from is not None else "the policy"
        self._fallback(
            runtime,
            f"latency {metrics.latency_ms:.0f} ms above {factor:g}x the {slo_ms:.0f} ms SLO for "
            f"{breaches} decisions and {who} proposed {decision.unguarded} executors; "
            f"the SLO guard raises it to DS2's {decision.proposed}",
            "slo-guard",
            "latency_ms",
            f"latency {metrics.latency_ms:.0f} ms > {factor:g}x SLO {slo_ms:.0f} ms for "
            f"{breaches} decisions; {who.removeprefix('the ')} proposed {decision.unguarded}, "
            f"DS2 sizes {decision.proposed}",
        )

    def _fallback(
        self, runtime: AppRuntime, message: str, controller: str, fields: str, detail: str
    ) -> None:
        """Someone other than the policy decides: a warning, a metric and one event."""
        log.warning("%s: %s", runtime.key, message)
        self.ctx.telemetry.fallback(runtime.key)
        event = simple_event(Reason.FALLBACK, controller=controller, fields=fields, detail=detail)
        self.ctx.events.emit(runtime.snapshot, event)

    def actuate(self, pending: PendingScale, gate: BudgetGate, now: float) -> None:
        """Write a pending change, a scale-up only as far as the budget's headroom allows."""
        runtime, decision = pending.runtime, pending.decision
        s = runtime.active_settings
        current = decision.current
        admission = gate.admit(runtime, current, decision.target)
        target = admission.target
        if admission.reason is not None:
            self.budget_limited(
                runtime, admission.budget, decision.target, target, admission.reason
            )
            if target == current:
                runtime.decision_step.not_applied(decision)
                log.info(
                    "%s: scaling %d -> %d waits: %s",
                    runtime.key,
                    current,
                    decision.target,
                    admission.reason,
                )
                return
        event = self._event(runtime, decision, target, pending.weights, pending.metrics)
        intent = ScaleIntent(
            target,
            s.actuation,
            now,
            previous=current,
            controller=decision.controller,
            decision_id=decision_id(runtime.snapshot.uid, now, current, target),
        )
        result = self.ctx.actuator.scale(runtime.key, intent, runtime.precondition(current))
        if not result.applied:
            runtime.decision_step.not_applied(decision)
            if result.error:
                log.warning(
                    "%s: scaling %d -> %d failed: %s", runtime.key, current, target, result.detail
                )
                self.ctx.telemetry.actuation_error(runtime.key)
                failed = AppEvent(Reason.SCALING_FAILED, (*event.fields, ("error", result.detail)))
                self.ctx.events.emit(runtime.snapshot, failed)
            else:
                log.info(
                    "%s: scaling %d -> %d skipped: %s", runtime.key, current, target, result.detail
                )
            return
        gate.applied(runtime, current, target)
        self.adaptation.written(runtime, current, target, now)
        runtime.state.last_change_at = now
        runtime.state.last_target = target
        self.ctx.telemetry.scaled(runtime.key, current, target, s.actuation)
        if result.snapshot is not None:
            runtime.snapshot = result.snapshot
            self.on_patched(result.snapshot)
        log.info("%s: %s", runtime.key, event.message)
        self.ctx.events.emit(runtime.snapshot, event)
        remember_decision(runtime, now, event, self.ctx.settings.history_size, intent.decision_id)


def remember_decision(
    runtime: AppRuntime, now: float, event: AppEvent, keep: int, decided: str | None = None
) -> None:
    """Append the decision to the history; ``decided``: the id its scale record carries (a
    successor that finds the record but not the entry restores it under the same id)."""
    entry: dict[str, Any] = {"at": round(now, 3), "reason": event.reason.value}
    entry.update(dict(event.fields))
    if decided is not None:
        entry["id"] = decided
    runtime.state.remember("decisions", entry, keep)
