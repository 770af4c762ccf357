"""The forecasts' input memory across operator restarts: the anticipation's history and the
surge response's running peak go into the state and come back into a new decision step."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.research.sim.operator_step import operator_decision_step
from hrl_autoscaler.runtime.core.anticipation import Anticipation
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.decision import Decision, DecisionStep
from hrl_autoscaler.runtime.core.inputmemory import checkpoint, resume
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.surge import Surge
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

SETTINGS = OperatorSettings.built_in()
T0 = 1_700_000_000.0
PERIOD = 20
"""Decisions per cycle of the test's input (10 minutes at 30 s)."""


class _Hold:
    def executors(self, obs: np.ndarray) -> int:
        return 2


def _step() -> DecisionStep:
    return operator_decision_step(_Hold(), SimParams(), SETTINGS, 2000.0, "slo")


def _periodic(n: int) -> list[float]:
    """A burst of 8,000 events/s for 3 decisions in every ``PERIOD``, 1,000 between."""
    return [8000.0 if i % PERIOD < 3 else 1000.0 for i in range(n)]


def _until_period(anticipation: Anticipation, rates: list[float]) -> int | None:
    """Observations until the anticipation acts on a period (None: not within ``rates``)."""
    for n, rate in enumerate(rates, 1):
        anticipation.observe(rate)
        if anticipation.acting:
            return n
    return None


def test_a_restored_history_finds_the_period_within_a_few_estimates() -> None:
    history, after = _periodic(200), _periodic(220)[200:]
    fresh = Anticipation(_step().anticipation.settings)
    assert _until_period(fresh, after) is None, "20 decisions are too few to find it afresh"
    restored = Anticipation(_step().anticipation.settings)
    restored.restore(history)
    found = _until_period(restored, after)
    s = restored.settings
    assert found is not None
    assert found <= s.refresh * s.stable_estimates
    assert restored.period == PERIOD


def test_a_restored_peak_caps_a_surge_at_the_days_high_not_at_todays() -> None:
    fresh, restored = Surge(), Surge()
    restored.restore([(T0 - 3600.0, 9000.0), (T0 - 60.0, 1200.0)])
    for surge in (fresh, restored):
        surge.forecast(1000.0, T0, 75.0)
    assert fresh.forecast(2000.0, T0 + 30.0, 75.0) == 2000.0  # capped at what it has seen
    assert restored.forecast(2000.0, T0 + 30.0, 75.0) == 9000.0
    assert restored.peaks[0] == (T0 - 3600.0, 9000.0)


def _decide(step: DecisionStep, rate: float, time_s: float) -> Decision:
    metrics = SystemMetrics(rate, rate, 0.0, 0.5, 0.3, 800.0, 4, 4, time_s=time_s)
    return step.decide(metrics, FIXED_BASELINE, 2000.0)


def _observe_all(step: DecisionStep, rates: list[float]) -> float:
    """Decide on ``rates`` 30 s apart; the time of the last."""
    for i, rate in enumerate(rates):
        _decide(step, rate, T0 + 30.0 * i)
    return T0 + 30.0 * (len(rates) - 1)


def test_the_memory_survives_the_state_json_and_the_gap_is_filled() -> None:
    step = _step()
    rates = _periodic(120)
    now = _observe_all(step, rates)
    state = AppState()
    assert checkpoint(step, state, now, SETTINGS)
    stored = AppState.from_json(state.to_json())
    assert stored.inputs == rates
    assert stored.inputs_at == now
    assert stored.input_peaks[0][1] == 8000.0

    successor = _step()
    said = resume(successor, stored)
    assert said.startswith("resumed the running peak (")
    assert "entries) and 120 decisions of input history; the input calm for 0." in said
    assert successor.surge.peaks == step.surge.peaks
    _decide(successor, 1000.0, now + 95.0)  # 2 decisions missed
    assert list(successor.anticipation.rates) == [*rates, rates[-1], rates[-1], 1000.0]


