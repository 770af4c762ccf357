"""Excluded periods, finer pauses and scale-down damping (issue 15), from syntax to the loop.

The period syntax is checked against the calendar (days, zones, midnight, daylight saving);
the annotations against the same strict rules as every other; the loop with the fake cluster of
:mod:`tests.unit.test_pipeline`: what it patched, said and exported.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest

from hrl_autoscaler.config import AnnotationDefaults, load_operator_settings
from hrl_autoscaler.config.periods import next_change, parse_periods
from hrl_autoscaler.runtime.core.annotations import (
    ACCEPTED,
    OPERATOR_ANNOTATIONS,
    PREFIX,
    TARGET_ANNOTATION,
    resolve_settings,
)
from hrl_autoscaler.runtime.core.guardrails import Guardrails, GuardrailSettings
from hrl_autoscaler.runtime.core.reporting import Reason, parse_message
from hrl_autoscaler.runtime.service.telemetry import OperatorMetrics

from .test_pipeline import KEY, FakeClock, make, sample

# 2026-12-07 is a Monday.
MONDAY_NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# -- the period syntax -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("periods", "at", "inside"),
    [
        ("Mon-Fri 22:00-02:00 Europe/Berlin", "2026-12-04T21:30:00+00:00", True),  # Fri 22:30
        ("Mon-Fri 22:00-02:00 Europe/Berlin", "2026-12-05T00:59:00+00:00", True),  # Sat 01:59
        ("Mon-Fri 22:00-02:00 Europe/Berlin", "2026-12-05T01:00:00+00:00", False),  # Sat 02:00
        ("Mon-Fri 22:00-02:00 Europe/Berlin", "2026-12-05T21:30:00+00:00", False),  # Sat 22:30
        ("Mon-Fri 22:00-02:00 Europe/Berlin", "2026-12-07T00:30:00+00:00", False),  # Mon 01:30
        ("Mon-Fri 22:00-02:00 Europe/Berlin", "2026-07-06T20:30:00+00:00", True),  # CEST 22:30
        ("sat,SUN 00:00-24:00", "2026-12-06T23:59:00+00:00", True),
        ("sat,SUN 00:00-24:00", "2026-12-07T00:00:00+00:00", False),
        ("Fri-Mon 09:00-10:00", "2026-12-06T09:30:00+00:00", True),  # a wrapping day range
        ("Fri-Mon 09:00-10:00", "2026-12-08T09:30:00+00:00", False),
        ("09:00-10:00 America/New_York", "2026-12-08T14:30:00+00:00", True),
        ("* * 28-31 * *", "2026-12-28T00:00:00+00:00", True),
        ("* * 28-31 * *", "2026-12-27T23:59:00+00:00", False),
        ("* 9-11 * * 1-5", "2026-12-07T11:59:00+00:00", True),
        ("* 9-11 * * 1-5", "2026-12-06T10:00:00+00:00", False),  # Sunday
        ("*/15 * * * 0", "2026-12-06T10:30:00+00:00", True),  # Sunday as 0
        ("*/15 * * * 7", "2026-12-06T10:30:00+00:00", True),  # and as 7
        ("*/15 * * * 7", "2026-12-06T10:31:00+00:00", False),
        ("* * 1 * 1", "2026-12-01T10:00:00+00:00", False),  # both day fields must match
        ("* 0 * * * Asia/Tokyo", "2026-12-06T15:30:00+00:00", True),  # 00:30 in Tokyo
        ("10:00-11:00; 14:00-15:00", "2026-12-06T14:00:00+00:00", True),
        ("", "2026-12-06T14:00:00+00:00", False),
    ],
)
def test_a_period_contains_what_its_text_says(periods: str, at: str, inside: bool) -> None:
    assert (parse_periods(periods).active(_at(at)) is not None) == inside


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon-Fri 25:00-02:00", "not a time range of a day"),
        ("10:00-10:00", "empty"),
        ("Funday 10:00-11:00", "neither"),
        ("1 2 3 4", "neither"),
        ("10:00-11:00 Mars/Olympus", "not a known time zone"),
        ("10:00-11:00 ../etc/passwd", "not a known time zone"),
        ("* * 32 * *", "outside 1-31"),
        ("*/0 * * * *", "positive"),
        ("5-2 * * * *", "outside 0-59"),
        (";".join(["10:00-11:00"] * 40), "more than 32"),
    ],
)
def test_a_bad_period_is_named(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_periods(text)


def test_next_change_finds_the_edge_of_the_window() -> None:
    periods = parse_periods("Mon 12:00-12:30; Mon 12:30-13:00")
    assert next_change(periods, MONDAY_NOON + 60) == MONDAY_NOON + 3600  # adjacent: one window
    assert next_change(periods, MONDAY_NOON + 7200) == MONDAY_NOON + 7 * 86400
    assert next_change(parse_periods("00:00-24:00"), MONDAY_NOON) == float("inf")


# -- the annotations -------------------------------------------------------------------------


def _resolve(**annotations: str):  # type: ignore[no-untyped-def]
    body = {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()}
    return resolve_settings(body, AnnotationDefaults(), None)


def test_modifier_annotations_parse_and_show_in_the_settings_line() -> None:
    r = _resolve(
        excluded_periods=" Sat 00:00-24:00 UTC ",
        paused_scale_in="TRUE",
        paused_scale_out="false",
        paused_executors="4",
        scale_down_confirmations="3",
        scale_down_max_step="2",
        scale_down_max_factor="0.5",
        cooldown_seconds="60",
    )
    assert r.valid, r.errors
    s = r.settings
    assert s.excluded_periods == "Sat 00:00-24:00 UTC"
    assert (s.paused_scale_in, s.paused_scale_out, s.paused_executors) == (True, False, 4)
    assert s.damping_key() == (3, 2, 0.5, 60.0)
    assert s.active_pauses() == ("paused-scale-in", "paused-executors")
    assert "paused-executors=4 paused-scale-in" in s.describe()
    assert "excluded-periods='Sat 00:00-24:00 UTC'" in s.describe()
    # the damping annotations rebuild the guardrails
    assert s.guardrail_key() != _resolve().settings.guardrail_key()
    assert _resolve().settings.describe().endswith("executors=[1,20]")  # nothing set: as before


@pytest.mark.parametrize(
    ("annotation", "value", "accepted"),
    [
        ("paused-scale-in", "yes", "true or false"),
        ("paused-executors", "0", "an integer from 1 to 1000"),
        ("scale-down-confirmations", "1001", "an integer from 1 to 1000"),
        ("scale-down-max-step", "two", "an integer from 1 to 1000"),
        ("scale-down-max-factor", "0", "a number > 0 and <= 1"),
        ("scale-down-max-factor", "1.5", "a number > 0 and <= 1"),
        ("cooldown-seconds", "-1", "a number >= 0 and <= 86400"),
        ("excluded-periods", "Mon-Fri 9-17", "periods separated by ';'"),
    ],
)
def test_a_bad_modifier_is_rejected_with_what_is_accepted(
    annotation: str, value: str, accepted: str
) -> None:
    r = resolve_settings({PREFIX + annotation: value}, AnnotationDefaults(), None)
    [error] = r.errors
    assert error.annotation == PREFIX + annotation
    assert error.accepted.startswith(accepted)
    assert error.accepted.startswith(ACCEPTED[PREFIX + annotation])


def test_a_bad_period_says_what_is_wrong_with_it() -> None:
    body = {PREFIX + "excluded-periods": "Mon-Fri 22:00-02:00 Europe/Berln"}
    [error] = resolve_settings(body, AnnotationDefaults(), None).errors
    assert error.accepted.endswith("; here 'Europe/Berln' is not a known time zone")


def test_each_modifier_field_is_named_after_its_annotation() -> None:
    """The annotations' rule (tools read it): ``a-b-c`` sets the settings field ``a_b_c``."""
    fields = set(_resolve().settings.model_dump())
    for annotation in ACCEPTED:
        suffix = annotation.removeprefix(PREFIX)
        if annotation not in OPERATOR_ANNOTATIONS:
            assert suffix.replace("-", "_") in fields, annotation


