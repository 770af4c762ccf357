"""The modifiers in the fast loop: the mode inside an excluded period, and what users are told.

:func:`effective_mode` turns ``auto`` into ``recommend`` while the clock is inside one of the
application's excluded periods (Flink's ``excluded.periods`` vetoes scaling but still reports),
with one ``ExcludedPeriodStarted`` / ``ExcludedPeriodEnded`` event at each edge. The pauses
themselves are applied inside the decision step
(:meth:`~hrl_autoscaler.runtime.core.modifiers.ModifierSettings.pause`); :func:`report_pause`
tells the application once when one holds back a change it would otherwise have made, since a
hold writes no ScalingDecision event of its own.
"""

from __future__ import annotations

import logging

from hrl_autoscaler.config.periods import clock_text, next_change
from hrl_autoscaler.runtime.core.appruntime import AppRuntime
from hrl_autoscaler.runtime.core.decision import Decision
from hrl_autoscaler.runtime.core.ports import LoopContext
from hrl_autoscaler.runtime.core.reporting import Reason, simple_event

log = logging.getLogger("hrl_autoscaler.pipeline")


def effective_mode(ctx: LoopContext, runtime: AppRuntime, now: float) -> tuple[str, str | None]:
    """The mode this cycle's decision runs in, and the excluded period in force (its text).

    Outside every period, the application's mode. Inside one, ``auto`` becomes ``recommend``
    (decisions computed and reported as ScalingRecommendation, nothing patched, no cooldown
    started); ``recommend`` stays as it is.
    """
    s = runtime.active_settings
    periods = s.excluded() if s.excluded_periods else None
    period = periods.active(now) if periods is not None else None
    text = period.text if period is not None else None
    state = runtime.modifiers
    if text != state.period:
        if state.period is not None:
            log.info("%s: excluded period %r ended; mode %s", runtime.key, state.period, s.mode)
            ended = simple_event(Reason.EXCLUDED_PERIOD_ENDED, period=state.period, mode=s.mode)
            ctx.events.emit(runtime.snapshot, ended)
        if period is not None and periods is not None:
            until = clock_text(next_change(periods, now))
            log.info("%s: inside excluded period %r until %s", runtime.key, text, until)
            action = (
                "recommend only; nothing is patched until it ends"
                if s.mode == "auto"
                else f"none (mode {s.mode})"
            )
            started = simple_event(
                Reason.EXCLUDED_PERIOD_STARTED,
                period=period.text,
                until=until,
                mode="recommend",
                action=action,
            )
            ctx.events.emit(runtime.snapshot, started)
        state.period = text
        runtime.last_recommendation = None  # each window reports its first recommendation
    if text is not None and s.mode == "auto":
        return "recommend", text
    return s.mode, text


def report_pause(ctx: LoopContext, runtime: AppRuntime, decision: Decision) -> None:
    """One ScalingPaused event when a pause starts holding back a change (again after the
    pause was lifted); a pause that only moves to ``paused-executors`` is a ScalingDecision."""
    s = runtime.active_settings
    state = runtime.modifiers
    if state.reported_pause is not None and state.reported_pause not in s.active_pauses():
        state.reported_pause = None  # lifted: the next hold is news again
    why = decision.paused
    if why is None or decision.changes:
        return
    pause = why.split(":", 1)[0]
    if state.reported_pause == pause:
        return
    state.reported_pause = pause
    log.info("%s: %s", runtime.key, why)
    ctx.events.emit(
        runtime.snapshot,
        simple_event(
            Reason.SCALING_PAUSED,
            executors=str(decision.current),
            proposed=str(decision.proposed),
            pause=pause,
            reason=why,
        ),
    )
