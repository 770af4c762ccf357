"""The headroom floor (pure logic) and where the decision step applies it."""

from __future__ import annotations

import numpy as np
import pytest

from hrl_autoscaler.config import GuardrailDefaults, SimParams, load_operator_settings
from hrl_autoscaler.config.stages import HeadroomDefaults
from hrl_autoscaler.runtime.core.annotations import PREFIX, TARGET_ANNOTATION
from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings
from hrl_autoscaler.runtime.core.breachfloor import BreachFloorSettings
from hrl_autoscaler.runtime.core.calmrule import CalmRuleSettings
from hrl_autoscaler.runtime.core.decision import Decision, DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.fallrelease import FallReleaseSettings
from hrl_autoscaler.runtime.core.headroom import (
    Headroom,
    HeadroomSettings,
    Replay,
    ReplayModel,
    floor_scores,
    running_counts,
)
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.raisecap import RaiseCapSettings
from hrl_autoscaler.runtime.core.sloguard import SloGuardSettings
from hrl_autoscaler.runtime.core.surge import SurgeSettings
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

from .test_pipeline import KEY, make, sample
from .test_raise_cap import NO_TRIM, _step  # a fixed policy, one confirmation

SLO = 2000.0
P = SimParams()
MODEL = ReplayModel(1000.0, P, (1, 20), SLO, 30.0)