def test_a_restarted_operator_keeps_a_calm_stretch_longer_than_the_history() -> None:
    window = SETTINGS.guardrails.calm_rule.window_s
    step = _step()
    steady = [1000.0 + 10.0 * (i % 3) for i in range(int(window / 30.0) + 40)]
    now = _observe_all(step, steady)
    assert _decide(step, 1000.0, now + 30.0).ruled_from is not None  # calm: the rule decides
    now += 30.0
    state = AppState()
    assert checkpoint(step, state, now, SETTINGS)
    stored = AppState.from_json(state.to_json())
    assert stored.calm_since == step.calm_rule.load.since_s
    assert len(stored.inputs) * 30.0 < window  # the history alone is shorter than the window

    successor = _step()
    said = resume(successor, stored)
    assert "the input calm for 4.3 h at the checkpoint" in said
    assert _decide(successor, 1000.0, now + 30.0).ruled_from is not None
    forgetful = AppState.from_json(state.to_json())
    forgetful.calm_since = None
    without = _step()
    resume(without, forgetful)
    assert _decide(without, 1000.0, now + 30.0).ruled_from is None


def test_a_gap_above_max_fill_drops_the_history_and_keeps_the_peak() -> None:
    step = _step()
    now = _observe_all(step, _periodic(60))
    state = AppState()
    checkpoint(step, state, now, SETTINGS)
    successor = _step()
    resume(successor, state)
    fill = successor.anticipation.settings.max_fill
    late = now + 30.0 * (fill + 2)  # fill + 1 decisions missed
    _decide(successor, 1000.0, late)
    assert list(successor.anticipation.rates) == [1000.0]
    assert successor.surge.peaks[0] == step.surge.peaks[0]  # the peak from before the restart
    assert resume(_step(), AppState()) == ""  # nothing stored, nothing said


def test_skipped_cycles_are_filled_so_the_phase_holds() -> None:
    """A decision step that sees no metrics for two cycles fills them: the history stays one
    entry per decision interval of wall time."""
    step = _step()
    for t, rate in [(0.0, 1000.0), (30.0, 2000.0), (120.0, 3000.0), (151.0, 4000.0)]:
        _decide(step, rate, T0 + t)
    assert list(step.anticipation.rates) == [1000.0, 2000.0, 2000.0, 2000.0, 3000.0, 4000.0]


def test_checkpoints_come_every_input_checkpoint_s_and_round_to_three_digits() -> None:
    step, state = _step(), AppState()
    step.anticipation.observe(1234.5678)
    assert checkpoint(step, state, T0, SETTINGS)
    revision = state.revision
    step.anticipation.observe(2000.0)
    assert not checkpoint(step, state, T0 + SETTINGS.input_checkpoint_s - 1.0, SETTINGS)
    assert state.revision == revision, "no write between checkpoints"
    assert checkpoint(step, state, T0 + SETTINGS.input_checkpoint_s, SETTINGS)
    assert state.inputs == [1230.0, 2000.0]


def test_nothing_is_kept_while_both_forecasts_and_the_calm_rule_are_off() -> None:
    off = SETTINGS.guardrails.model_copy(
        update={
            "anticipation": SETTINGS.guardrails.anticipation.model_copy(update={"enabled": False}),
            "surge": SETTINGS.guardrails.surge.model_copy(update={"enabled": False}),
            "calm_rule": SETTINGS.guardrails.calm_rule.model_copy(update={"enabled": False}),
        }
    )
    settings = SETTINGS.model_copy(update={"guardrails": off})
    step = operator_decision_step(_Hold(), SimParams(), settings, 2000.0, "slo")
    state = AppState()
    assert not checkpoint(step, state, T0, settings)
    assert state.inputs_at is None


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("inputs", [1000.0, -5.0], "inputs"),
        ("inputs", "1000", "inputs"),
        ("inputs", [math.inf], "inputs"),
        ("input_peaks", [[T0, -1.0]], "input_peaks"),
        ("input_peaks", [[T0]], "input_peaks"),
        ("inputs_at", "soon", "soon"),
        ("calm_since", math.nan, "not a finite number"),
    ],
)
def test_a_malformed_stored_memory_is_refused_with_the_field(
    field: str, value: object, says: str
) -> None:
    data = json.loads(AppState().to_json())
    data[field] = value
    with pytest.raises(ValueError, match=says):
        AppState.from_json(json.dumps(data))
