"""The calm rule: when the load counts as calm, and how the decision step hands a calm
application's count to the rate rule (and back)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.config.stages import CalmRuleDefaults
from hrl_autoscaler.runtime.core.calmrule import CalmLoad, CalmRuleSettings
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.decision import Decision, DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.guardrails import GuardrailSettings
from hrl_autoscaler.runtime.core.margintrim import MarginTrimSettings
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.sizing import RateEstimate
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

from .test_raise_cap import FixedPolicy  # a policy that always proposes one count

SLO = 2000.0
DT = 30.0
WINDOW = CalmRuleSettings(window_s=10 * DT)

# -- when the load is calm --------------------------------------------------------------------


def test_on_by_default_at_the_validated_setting() -> None:
    on = DecisionOptions().calm_rule
    assert (on.enabled, on.window_s, on.min_jump, on.restart_actuation) == (
        True,
        14400.0,
        0.2,
        False,
    )


def test_calm_once_a_whole_window_passed_without_a_jump() -> None:
    calm = CalmLoad(WINDOW)
    seen = [calm.observe(1000.0, t * DT) for t in range(12)]
    assert seen == [False] * 10 + [True, True]


def test_a_jump_starts_the_window_again_a_smaller_rise_or_a_fall_does_not() -> None:
    calm = CalmLoad(WINDOW)
    for t in range(11):
        calm.observe(1000.0, t * DT)
    assert calm.observe(1190.0, 11 * DT)  # +19%: noise, not a burst
    assert calm.observe(500.0, 12 * DT)  # a fall is not a burst
    assert not calm.observe(600.0, 13 * DT)  # +20%
    assert [calm.observe(600.0, t * DT) for t in range(14, 24)] == [False] * 9 + [True]


def test_no_input_after_no_input_is_calm_and_input_after_none_is_a_jump() -> None:
    calm = CalmLoad(WINDOW)
    assert [calm.observe(0.0, t * DT) for t in range(11)][-1]  # an idle stream is calm
    assert not calm.observe(50.0, 11 * DT)  # load arriving after none is a burst


def test_a_resumed_history_keeps_the_calm_stretch_it_shows() -> None:
    calm = CalmLoad(WINDOW)
    # 12 decisions of history, a jump 4 decisions before the newest (seen at t = 1000 s)
    rates = [1000.0] * 7 + [1500.0] * 5
    calm.resume(rates, 1000.0, DT)
    assert calm.since_s == 1000.0 - 4 * DT
    assert not calm.observe(1500.0, 1000.0 + 5 * DT)  # 9 intervals since the jump
    assert calm.observe(1500.0, 1000.0 + 6 * DT)
    flat = CalmLoad(WINDOW)
    flat.resume([1000.0] * 11, 1000.0, DT)  # ten intervals, no jump: already calm
    assert flat.observe(1000.0, 1000.0 + DT)
    fresh = CalmLoad(WINDOW)
    fresh.resume([], 1000.0, DT)  # nothing stored: starts from its first input
    assert fresh.since_s is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_s": 0.0}, "window_s must be > 0"),
        ({"min_jump": 0.0}, "min_jump must be > 0"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CalmRuleSettings(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=next(iter(kwargs))):
        CalmRuleDefaults(**kwargs)  # type: ignore[arg-type]


# -- the decision step ------------------------------------------------------------------------


def _step(
    settings: CalmRuleSettings = WINDOW, actuation: str = "in-place", policy: int = 8
) -> DecisionStep:
    options = DecisionOptions(calm_rule=settings, margin_trim=MarginTrimSettings(enabled=False))
    return DecisionStep(
        FixedPolicy(policy),
        GuardrailSettings(),  # ten scale-down confirmations
        ControlContext(1, 20, DT, actuation),
        RateEstimate(600.0, 0.2, SimParams()),
        options,
    )


def _decide(
    step: DecisionStep, t: int, input_eps: float = 1000.0, objective: str = "slo"
) -> Decision:
    # 4 executors at 50% CPU process 1,000 eps: one busy executor does 500 eps, so the rule
    # sizes ceil(1000 / 0.85 / 500) = 3; latency well within the SLO, no backlog
    metrics = SystemMetrics(input_eps, 1000.0, 0.0, 0.5, 0.3, 1000.0, 4, 4, time_s=t * DT)
    return step.decide(metrics, FIXED_BASELINE, SLO, objective=objective)


def test_on_calm_load_the_rule_replaces_the_policys_proposal() -> None:
    step = _step()
    first = [_decide(step, t) for t in range(10)]
    assert all(d.controller.startswith("ppo") and d.ruled_from is None for d in first)
    calm = _decide(step, 10)
    assert calm.controller.startswith("rule")
    assert calm.ruled_from == 8  # the policy's proposal, recorded
    assert calm.unguarded == calm.proposed <= 4


def test_the_rules_scale_down_is_not_confirmed_a_second_time() -> None:
    step = _step()
    decisions = [_decide(step, t) for t in range(40)]
    down = next(d for d in decisions if d.ruled_from is not None and d.unguarded == 3)
    # the rule counted its own ten confirmations; the guardrails' ten are not added
    assert down.target == 3


def test_a_jump_hands_the_decision_back_to_the_policy_for_a_window() -> None:
    step = _step()
    for t in range(11):
        _decide(step, t)
    jump = _decide(step, 11, input_eps=1300.0)
    assert jump.ruled_from is None
    assert jump.controller.startswith("ppo")
    after = [_decide(step, t, input_eps=1300.0) for t in range(12, 22)]
    assert [d.ruled_from is not None for d in after] == [False] * 9 + [True]


@pytest.mark.parametrize(
    ("settings", "actuation", "objective"),
    [
        (CalmRuleSettings(enabled=False, window_s=10 * DT), "in-place", "slo"),
        (WINDOW, "in-place", "r_meta"),  # the rule sizes for the SLO, R_meta rewards below it
        (WINDOW, "restart", "slo"),  # each of its one-executor steps would be a restart
    ],
)
def test_the_policy_keeps_the_decision(
    settings: CalmRuleSettings, actuation: str, objective: str
) -> None:
    step = _step(settings, actuation)
    decisions = [_decide(step, t, objective=objective) for t in range(30)]
    assert all(d.ruled_from is None and not d.controller.startswith("rule") for d in decisions)


def test_under_restart_actuation_when_asked_for() -> None:
    step = _step(CalmRuleSettings(window_s=10 * DT, restart_actuation=True), "restart")
    assert any(_decide(step, t).ruled_from == 8 for t in range(30))


def _ruled(step: DecisionStep, latency_ms: float, decisions: int = 30) -> list[Decision]:
    out = []
    for t in range(decisions):
        metrics = SystemMetrics(1000.0, 1000.0, 0.0, 0.5, 0.3, latency_ms, 4, 4, time_s=t * DT)
        out.append(step.decide(metrics, FIXED_BASELINE, SLO))
    return [d for d in out if d.ruled_from is not None]


def test_near_the_slo_the_rule_adds_an_executor_ahead_of_a_breach() -> None:
    ruled = _ruled(_step(), 0.95 * SLO)
    assert ruled
    assert all(d.unguarded == 5 for d in ruled), ruled  # 4 running, latency pressure: +1


def test_above_the_slo_the_latency_is_the_guards_not_the_rules() -> None:
    # latency 1.5 x SLO at any count (the calibrated simulator's 2 s trigger under a 2 s SLO):
    # the rule, which adds an executor whenever latency is near the SLO, climbed to the maximum
    # there; above the SLO it sizes by the rate and leaves latency to the SLO guard
    step = _step(policy=1)
    ruled = _ruled(step, 1.5 * SLO)
    assert ruled
    assert all(d.unguarded is not None and d.unguarded <= 4 for d in ruled), ruled
    assert step.slo_guard.stood_down  # its raise to 4 bought nothing


def test_a_restarted_operator_resumes_the_calm_stretch_from_the_input_memory() -> None:
    step = _step()
    # what the state ConfigMap kept: 12 decisions of flat input, the newest at t = 20 * DT
    step.resume_inputs([1000.0] * 12, 20 * DT)
    assert _decide(step, 21).ruled_from == 8
    fresh = _step()
    assert _decide(fresh, 21).ruled_from is None
