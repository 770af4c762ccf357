"""The margin trim: its counting and trimming (pure logic), and how the decision step uses it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hrl_autoscaler.config import Actuation, SimParams
from hrl_autoscaler.config.stages import MarginTrimDefaults
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.decision import Decision, DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.guardrails import GuardrailSettings
from hrl_autoscaler.runtime.core.margintrim import MarginTrim, MarginTrimSettings
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.sizing import RateEstimate
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

from .test_raise_cap import FixedPolicy  # a policy that always proposes one count

SLO = 2000.0


# -- the module: when it is active ----------------------------------------------------------


def test_acts_only_after_the_configured_run_of_quiet_decisions() -> None:
    trim = MarginTrim(MarginTrimSettings(enabled=True, quiet_factor=0.5, quiet_cycles=3))
    assert [trim.observe(400.0, SLO) for _ in range(3)] == [False, False, True]


def test_one_decision_at_or_above_the_quiet_threshold_resets_the_count() -> None:
    trim = MarginTrim(MarginTrimSettings(enabled=True, quiet_factor=0.5, quiet_cycles=2))
    trim.observe(400.0, SLO)
    assert trim.observe(400.0, SLO)
    assert not trim.observe(1000.0, SLO)  # 0.5 x SLO exactly is not quiet
    assert trim.quiet == 0
    assert not trim.observe(400.0, SLO)


def test_a_disabled_trim_counts_but_never_acts() -> None:
    trim = MarginTrim(MarginTrimSettings(enabled=False, quiet_cycles=1))
    assert not trim.observe(10.0, SLO)
    assert trim.apply(10, 2) == trim.apply(10, None)
    assert not trim.apply(10, 2).trimmed
    assert trim.apply(10, 2).executors == 10


def test_on_by_default_at_the_validated_setting() -> None:
    trim = DecisionOptions().margin_trim
    assert trim == MarginTrimSettings()
    assert trim.enabled
    assert not trim.restart_actuation
    assert (trim.quiet_factor, trim.quiet_cycles, trim.margin) == (0.8, 12, 0)
    assert (trim.target_utilisation, trim.peak_window) == (0.85, 40)


# -- the module: what it trims to -------------------------------------------------------------


def _active(margin: int) -> MarginTrim:
    trim = MarginTrim(MarginTrimSettings(enabled=True, quiet_cycles=1, margin=margin))
    trim.observe(100.0, SLO)
    return trim


def test_lowers_a_proposal_above_required_plus_margin_to_it() -> None:
    result = _active(margin=1).apply(8, 3)
    assert (result.executors, result.trimmed) == (4, True)
    assert _active(margin=0).apply(8, 3).executors == 3


def test_never_raises_and_leaves_proposals_within_the_margin() -> None:
    trim = _active(margin=1)
    at_margin = trim.apply(4, 3)  # exactly required + margin
    assert (at_margin.executors, at_margin.trimmed) == (4, False)
    assert trim.apply(2, 6).executors == 2  # below the sizing: the trim does not raise
    assert not trim.apply(2, 6).trimmed


def test_trims_to_the_largest_size_of_the_peak_window() -> None:
    trim = MarginTrim(MarginTrimSettings(enabled=True, quiet_cycles=1, margin=0, peak_window=3))
    trim.observe(100.0, SLO)
    assert [trim.apply(12, r).executors for r in (9, 3, 3, 3)] == [9, 9, 9, 3]


def test_records_sizes_while_inactive() -> None:
    trim = MarginTrim(MarginTrimSettings(enabled=True, quiet_cycles=2, margin=0, peak_window=5))
    trim.observe(100.0, SLO)
    assert not trim.apply(12, 10).trimmed  # not yet active, but the burst's size is kept
    trim.observe(100.0, SLO)
    assert trim.apply(12, 3).executors == 10


def test_waits_for_a_known_rate() -> None:
    assert _active(margin=0).apply(8, None).executors == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quiet_factor": 0.0}, "quiet_factor must be in"),
        ({"quiet_factor": 1.5}, "quiet_factor must be in"),
        ({"quiet_cycles": 0}, "quiet_cycles must be >= 1"),
        ({"margin": -1}, "margin must be >= 0"),
        ({"target_utilisation": 1.2}, "target_utilisation must be in"),
        ({"peak_window": -1}, "peak_window must be >= 0"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MarginTrimSettings(**kwargs)  # type: ignore[arg-type]


# -- the decision step: where the trim sits ---------------------------------------------------


def _step(
    trim: MarginTrimSettings, policy: int = 8, actuation: Actuation = "in-place"
) -> DecisionStep:
    params = SimParams()
    ctx = ControlContext(1, 20, 30.0, actuation)
    return DecisionStep(
        FixedPolicy(policy),
        GuardrailSettings(scale_down_confirmations=1),
        ctx,
        RateEstimate(600.0, 0.2, params),
        DecisionOptions(fallback=False, margin_trim=trim),
    )


def _metrics(latency_ms: float, t: float, executors: int = 8) -> SystemMetrics:
    # 8 executors at 25% CPU process 1,000 eps: one busy executor does 500 eps, so DS2's
    # size at 0.7 utilisation is ceil(1000 / 0.7 / 500) = 3, at 1.0 it is 2.
    return SystemMetrics(1000.0, 1000.0, 0.0, 0.25, 0.3, latency_ms, executors, executors, time_s=t)


def _run(step: DecisionStep, latencies: list[float]) -> list[Decision]:
    return [
        step.decide(_metrics(lat, 30.0 * i), FIXED_BASELINE, SLO) for i, lat in enumerate(latencies)
    ]


def test_decide_trims_after_the_quiet_run_and_records_it() -> None:
    step = _step(MarginTrimSettings(enabled=True, quiet_factor=0.5, quiet_cycles=3, margin=1))
    *before, trimmed = _run(step, [400.0] * 3)
    assert all(d.proposed == 8 and d.trimmed_from is None for d in before)
    assert trimmed.controller == "ppo+trim"
    assert (trimmed.unguarded, trimmed.trimmed_from, trimmed.proposed) == (8, 8, 4)
    assert trimmed.target == 4  # through the guardrails (one confirmation here)


def test_decide_trims_to_the_sizing_at_the_trims_own_utilisation() -> None:
    trim = MarginTrimSettings(enabled=True, quiet_cycles=1, margin=0, target_utilisation=1.0)
    (decision,) = _run(_step(trim), [400.0])
    assert decision.proposed == 2


def test_decide_is_unchanged_with_the_trim_disabled() -> None:
    decisions = _run(_step(MarginTrimSettings(enabled=False, quiet_cycles=1)), [100.0] * 5)
    assert all(d.controller == "ppo" and d.proposed == 8 for d in decisions)
    assert all(d.trimmed_from is None for d in decisions)


@pytest.mark.parametrize(("restart_actuation", "trimmed"), [(False, None), (True, 8)])
def test_under_restart_actuation_it_trims_only_when_asked_to(
    restart_actuation: bool, trimmed: int | None
) -> None:
    """Each trimmed executor would be a restart there: off unless ``restart_actuation``."""
    trim = MarginTrimSettings(quiet_cycles=1, restart_actuation=restart_actuation)
    (decision,) = _run(_step(trim, actuation="restart"), [400.0])
    assert decision.trimmed_from == trimmed
    (in_place,) = _run(_step(trim), [400.0])
    assert in_place.trimmed_from == 8


def test_decide_stops_trimming_at_the_first_loud_decision() -> None:
    step = _step(MarginTrimSettings(enabled=True, quiet_factor=0.5, quiet_cycles=2, margin=0))
    decisions = _run(step, [400.0, 400.0, 1500.0])
    assert [d.proposed for d in decisions] == [8, 3, 8]
    assert decisions[-1].controller == "ppo"


def test_the_slo_guard_wins_over_the_trim() -> None:
    """A raised proposal is never trimmed in the same decision (the two cannot both be quiet
    and breaching, but the order is the contract)."""
    step = _step(MarginTrimSettings(enabled=True, quiet_factor=1.0, quiet_cycles=1), policy=1)
    (decision,) = _run(step, [7000.0])
    assert decision.controller == "ppo+slo-guard"
    assert decision.trimmed_from is None


def test_a_hold_factor_keeps_the_trim_between_quiet_and_hold() -> None:
    trim = MarginTrim(MarginTrimSettings(quiet_factor=0.5, quiet_cycles=2, hold_factor=0.9))
    assert not trim.observe(400.0, SLO)  # quiet: 1 of 2
    assert not trim.observe(1200.0, SLO)  # not quiet and not yet active: the run restarts
    trim.observe(400.0, SLO)
    assert trim.observe(400.0, SLO)
    assert trim.observe(1700.0, SLO)  # 0.85 x SLO: held
    assert not trim.observe(1800.0, SLO)  # 0.9 x SLO: ends it
    assert trim.quiet == 0


def test_a_hold_factor_below_the_quiet_factor_is_refused() -> None:
    with pytest.raises(ValueError, match="hold_factor must be in"):
        MarginTrimSettings(quiet_factor=0.8, hold_factor=0.7)
    with pytest.raises(ValidationError, match="hold_factor"):
        MarginTrimDefaults(quiet_factor=0.8, hold_factor=0.7)