def test_a_bad_modifier_keeps_its_last_good_value() -> None:
    good = _resolve(paused_scale_out="true", excluded_periods="Sat 00:00-24:00").settings
    body = {PREFIX + "paused-scale-out": "maybe", PREFIX + "excluded-periods": "Sat 25:00-26:00"}
    r = resolve_settings(body, AnnotationDefaults(), good)
    assert len(r.errors) == 2
    assert r.settings.paused_scale_out
    assert r.settings.excluded_periods == "Sat 00:00-24:00"


def test_settings_stored_before_the_modifiers_still_load() -> None:
    stored = _resolve().settings.model_dump()
    for name in ("excluded_periods", "paused_scale_in", "paused_executors", "cooldown_seconds"):
        del stored[name]
    assert type(_resolve().settings).model_validate(stored) == _resolve().settings


# -- the guardrails ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "factor", "current", "floor"),
    [
        (None, 1.0, 10, 0),
        (2, 1.0, 10, 8),
        (None, 0.5, 10, 5),
        (None, 0.6, 10, 4),  # Flink: 60% down at most
        (None, 0.1, 3, 2),  # always at least one executor down
        (3, 0.5, 10, 7),  # the stricter wins
    ],
)
def test_scale_down_floor(step: int | None, factor: float, current: int, floor: int) -> None:
    settings = GuardrailSettings(max_step_down=step, scale_down_max_factor=factor)
    assert settings.scale_down_floor(current) == floor


