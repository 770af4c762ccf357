"""Per-application annotations: values, defaults, and errors that say what is accepted."""

from __future__ import annotations

import pytest

from hrl_autoscaler.config import AnnotationDefaults
from hrl_autoscaler.core.annotations import (
    ACCEPTED,
    PREFIX,
    AppSettings,
    resolve_settings,
    target_annotation,
    weight_annotations,
)
from hrl_autoscaler.core.weights import FIXED_BASELINE, PRESETS, Weights

DEFAULTS = AnnotationDefaults()


def _resolve(last_good: AppSettings | None = None, **annotations: str):  # type: ignore[no-untyped-def]
    return resolve_settings(
        {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()}, DEFAULTS, last_good
    )


def test_no_annotations_give_the_defaults() -> None:
    r = _resolve()
    assert r.valid
    assert r.errors == ()
    s = r.settings
    assert (s.weight_policy, s.mode, s.actuation, s.objective) == ("meta", "auto", "restart", "slo")
    assert (s.min_executors, s.max_executors) == (1, 20)
    assert s.weights() == FIXED_BASELINE


def test_every_annotation_is_read() -> None:
    s = _resolve(
        weight_policy="fixed",
        alpha="2",
        beta="1",
        gamma="1",
        min_executors="2",
        max_executors="12",
        mode="recommend",
        actuation="in-place",
        latency_slo_ms="1500",
        cost_per_executor_hour="0.8",
        objective="r_meta",
    ).settings
    assert s.weights() == Weights.of(2, 1, 1)
    assert (s.min_executors, s.max_executors, s.mode, s.actuation) == (
        2,
        12,
        "recommend",
        "in-place",
    )
    assert (s.latency_slo_ms, s.cost_per_executor_hour, s.objective) == (1500.0, 0.8, "r_meta")


def test_a_preset_ignores_annotated_weights() -> None:
    s = _resolve(weight_policy="latency-first", alpha="1", beta="0", gamma="0").settings
    assert s.weights() == PRESETS["latency-first"]


@pytest.mark.parametrize(
    ("annotation", "value", "accepted"),
    [
        ("mode", "fast", "one of auto, recommend, paused"),
        ("actuation", "hot-swap", "one of restart, in-place"),
        (
            "weight-policy",
            "cheap",
            "one of meta, fixed, balanced, cost-first, latency-first, throughput-first",
        ),
        ("min-executors", "0", "an integer >= 1"),
        ("max-executors", "many", "an integer >= 1"),
        ("alpha", "-1", "a number >= 0"),
        ("latency-slo-ms", "0", "a number > 0"),
        ("cost-per-executor-hour", "nan", "a number > 0"),
        ("objective", "profit", "one of slo, r_meta"),
    ],
)
def test_errors_name_the_annotation_the_value_and_what_is_accepted(
    annotation: str, value: str, accepted: str
) -> None:
    r = resolve_settings({PREFIX + annotation: value}, DEFAULTS, None)
    assert not r.valid
    [error] = r.errors
    assert error.annotation == PREFIX + annotation
    assert error.value == value
    assert error.accepted == accepted
    assert str(error) == f"{PREFIX}{annotation}={value!r} is not accepted: {accepted}"
    assert ACCEPTED[PREFIX + annotation] == accepted


def test_min_above_max_is_an_error() -> None:
    r = _resolve(min_executors="8", max_executors="4")
    [error] = r.errors
    assert error.annotation == PREFIX + "min-executors"
    assert "at most hrl-autoscaler.io/max-executors (4)" in error.accepted


def test_fixed_weights_must_be_complete_and_not_all_zero() -> None:
    [error] = _resolve(weight_policy="fixed", alpha="1").errors
    assert error.annotation == f"{PREFIX}beta, {PREFIX}gamma"
    [error] = _resolve(weight_policy="fixed", alpha="0", beta="0", gamma="0").errors
    assert "not all 0" in error.accepted
    # in meta mode all-zero weights would break the policy's input as well
    assert _resolve(alpha="0", beta="0", gamma="0").errors


def test_bad_values_keep_the_last_good_settings() -> None:
    good = _resolve(mode="recommend", max_executors="8").settings
    r = _resolve(good, mode="fast", max_executors="10")
    assert r.settings == good
    assert not r.valid


def test_first_sight_with_a_bad_value_uses_defaults_for_that_key_only() -> None:
    r = _resolve(mode="fast", max_executors="10")
    assert r.settings.mode == "auto"
    assert r.settings.max_executors == 10


def test_target_annotation_and_weight_formatting() -> None:
    assert target_annotation({PREFIX + "target-executors": "7"}) == 7
    assert target_annotation({PREFIX + "target-executors": "x"}) is None
    assert target_annotation({PREFIX + "target-executors": "0"}) is None
    assert target_annotation({}) is None
    assert weight_annotations(Weights.of(1, 1, 2)) == {
        PREFIX + "alpha": "0.250",
        PREFIX + "beta": "0.250",
        PREFIX + "gamma": "0.500",
    }
