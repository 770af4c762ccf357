"""The slow loop for one application: every ``meta_interval_s`` the TD3 actor retunes the weights.

The window, its observation and its score are :class:`~hrl_autoscaler.runtime.core.meta.MetaStep`
(shared with the training environment, which closes the same windows); this module adds the
cadence that survives restarts (the window's start is in the state), the weights intent in
``auto`` mode (annotations) or the state in ``recommend`` mode, the check that what is in force
is what was written, and the events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hrl_autoscaler.runtime.core.annotations import WEIGHT_ANNOTATIONS, weight_annotations
from hrl_autoscaler.runtime.core.application import AppSnapshot
from hrl_autoscaler.runtime.core.appruntime import AppRuntime, meta_cadence
from hrl_autoscaler.runtime.core.meta import MetaCadence
from hrl_autoscaler.runtime.core.ports import LoopContext, MetaActor
from hrl_autoscaler.runtime.core.reporting import Reason, simple_event, weights_text
from hrl_autoscaler.runtime.core.weights import Weights

log = logging.getLogger("hrl_autoscaler.pipeline")


@dataclass
class SlowLoop:
    ctx: LoopContext
    on_patched: Callable[[AppRuntime, AppSnapshot], None]
    """Adopt a patched object (and re-resolve the settings it carries)."""
    meta_actors: dict[str, MetaActor] = field(default_factory=dict)
    meta_errors: dict[str, str] = field(default_factory=dict)
    """Why an objective has no meta-controller (reported once per application)."""

    @property
    def cadence(self) -> MetaCadence:
        return meta_cadence(self.ctx.settings)

    def step(self, runtime: AppRuntime, now: float) -> None:
        s = runtime.active_settings
        meta = runtime.meta
        assert meta is not None
        if s.weight_policy != "meta":
            meta.window.clear()
            runtime.state.meta_window_started_at = None
            return
        started = runtime.state.meta_window_started_at
        if started is None:
            runtime.state.meta_window_started_at = now
            return
        if not meta.ready(now, started, self.cadence):
            return  # not yet, or refilling after an outage or an operator restart
        before = runtime.weights()
        closed = meta.close(before, runtime.rate.scale().rate_scale_eps, s.objective)
        runtime.state.meta_window_started_at = now
        self.ctx.telemetry.meta(runtime.key, s.objective, closed.score)
        actor = self.meta_actors.get(s.objective)
        if actor is None:
            self._no_actor(runtime, before)
            return
        after = actor.weights(closed.observation)
        applied = s.mode == "auto"
        if applied:
            if not self._write(runtime, before, after, now):
                return
        else:
            runtime.state.weights = after.as_tuple()
        stats = closed.stats
        event = simple_event(
            Reason.WEIGHTS_UPDATED,
            weights=f"{weights_text(before)}->{weights_text(after)}",
            objective=s.objective,
            score=f"{closed.score:.4f}",
            applied=str(applied).lower(),
            steps=str(stats.steps),
            mean_latency_ms=f"{stats.mean_latency_ms:.0f}",
            p95_latency_ms=f"{stats.p95_latency_ms:.0f}",
            slo_violation=f"{stats.slo_violation:.3f}",
            mean_cost_per_hour=f"{stats.mean_cost_per_hour:.2f}",
            mean_load_eps=f"{stats.mean_load_eps:.0f}",
        )
        log.info("%s: %s", runtime.key, event.message)
        self.ctx.telemetry.weights_updated(runtime.key, s.objective)
        self.ctx.events.emit(runtime.snapshot, event)
        entry: dict[str, Any] = {"at": round(now, 3), **dict(event.fields)}
        runtime.state.remember("meta", entry, self.ctx.settings.history_size)

    def _no_actor(self, runtime: AppRuntime, before: Weights) -> None:
        if runtime.meta_missing_reported:
            return
        objective = runtime.active_settings.objective
        why = self.meta_errors.get(objective, f"no meta-controller for {objective}")
        log.warning("%s: weights kept at %s: %s", runtime.key, before, why)
        self.ctx.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.FALLBACK,
                controller="fixed-weights",
                objective=objective,
                weights=weights_text(before),
                detail=why,
            ),
        )
        runtime.meta_missing_reported = True

    def _write(self, runtime: AppRuntime, before: Weights, after: Weights, now: float) -> bool:
        """Put ``after`` in force through the annotations (with the update's time, where a
        successor starts the next window); True when it is."""
        result = self.ctx.actuator.set_weights(runtime.key, after, runtime.precondition(None), now)
        if not result.applied:
            log.warning("%s: weights %s not written: %s", runtime.key, after, result.detail)
            if result.error:
                self.ctx.telemetry.actuation_error(runtime.key)
                self._not_applied(runtime, before, after, result.detail)
            return False
        written = weight_annotations(after)
        patched = result.snapshot or replace(
            runtime.snapshot, annotations={**runtime.snapshot.annotations, **written}
        )
        self.on_patched(runtime, patched)  # what is in force is what the patched object says
        in_force = runtime.weights()
        wanted = Weights.of(*(float(written[a]) for a in WEIGHT_ANNOTATIONS))
        if not same_weights(in_force, wanted):
            self._not_applied(
                runtime,
                in_force,
                after,
                f"the annotations resolve to {weights_text(in_force)} "
                f"({runtime.active_settings.describe()})",
            )
            return False
        return True

    def _not_applied(
        self, runtime: AppRuntime, in_force: Weights, wanted: Weights, why: str
    ) -> None:
        log.warning(
            "%s: meta weights %s not in force (still %s): %s", runtime.key, wanted, in_force, why
        )
        self.ctx.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.WEIGHTS_NOT_APPLIED,
                wanted=weights_text(wanted),
                in_force=weights_text(in_force),
                applied="false",
                detail=why,
            ),
        )


def same_weights(a: Weights, b: Weights) -> bool:
    """Equal as written to annotations (3 decimals, then normalised again)."""
    return all(abs(x - y) < 2e-3 for x, y in zip(a.as_tuple(), b.as_tuple(), strict=True))