def test_the_scale_down_floor_limits_a_confirmed_scale_down() -> None:
    guard = Guardrails(GuardrailSettings(scale_down_confirmations=1, scale_down_max_factor=0.5))
    decision = guard.apply(1, 10, 0.0)
    assert decision.target == 5
    assert decision.reasons == ("scale-down limited to 5 (scale-down max step / max factor)",)
    assert guard.apply(12, 5, 1.0).target == 12  # scale-ups are not limited by it


# -- excluded periods in the loop --------------------------------------------------------------


def _window(clock: FakeClock, minutes: int) -> str:
    """A daily UTC window from the clock's current minute, ``minutes`` long."""
    now = datetime.fromtimestamp(clock.now(), UTC)
    start = now.hour * 60 + now.minute
    end = (start + minutes) % 1440
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d} UTC"


def test_inside_an_excluded_period_auto_only_recommends() -> None:
    clock = FakeClock(MONDAY_NOON)
    h = make({PREFIX + "excluded-periods": _window(clock, 3)}, clock=clock)
    for _ in range(4):  # 12:00:30 .. 12:02:00
        h.cycle()
    assert h.cluster.patches == []
    [started] = h.events.of(Reason.EXCLUDED_PERIOD_STARTED)
    fields = parse_message(started.message)
    assert fields["period"] == "12:00-12:03 UTC"
    assert fields["until"] == "2026-12-07T12:03Z"
    assert fields["mode"] == "recommend"
    [recommendation] = h.events.of(Reason.SCALING_RECOMMENDATION)
    rec = parse_message(recommendation.message)
    assert (rec["executors"], rec["mode"]) == ("2->6", "recommend")
    assert "excluded: 12:00-12:03 UTC" in rec["notes"]
    assert all(d.excluded and d.mode == "recommend" for d in h.telemetry.decisions)
    assert h.events.of(Reason.SCALING_DECISION) == []
    h.cycle(60.0)  # 12:03: the window is over, auto acts at once (a recommendation starts
    assert h.cluster.spec_patches() == [6]  # no cooldown)
    [ended] = h.events.of(Reason.EXCLUDED_PERIOD_ENDED)
    assert parse_message(ended.message) == {"period": "12:00-12:03 UTC", "mode": "auto"}
    assert not h.telemetry.decisions[-1].excluded
    assert h.telemetry.decisions[-1].mode == "auto"


def test_the_chart_default_periods_apply_and_a_bad_default_stops_the_start() -> None:
    clock = FakeClock(MONDAY_NOON)
    settings = load_operator_settings(defaults={"excluded_periods": "Mon 00:00-24:00"})
    h = make(settings=settings, clock=clock)
    h.cycle()
    assert h.cluster.patches == []
    assert h.events.of(Reason.EXCLUDED_PERIOD_STARTED)
    h.annotate(excluded_periods="")  # an application opts out of the fleet's window
    h.cycle()
    assert h.cluster.spec_patches() == [6]
    with pytest.raises(
        ValueError, match=r"excluded_periods\n.*'Mars/Olympus' is not a known time zone"
    ):
        make(
            settings=load_operator_settings(defaults={"excluded_periods": "1:00-2:00 Mars/Olympus"})
        )


# -- pauses in the loop ------------------------------------------------------------------------


def test_paused_scale_out_holds_and_says_so_once() -> None:
    h = make({PREFIX + "paused-scale-out": "true"})
    for _ in range(3):
        h.cycle()
    assert h.cluster.patches == []
    [paused] = h.events.of(Reason.SCALING_PAUSED)
    fields = parse_message(paused.message)
    assert fields["pause"] == "paused-scale-out"
    assert fields["reason"] == "paused-scale-out: scale-up to 6 held at 2"
    assert (fields["executors"], fields["proposed"]) == ("2", "6")
    runtime = h.autoscaler.runtime(KEY)
    assert runtime is not None
    assert runtime.wanted == 2  # no budget room kept for a held count
    h.annotate(paused_scale_out="false")
    h.cycle()
    assert h.cluster.spec_patches() == [6]
    assert runtime.wanted == 6


