"""The forecasts' and the calm rule's input memory across operator restarts.

The anticipation finds a period in two hours of input (one rate per decision), the surge
response caps its forecasts at the day's highest input, and the calm rule hands the decision to
the rate rule after four hours without a jump; all live in the decision step, in memory.
Without this module a restarted operator (an upgrade, a node drain, a crash) would answer
periodic load reactively for up to two hours, cap surges at whatever it has seen since, and
leave calm load to the policy for four hours. :func:`checkpoint` copies them into the
application's :class:`.appstate.AppState` every ``input_checkpoint_s`` (the state ConfigMap is
written when it changes); :func:`resume` puts them back into a new decision step.
"""

from __future__ import annotations

import math

from hrl_autoscaler.config import OperatorSettings
from hrl_autoscaler.runtime.core.appstate import AppState, round_sig
from hrl_autoscaler.runtime.core.decision import DecisionStep

MAX_PEAKS = 32
"""Peak entries kept in the state: the running peak first, then lower ones after it. A
steadily falling input would add one per decision for a day; the first ones are the highest."""


def _sig(x: float) -> float:
    """``x`` to 3 significant digits (enough for a forecast, a third of the JSON); 0 for
    anything that is not a positive finite rate."""
    return round_sig(x, 3) if math.isfinite(x) and x > 0 else 0.0


def checkpoint(step: DecisionStep, state: AppState, now: float, settings: OperatorSettings) -> bool:
    """Copy the input history, the running peak and the calm stretch's start into ``state``
    when the last copy is ``input_checkpoint_s`` old (or there is none); whether it did.
    Nothing while both forecasts and the calm rule are off: there is nothing to keep, and a
    write would be for nothing."""
    calm = step.calm_rule.settings.enabled
    if not (step.anticipation.settings.enabled or step.surge.settings.enabled or calm):
        return False
    if state.inputs_at is not None and 0 <= now - state.inputs_at < settings.input_checkpoint_s:
        return False
    state.inputs = [_sig(r) for r in step.anticipation.rates]
    state.input_peaks = [(round(t, 1), _sig(r)) for t, r in step.surge.peaks[:MAX_PEAKS]]
    state.inputs_at = now
    since = step.calm_rule.load.since_s
    state.calm_since = round(since, 1) if calm and since is not None else None
    return True


def resume(step: DecisionStep, state: AppState) -> str:
    """Put the stored input history and running peak into a new ``step``; what was resumed,
    for the log (an empty string when nothing was stored). The decisions missed since the
    checkpoint are filled at the next decision, as skipped cycles are
    (:attr:`~.anticipation.AnticipationSettings.max_fill`)."""
    if not state.inputs and not state.input_peaks and state.calm_since is None:
        return ""
    step.surge.restore(state.input_peaks)
    said = f"resumed the running peak ({len(state.input_peaks)} entries)"
    if state.inputs and state.inputs_at is not None:
        step.resume_inputs(state.inputs, state.inputs_at)
        said += f" and {len(state.inputs)} decisions of input history"
    if state.calm_since is not None:  # it knows the stretch before the history's two hours
        step.calm_rule.load.since_s = state.calm_since
        calm_s = (state.inputs_at or state.calm_since) - state.calm_since
        said += f"; the input calm for {calm_s / 3600.0:.1f} h at the checkpoint"
    return said
