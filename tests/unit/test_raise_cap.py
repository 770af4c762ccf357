"""The raise cap (pure logic) and where the decision step applies it; the SLO guard's sizing."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.config.stages import RaiseCapDefaults
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.decision import Decision, DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.guardrails import GuardrailSettings
from hrl_autoscaler.runtime.core.margintrim import MarginTrimSettings
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.raisecap import RaiseCapSettings, cap_raise
from hrl_autoscaler.runtime.core.sizing import RateEstimate
from hrl_autoscaler.runtime.core.sloguard import SloGuardSettings
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

SLO = 2000.0
ON = RaiseCapSettings()


# -- the module -------------------------------------------------------------------------------


def test_on_by_default_at_the_validated_setting() -> None:
    assert DecisionOptions().raise_cap == ON
    assert (ON.enabled, ON.latency_factor, ON.target_utilisation, ON.margin) == (
        True,
        0.9,
        1.0,
        0,
    )


def test_caps_a_raise_the_load_does_not_call_for_at_the_size_plus_margin() -> None:
    assert cap_raise(ON, 18, 8, 10, 1400.0, SLO, backlogged=False) == 10
    margin = RaiseCapSettings(margin=2)
    assert cap_raise(margin, 18, 8, 10, 1400.0, SLO, backlogged=False) == 12
    assert cap_raise(margin, 11, 8, 10, 1400.0, SLO, backlogged=False) == 11


def test_never_lowers_below_the_current_count_nor_touches_a_scale_down() -> None:
    assert cap_raise(ON, 12, 9, 6, 1400.0, SLO, backlogged=False) == 9
    assert cap_raise(ON, 4, 9, 6, 1400.0, SLO, backlogged=False) == 4
    assert cap_raise(ON, 9, 9, 6, 1400.0, SLO, backlogged=False) == 9


@pytest.mark.parametrize(
    ("latency_ms", "backlogged", "size"),
    [
        (1800.0, False, 10),  # 0.9 x SLO exactly: latency near the SLO calls for it
        (2500.0, False, 10),  # a breach
        (1400.0, True, 10),  # a backlog
        (1400.0, False, None),  # no rate measured yet
    ],
)
def test_steps_aside_when_capacity_may_be_short(
    latency_ms: float, backlogged: bool, size: int | None
) -> None:
    assert cap_raise(ON, 18, 8, size, latency_ms, SLO, backlogged) == 18


def test_a_disabled_cap_changes_nothing() -> None:
    off = RaiseCapSettings(enabled=False)
    assert cap_raise(off, 18, 8, 10, 100.0, SLO, backlogged=False) == 18


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency_factor": 0.0}, r"latency_factor must be in \(0, 1\]"),
        ({"latency_factor": 1.2}, r"latency_factor must be in \(0, 1\]"),
        ({"target_utilisation": 0.0}, r"target_utilisation must be in \(0, 1\]"),
        ({"margin": -1}, "margin must be >= 0"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RaiseCapSettings(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=next(iter(kwargs))):
        RaiseCapDefaults(**kwargs)  # type: ignore[arg-type]


# -- the decision step ------------------------------------------------------------------------


class FixedPolicy:
    def __init__(self, executors: int) -> None:
        self.count = executors

    def executors(self, obs: np.ndarray) -> int:
        return self.count


def _step(policy: int, options: DecisionOptions, actuation: str = "in-place") -> DecisionStep:
    return DecisionStep(
        FixedPolicy(policy),
        GuardrailSettings(scale_down_confirmations=1),
        ControlContext(1, 20, 30.0, actuation),  # type: ignore[arg-type]
        RateEstimate(600.0, 0.2, SimParams()),
        options,
    )


def _decide(
    step: DecisionStep, latency_ms: float, backlog: float = 0.0, executors: int = 4
) -> Decision:
    # 4 executors at 50% CPU process 1,000 eps: one busy executor does 500 eps, so the size
    # at 0.85 utilisation is ceil(1000 / 0.85 / 500) = 3 and at 0.5 it is 4, plus the backlog
    # processed within the catch-up.
    metrics = SystemMetrics(1000.0, 1000.0, backlog, 0.5, 0.3, latency_ms, executors, executors)
    return step.decide(metrics, FIXED_BASELINE, SLO)


NO_TRIM = MarginTrimSettings(enabled=False)


def test_decide_caps_the_policys_raise_and_records_it() -> None:
    step = _step(12, DecisionOptions(fallback=False, margin_trim=NO_TRIM))
    decision = _decide(step, 1200.0)
    assert decision.controller == "ppo+capped"
    assert (decision.unguarded, decision.raise_capped_from, decision.target) == (12, 12, 4)


def test_decide_lets_a_raise_through_under_a_backlog() -> None:
    step = _step(12, DecisionOptions(fallback=False, margin_trim=NO_TRIM))
    decision = _decide(step, 1200.0, backlog=5_000.0)
    assert decision.controller == "ppo"
    assert decision.raise_capped_from is None
    assert decision.target == 12


def test_the_slo_guards_rescue_is_never_capped_and_sizes_at_its_own_settings() -> None:
    """A breach: the guard raises the policy's 1 to 1,000 eps at 0.5 utilisation (4) plus a
    60,000-event backlog within 60 s (1,000 eps more): ceil(3,000 / 500) = 6."""
    step = _step(1, DecisionOptions(fallback=False, margin_trim=NO_TRIM))
    decision = _decide(step, 5000.0, backlog=60_000.0)
    assert decision.controller == "ppo+slo-guard"
    assert (decision.required, decision.target, decision.raise_capped_from) == (6, 6, None)
    ds2_sized = SloGuardSettings(target_utilisation=0.7, catch_up_s=300.0)
    step = _step(1, DecisionOptions(fallback=False, margin_trim=NO_TRIM, slo_guard=ds2_sized))
    # DS2's own: 1,000 / 0.7 + 60,000 / 300 = 1,628.6 eps -> 4
    assert _decide(step, 5000.0, backlog=60_000.0).required == 4


def test_decide_with_the_cap_off_is_the_policy() -> None:
    off = DecisionOptions(fallback=False, margin_trim=NO_TRIM, raise_cap=RaiseCapSettings(False))
    decision = _decide(_step(12, off), 1200.0)
    assert (decision.controller, decision.target) == ("ppo", 12)


def test_under_the_r_meta_objective_neither_the_cap_nor_the_trim_acts() -> None:
    """Both give back executors that buy latency below the SLO: R_meta rewards them."""
    trim = MarginTrimSettings(quiet_cycles=1)
    step = _step(12, DecisionOptions(fallback=False, margin_trim=trim))
    metrics = SystemMetrics(1000.0, 1000.0, 0.0, 0.5, 0.3, 400.0, 4, 4)
    kept = step.decide(metrics, FIXED_BASELINE, SLO, objective="r_meta")
    assert (kept.controller, kept.target, kept.raise_capped_from) == ("ppo", 12, None)
    step = _step(12, DecisionOptions(fallback=False, margin_trim=trim))
    assert step.decide(metrics, FIXED_BASELINE, SLO).controller == "ppo+trim"  # slo: trimmed