def bursts(
    size: int, every: int, length: int, base: float = 1000.0, peak: float = 8000.0
) -> np.ndarray:
    """``base`` events/s with ``length`` decisions at ``peak`` every ``every`` decisions."""
    inputs = np.full(size, base)
    for start in range(every // 2, size, every):
        inputs[start : start + length] = peak
    return inputs


def reactive(inputs: np.ndarray, per_executor: float = 700.0) -> np.ndarray:
    """What a count that follows the input decides: enough for each decision's input."""
    return np.clip(np.ceil(inputs / per_executor), 1, 20).astype(int)


# -- the module -------------------------------------------------------------------------------


def test_on_by_default_at_the_validated_setting() -> None:
    default = DecisionOptions().headroom
    assert default.enabled
    assert (default.window, default.every, default.anchored, default.parts) == (480, 60, True, 2)
    assert HeadroomDefaults().model_dump() == {
        k: getattr(default, k) for k in HeadroomDefaults.model_fields
    }


def test_a_raise_works_a_start_up_late_and_a_lowering_at_once() -> None:
    decided = np.array([2, 2, 8, 8, 8, 8, 3, 3])
    assert MODEL.lag == 2  # 45 s of start-up at 30 s a decision
    assert running_counts(decided, 2).tolist() == [2, 2, 2, 2, 8, 8, 3, 3]
    assert running_counts(decided, 1).tolist() == [2, 2, 2, 8, 8, 8, 3, 3]


def test_load_the_reactive_count_carries_needs_no_floor() -> None:
    inputs = np.full(240, 3000.0)
    scores, _ = floor_scores(inputs, reactive(inputs), MODEL)
    assert scores.shape == (1, 20)
    assert int(np.argmax(scores[0])) == 0  # none: every floor only costs
    assert np.all(np.diff(scores[0][4:]) < 0)  # above the count that runs, each costs more


def test_recurring_bursts_a_reactive_count_meets_late_pay_for_a_floor() -> None:
    """Bursts to 8,000 events/s for four decisions every twenty: the reactive count runs two
    decisions short at each, 10% of the intervals over the SLO; a floor that carries most of
    a burst scores higher in both halves of the window."""
    inputs = bursts(240, every=20, length=4)
    scores, _ = floor_scores(inputs, reactive(inputs), MODEL, parts=2)
    gains = (scores - scores[:, :1]).min(axis=0)
    best = int(np.argmax(gains))
    assert best > 0
    assert gains[best] > 0.1
    assert 1 + best >= 6  # enough to carry most of the burst before its executors start


def test_a_single_rush_pays_in_one_part_only_and_is_not_floored() -> None:
    inputs = np.full(240, 1000.0)
    inputs[20:60] = 8000.0  # one long rush in the first half, none in the second
    head = Headroom(HeadroomSettings(window=240, every=1, parts=2))
    single = Headroom(HeadroomSettings(window=240, every=1, parts=1))
    for h in (head, single):
        for x, d in zip(inputs, reactive(inputs), strict=True):
            h.lift(float(x), True, int(d), lambda: None)
    assert head.choose(MODEL) is None
    assert head.why == ""


def test_anchoring_cancels_a_breach_the_replay_overstates() -> None:
    """The same bursts, but every interval's measured latency met the SLO (the real count
    coped where the model's lag says it could not): anchored, the floor's gain in
    attainment lifts nothing above 100% and no floor pays (the model-error gate wide open,
    so that the anchoring alone decides)."""
    inputs = bursts(240, every=20, length=4)
    settings = HeadroomSettings(window=240, every=1, parts=1, max_model_error=1.0)
    measured, unanchored = (
        Headroom(settings),
        Headroom(HeadroomSettings(window=240, every=1, parts=1, anchored=False)),
    )
    for h in (measured, unanchored):
        for x, d in zip(inputs, reactive(inputs), strict=True):
            h.lift(float(x), True, int(d), lambda: None)
    assert measured.choose(MODEL) is None
    assert unanchored.choose(MODEL) is not None


def test_a_replay_that_misses_what_ran_keeps_no_floor() -> None:
    """Bursts a reactive count meets late. Measured as the replay has it, the floor stands;
    measured all within the SLO (the model describes some other load), the replay misses
    what ran by far more than the error allowed, and no floor is kept."""
    inputs, decided = bursts(240, every=20, length=4), reactive(bursts(240, every=20, length=4))
    as_replayed = Replay(inputs, MODEL).met(running_counts(decided, MODEL.lag))
    _, miss = floor_scores(inputs, decided, MODEL, (decided, as_replayed))
    assert miss.tolist() == [0.0]
    settings = HeadroomSettings(window=240, every=1, parts=1, max_model_error=0.05)
    agreeing, missing = Headroom(settings), Headroom(settings)
    for x, d, met in zip(inputs, decided, as_replayed, strict=True):
        agreeing.lift(float(x), bool(met), int(d), lambda: None)
        missing.lift(float(x), True, int(d), lambda: None)
    assert agreeing.choose(MODEL) is not None
    assert missing.choose(MODEL) is None


def test_the_floor_is_chosen_once_a_window_is_in_then_every_so_often() -> None:
    settings = HeadroomSettings(window=40, every=20, parts=1, anchored=False)
    head = Headroom(settings)
    inputs = bursts(200, every=10, length=3)
    asked: list[int] = []

    def model() -> ReplayModel:
        asked.append(len(head.inputs))
        return MODEL

    lifted = []
    for x in inputs:
        lifted.append(head.lift(float(x), False, 2, model))
    assert asked[0] == 40  # not before a whole window
    assert np.diff(asked).tolist() == [0] * (len(asked) - 1)  # the window stays whole
    assert len(asked) == (200 - 40) // 20  # every 20 decisions after it
    assert head.floor is not None
    assert head.floor > 2
    target, why = lifted[-1]
    assert target == head.floor
    assert why.startswith("headroom: the last 0.33 h of load replayed score")
    assert f"with at least {head.floor} executors" in why
    assert head.lift(1000.0, True, 19, model) == (19, "")  # above the floor: nothing to say


def test_nothing_measured_yet_chooses_nothing() -> None:
    head = Headroom(HeadroomSettings(window=2, every=1))
    for _ in range(5):
        assert head.lift(8000.0, False, 1, lambda: None) == (1, "")
    assert head.floor is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 1}, "window must be >= 2"),
        ({"every": 0}, "every must be >= 1"),
        ({"window": 4, "parts": 5}, "parts must be in"),
        ({"parts": 0}, "parts must be in"),
        ({"max_model_error": 1.5}, "max_model_error must be in"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HeadroomSettings(**kwargs)  # type: ignore[arg-type]


# -- the decision step ------------------------------------------------------------------------


def _options(headroom: HeadroomSettings) -> DecisionOptions:
    """Every other stage off: the fixed policy's count is what the step decides."""
    return DecisionOptions(
        fallback=False,
        slo_guard=SloGuardSettings(enabled=False),
        calm_rule=CalmRuleSettings(enabled=False),
        margin_trim=NO_TRIM,
        raise_cap=RaiseCapSettings(enabled=False),
        anticipation=AnticipationSettings(enabled=False),
        surge=SurgeSettings(enabled=False),
        fall_release=FallReleaseSettings(enabled=False),
        breach_floor=BreachFloorSettings(enabled=False),
        headroom=headroom,
    )


def _run(step: DecisionStep, objective: str = "slo") -> list[Decision]:
    """Bursts every ten decisions that two executors meet late (latency 3 x SLO at their
    first two decisions); one busy executor does 1,000 events/s."""
    decisions, executors = [], 2
    for i, rate in enumerate(bursts(120, every=10, length=3)):
        late = rate > 1000.0 and i % 10 < 7
        metrics = SystemMetrics(
            rate,
            rate,
            0.0,
            min(1.0, rate / 1000.0 / executors),
            0.3,
            3 * SLO if late else 500.0,
            executors,
            executors,
            time_s=30.0 * i,
        )
        decision = step.decide(metrics, FIXED_BASELINE, SLO, objective=objective)
        decisions.append(decision)
        executors = decision.target
    return decisions


def test_in_place_the_step_lifts_its_target_to_the_floor_and_says_why() -> None:
    settings = HeadroomSettings(window=40, every=20, parts=1, anchored=False)
    decisions = _run(_step(2, _options(settings)))
    assert all(d.headroom_from is None for d in decisions[:40])  # a whole window first
    lifted = [d for d in decisions if d.headroom_from is not None]
    assert lifted, "no floor on bursts two executors meet late"
    first = lifted[0]
    assert (first.headroom_from, first.controller) == (2, "ppo+headroom")
    assert first.target > 2
    assert first.proposed == 2
    assert first.reasons[0].startswith("headroom: the last")


def test_under_restart_actuation_or_r_meta_no_floor() -> None:
    settings = HeadroomSettings(window=40, every=20, parts=1)
    restart = _run(_step(2, _options(settings), actuation="restart"))
    r_meta = _run(_step(2, _options(settings)), objective="r_meta")
    off = _run(_step(2, _options(HeadroomSettings(enabled=False))))
    for decisions in (restart, r_meta, off):
        assert all(d.headroom_from is None and d.target == 2 for d in decisions)


def test_through_the_loop_the_floor_is_written_and_the_event_says_why() -> None:
    """The operator's pipeline, in place, every other stage off: two executors meet a burst
    every four decisions late (latency 2.5 x SLO); once the window is in, the floor is
    written as the in-place target and the decision's event gives the replay's reason."""
    off = {
        name: getattr(GuardrailDefaults(), name).model_copy(update={"enabled": False})
        for name in (
            "calm_rule",
            "margin_trim",
            "raise_cap",
            "breach_floor",
            "surge",
            "fall_release",
            "anticipation",
        )
    }
    headroom = HeadroomDefaults(window=8, every=4, parts=1, anchored=False)
    base = load_operator_settings()
    guardrails = base.guardrails.model_copy(
        update={**off, "slo_guard": False, "headroom": headroom}
    )
    settings = base.model_copy(update={"guardrails": guardrails})
    h = make({PREFIX + "actuation": "in-place"}, wanted=2, settings=settings)
    for i in range(16):
        burst = i % 4 == 1
        h.source.samples[KEY] = sample(
            input_eps=8000.0 if burst else 1000.0,
            processing_eps=2000.0 if burst else 1000.0,
            active=2.0 if burst else 1.0,
            running=2,
            latency_ms=2.5 * 2000.0 if burst else 500.0,
        )
        h.cycle()
    lifted = [d for d in h.telemetry.decisions if d.controller.endswith("+headroom")]
    assert lifted, [d.controller for d in h.telemetry.decisions]
    floor = lifted[0].target
    assert floor > 2
    assert str(floor) in [a[TARGET_ANNOTATION] for a in h.cluster.annotation_patches()]
    assert any("headroom: the last" in e.message for _, e in h.events.events)
