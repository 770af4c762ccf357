"""What the fast loop learns about each application: its restart times and futile scale-ups.

The two habits of Flink's autoscaler the operator adopts (see :mod:`.restarttime` and
:mod:`.effectiveness`) need a little around the decision step: the restart timer is started by
a scaling write and stopped by a cycle that sees the executors up, its measurements go to the
application's state and, when the learned restart time changed, into the cooldown and DS2's
catch-up; detections and releases become events and metrics. Kept here so the fast loop only
calls three hooks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.appruntime import (
    AppRuntime,
    refresh_step,
    restart_time_settings,
)
from hrl_autoscaler.runtime.core.decision import Decision
from hrl_autoscaler.runtime.core.ports import LoopContext
from hrl_autoscaler.runtime.core.reporting import Reason, simple_event
from hrl_autoscaler.runtime.core.restarttime import (
    TimeKind,
    learned_seconds,
    materially_changed,
)

log = logging.getLogger("hrl_autoscaler.pipeline")


@runtime_checkable
class AdaptiveTelemetry(Protocol):
    """The metrics of what is learned (an optional part of a Telemetry: ``.adaptive``)."""

    def learned_time(self, key: AppKey, kind: str, seconds: float) -> None:
        """The learned restart or start-up time of an application (seconds)."""
        ...

    def ineffective_scaling(self, key: AppKey, blocked: bool, detected: bool) -> None:
        """Whether scale-ups are blocked; ``detected`` counts a new IneffectiveScaling."""
        ...


@dataclass
class Adaptation:
    ctx: LoopContext

    def _telemetry(self) -> AdaptiveTelemetry | None:
        sink = getattr(self.ctx.telemetry, "adaptive", None)
        return sink if isinstance(sink, AdaptiveTelemetry) else None

    def written(self, runtime: AppRuntime, current: int, target: int, now: float) -> None:
        """A scaling write went through: time the restart, or the new executors' start."""
        s = runtime.active_settings
        if not s.restart_time_tracking:
            runtime.timer.started(None, now, target)
            return
        kind: TimeKind | None = "restart" if s.actuation == "restart" else None
        if kind is None and target > current:
            kind = "startup"
        runtime.timer.started(kind, now, target)

    def observed(self, runtime: AppRuntime, running: int, now: float) -> None:
        """A cycle decides on the running application: has the timed action completed?"""
        s = runtime.active_settings
        timing = restart_time_settings(s, self.ctx.settings)
        measured = runtime.timer.observe(now, running, timing.limit_s)
        if measured is None or not timing.enabled:
            return
        state = runtime.state
        before = learned_seconds(
            list(state.restart_s if measured.kind == "restart" else state.startup_s),
            timing.limit_s,
        )
        history = state.record_time(measured.kind, measured.seconds, timing.history)
        learned = learned_seconds(history, timing.limit_s)
        assert learned is not None
        log.info(
            "%s: %s to %d executors took %.0f s (learned %.0f s from %d)",
            runtime.key,
            measured.kind,
            measured.target,
            measured.seconds,
            learned,
            len(history),
        )
        if measured.kind == "restart":
            refresh_step(runtime, self.ctx.settings, self.ctx.params)
        if not materially_changed(before, learned):
            return
        used = "restart cooldown, DS2 catch-up" if measured.kind == "restart" else "reported"
        self.ctx.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.RESTART_TIME_LEARNED,
                kind=measured.kind,
                seconds=f"{learned:.0f}",
                previous_s="none" if before is None else f"{before:.0f}",
                observed_s=f"{measured.seconds:.0f}",
                samples=str(len(history)),
                limit_s=f"{timing.limit_s:.0f}",
                used_for=used,
            ),
        )

    def _publish_learned(self, runtime: AppRuntime, telemetry: AdaptiveTelemetry) -> None:
        """The learned times from the state (also after an operator restart, before the next
        measurement)."""
        timing = restart_time_settings(runtime.active_settings, self.ctx.settings)
        if not timing.enabled:
            return
        kinds: tuple[tuple[TimeKind, list[float]], ...] = (
            ("restart", runtime.state.restart_s),
            ("startup", runtime.state.startup_s),
        )
        for kind, history in kinds:
            learned = learned_seconds(history, timing.limit_s)
            if learned is not None:
                telemetry.learned_time(runtime.key, kind, learned)

    def decided(self, runtime: AppRuntime, decision: Decision) -> None:
        """Report an ineffective scale-up the decision found, or a block it lifted."""
        telemetry = self._telemetry()
        found, released = decision.ineffective, decision.released
        if telemetry is not None:
            blocked = runtime.decision_step.effectiveness.blocked is not None
            telemetry.ineffective_scaling(runtime.key, blocked, found is not None)
            self._publish_learned(runtime, telemetry)
        if released is not None:
            log.info(
                "%s: input rate moved from %.0f eps; scale-ups above %d allowed again",
                runtime.key,
                released.input_rate_eps,
                released.after,
            )
            self.ctx.events.emit(
                runtime.snapshot,
                simple_event(
                    Reason.INEFFECTIVE_SCALING_CLEARED,
                    executors=str(released.after),
                    detected_input_eps=f"{released.input_rate_eps:.0f}",
                    action="scale-ups allowed again",
                ),
            )
        if found is None:
            return
        threshold = runtime.active_settings.ineffective_scaling_threshold
        release = self.ctx.settings.guardrails.ineffective_scaling_release
        log.warning(
            "%s: scaling %d -> %d added %.0f eps of capacity, expected %.0f; scale-ups held",
            runtime.key,
            found.before,
            found.after,
            found.observed_gain_eps,
            found.expected_gain_eps,
        )
        self.ctx.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.INEFFECTIVE_SCALING,
                executors=f"{found.before}->{found.after}",
                expected_eps=f"{found.expected_gain_eps:.0f}",
                observed_eps=f"{found.observed_gain_eps:.0f}",
                capacity_before_eps=f"{found.before_capacity_eps:.0f}",
                capacity_after_eps=f"{found.observed_capacity_eps:.0f}",
                effectiveness=f"{found.effectiveness:.2f}",
                threshold=f"{threshold:g}",
                input_eps=f"{found.input_rate_eps:.0f}",
                action=(
                    f"scale-ups above {found.after} held until the input rate moves by more "
                    f"than {release:.0%} from {found.input_rate_eps:.0f} eps"
                ),
            ),
        )