def test_paused_scale_in_holds_a_confirmed_scale_down_but_not_a_scale_up() -> None:
    annotations = {PREFIX + "actuation": "in-place", PREFIX + "paused-scale-in": "true"}
    h = make(annotations, instances=8, wanted=3)
    for _ in range(12):
        h.cycle()
    assert h.cluster.patches == []
    assert [parse_message(e.message)["pause"] for e in h.events.of(Reason.SCALING_PAUSED)] == [
        "paused-scale-in"
    ]
    h.policy.wanted = 10
    h.source.samples[KEY] = sample(latency_ms=1800.0)  # not quiet: the margin trim lets go
    h.cycle()
    assert [a[TARGET_ANNOTATION] for a in h.cluster.annotation_patches()] == ["10"]


def test_paused_executors_moves_past_the_cooldown_then_holds() -> None:
    h = make()
    h.cycle()
    assert h.cluster.spec_patches() == [6]
    h.annotate(paused_executors="3")
    h.cycle()  # 30 s after the change: well inside the 300 s cooldown
    assert h.cluster.spec_patches() == [6, 3]
    [moved] = h.events.of(Reason.SCALING_DECISION)[1:]
    assert parse_message(moved.message)["notes"] == "paused-executors: moving to 3"
    h.policy.wanted = 9
    for _ in range(15):
        h.cycle()
    assert h.cluster.spec_patches() == [6, 3]
    [held] = h.events.of(Reason.SCALING_PAUSED)
    assert parse_message(held.message)["reason"] == "paused-executors: held at 3 (wanted 9)"
    h.annotate(paused_executors="")  # an empty value is rejected: kept at its last good value
    h.cycle()
    assert h.cluster.spec_patches() == [6, 3]
    assert h.events.of(Reason.INVALID_ANNOTATION)


def test_paused_executors_in_recommend_mode_only_recommends() -> None:
    h = make({PREFIX + "mode": "recommend", PREFIX + "paused-executors": "4"})
    h.cycle()
    assert h.cluster.patches == []
    [rec] = h.events.of(Reason.SCALING_RECOMMENDATION)
    assert parse_message(rec.message)["executors"] == "2->4"


# -- damping overrides in the loop -------------------------------------------------------------


def _scale_down_after(annotations: dict[str, str], cycles: int) -> list[str]:
    body = {PREFIX + "actuation": "in-place", **{PREFIX + k: v for k, v in annotations.items()}}
    h = make(body, instances=10, wanted=2)
    for _ in range(cycles):
        h.cycle()
    return [a[TARGET_ANNOTATION] for a in h.cluster.annotation_patches()]


def test_scale_down_confirmations_override() -> None:
    assert _scale_down_after({}, 3) == []  # the default: 10 confirmations
    assert _scale_down_after({"scale-down-confirmations": "3"}, 3) == ["2"]


def test_scale_down_max_step_and_max_factor_slow_the_descent() -> None:
    fast = {"scale-down-confirmations": "1"}
    assert _scale_down_after(fast, 3) == ["2"]
    assert _scale_down_after({**fast, "scale-down-max-step": "3"}, 3) == ["7", "4", "2"]
    assert _scale_down_after({**fast, "scale-down-max-factor": "0.5"}, 3) == ["5", "3", "2"]


def test_cooldown_seconds_override() -> None:
    h = make({PREFIX + "cooldown-seconds": "30"})
    h.cycle()
    h.policy.wanted = 9
    h.cycle()  # 30 s later: the default restart cooldown (300 s) would hold
    assert h.cluster.spec_patches() == [6, 9]


# -- metrics ------------------------------------------------------------------------------------


def test_excluded_and_paused_are_exported_and_forgotten() -> None:
    from hrl_autoscaler.runtime.core.ports import DecisionRecord

    m = OperatorMetrics()
    s = _resolve(paused_scale_out="true", paused_executors="5").settings
    m.app_seen(KEY, s, s.weights(), 2)
    m.decision(KEY, DecisionRecord(2, 2, 6, "ppo", "recommend", 0.001, excluded=True))
    text = generate_latest(m.registry).decode()
    app = 'application="hospital",namespace="iot"'
    assert f"hrl_autoscaler_excluded{{{app}}} 1.0" in text
    assert f'hrl_autoscaler_paused{{{app},pause="paused-scale-out"}} 1.0' in text
    assert f'hrl_autoscaler_paused{{{app},pause="paused-scale-in"}} 0.0' in text
    assert f"hrl_autoscaler_paused_executors{{{app}}} 5.0" in text
    m.forget(KEY)
    text = generate_latest(m.registry).decode()
    assert "hospital" not in text
