"""The fast loop for one application: metrics -> the decision step -> record, events, intent.

The decision itself is :class:`~hrl_autoscaler.runtime.core.decision.DecisionStep` (shared with
evaluation and training); this module adds what a cluster needs around it: the capacity
estimate saved in the state, the meta window fed, the Kubernetes events for a fallback or an
SLO-guard rescue, a recommendation in ``recommend`` mode, and the scaling intent written in
``auto`` mode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hrl_autoscaler.runtime.core.application import AppSnapshot
from hrl_autoscaler.runtime.core.appruntime import AppRuntime
from hrl_autoscaler.runtime.core.decision import Decision
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.ports import (
    DecisionRecord,
    LoopContext,
    ScaleIntent,
)
from hrl_autoscaler.runtime.core.reporting import AppEvent, Reason, decision_event, simple_event
from hrl_autoscaler.runtime.core.sampling import AppSample, build_metrics

log = logging.getLogger("hrl_autoscaler.pipeline")


@dataclass
class FastLoop:
    ctx: LoopContext
    on_patched: Callable[[AppSnapshot], None]
    """Use the patched object until the watch delivers it."""

    def decide(self, runtime: AppRuntime, sample: AppSample, now: float) -> DecisionRecord:
        s = runtime.active_settings
        current = runtime.current_executors()
        started = time.perf_counter()
        metrics = build_metrics(sample, current, False, now)
        weights = runtime.weights()
        step = runtime.decision_step
        decision = step.decide(metrics, weights, s.latency_slo_ms, commit=s.mode == "auto")
        runtime.state.set_rate(runtime.rate.executor_rate_eps)
        if s.weight_policy == "meta" and runtime.meta is not None:
            runtime.meta.add(metrics)
        self._report_transitions(runtime, metrics, decision)
        record = DecisionRecord(
            current,
            decision.target,
            decision.proposed,
            decision.controller,
            s.mode,
            time.perf_counter() - started,
            metrics,
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
            return record
        event = decision_event(
            Reason.SCALING_DECISION if s.mode == "auto" else Reason.SCALING_RECOMMENDATION,
            current,
            decision.target,
            decision.proposed,
            decision.controller,
            s.mode,
            s.actuation,
            weights,
            metrics,
            decision.reasons,
        )
        if s.mode == "recommend":
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
            return record
        self._actuate(runtime, decision, event, now)
        return record

    def _report_transitions(
        self, runtime: AppRuntime, metrics: SystemMetrics, decision: Decision
    ) -> None:
        if decision.fallback_started:
            self._report_fallback(runtime, metrics, decision)
        elif decision.fallback_ended:
            log.info("%s: observation back in the training range; the policy decides", runtime.key)
        if decision.guard_started:
            self._report_slo_guard(runtime, metrics, decision)
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
        self._fallback(
            runtime,
            f"latency {metrics.latency_ms:.0f} ms above {factor:g}x the {slo_ms:.0f} ms SLO for "
            f"{breaches} decisions and the policy proposed {decision.unguarded} executors; "
            f"the SLO guard raises it to DS2's {decision.proposed}",
            "slo-guard",
            "latency_ms",
            f"latency {metrics.latency_ms:.0f} ms > {factor:g}x SLO {slo_ms:.0f} ms for "
            f"{breaches} decisions; policy proposed {decision.unguarded}, "
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

    def _actuate(
        self, runtime: AppRuntime, decision: Decision, event: AppEvent, now: float
    ) -> None:
        s = runtime.active_settings
        current, target = decision.current, decision.target
        result = self.ctx.actuator.scale(
            runtime.key, ScaleIntent(target, s.actuation, now), runtime.precondition(current)
        )
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
        runtime.state.last_change_at = now
        runtime.state.last_target = target
        self.ctx.telemetry.scaled(runtime.key, current, target, s.actuation)
        if result.snapshot is not None:
            runtime.snapshot = result.snapshot
            self.on_patched(result.snapshot)
        log.info("%s: %s", runtime.key, event.message)
        self.ctx.events.emit(runtime.snapshot, event)
        remember_decision(runtime, now, event, self.ctx.settings.history_size)


def remember_decision(runtime: AppRuntime, now: float, event: AppEvent, keep: int) -> None:
    entry: dict[str, Any] = {"at": round(now, 3), "reason": event.reason.value}
    entry.update(dict(event.fields))
    runtime.state.remember("decisions", entry, keep)
