"""Per-application annotations: values, defaults, and errors that say what is accepted."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrl_autoscaler.config import AnnotationDefaults
from hrl_autoscaler.runtime.core.annotations import (
    ACCEPTED,
    PREFIX,
    AppSettings,
    resolve_settings,
    target_annotation,
    weight_annotations,
)
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE, PRESETS, Weights

DEFAULTS = AnnotationDefaults()
#: Generated inputs per property test: a few hundred in CI, 10,000+ in the bench run
#: (``bench/fuzz_inputs.py`` sets HRL_FUZZ_EXAMPLES).
FUZZ_EXAMPLES = int(os.environ.get("HRL_FUZZ_EXAMPLES", "300"))


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
        ("min-executors", "0", "an integer from 1 to 1000 (ASCII digits)"),
        ("max-executors", "many", "an integer from 1 to 1000 (ASCII digits)"),
        ("alpha", "-1", "a number >= 0 and <= 1000"),
        ("latency-slo-ms", "0", "a number > 0 and <= 8.64e+07"),
        ("cost-per-executor-hour", "nan", "a number > 0 and <= 1000"),
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


def test_a_bad_value_keeps_the_last_good_value_of_that_key_only() -> None:
    """Per key: a typo in one annotation must not freeze the others (the meta-controller's
    weights above all, which it rewrites every interval)."""
    good = _resolve(mode="recommend", max_executors="8").settings
    r = _resolve(good, mode="fast", max_executors="10")
    assert not r.valid
    assert r.settings.mode == "recommend"
    assert r.settings.max_executors == 10


def test_weights_written_beside_an_invalid_annotation_are_in_force() -> None:
    """Issue 17.2: with ``min-executors=abc`` the meta-controller's new weights still apply."""
    good = _resolve(alpha="0.333", beta="0.333", gamma="0.333").settings
    r = _resolve(good, min_executors="abc", alpha="0.900", beta="0.050", gamma="0.050")
    assert not r.valid
    assert r.settings.weights() == Weights.of(0.9, 0.05, 0.05)
    assert r.settings.min_executors == good.min_executors


def test_bounds_in_conflict_fall_back_together() -> None:
    good = _resolve(min_executors="2", max_executors="6").settings
    r = _resolve(good, min_executors="9", max_executors="4")
    assert (r.settings.min_executors, r.settings.max_executors) == (2, 6)


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


# -- values that parse but no arithmetic survives (issue 17.1) -----------------------------------


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        ("alpha", "1e308"),  # finite, but three of them sum to inf
        ("beta", "1e309"),  # overflows to inf
        ("gamma", "1" + "0" * 3000),  # 10^3000
        ("alpha", "inf"),
        ("alpha", "NaN"),
        ("alpha", "1_0"),
        ("alpha", "\u0661"),  # ARABIC-INDIC DIGIT ONE: float() reads it as 1.0
        ("min-executors", "1_000"),
        ("min-executors", "\u0662"),  # int() reads it as 2
        ("max-executors", "\uff11\uff10"),  # fullwidth 10
        ("max-executors", "1001"),
        ("max-executors", "10" + "0" * 400),
        ("max-executors", "4.0"),
        ("latency-slo-ms", "1e12"),
        ("latency-slo-ms", "-5"),
        ("cost-per-executor-hour", "1e6"),
        ("cost-per-executor-hour", "0x10"),
        ("min-executors", ""),
        ("min-executors", "-1"),
    ],
)
def test_out_of_range_and_non_ascii_numbers_are_rejected(annotation: str, value: str) -> None:
    r = resolve_settings({PREFIX + annotation: value}, DEFAULTS, None)
    assert not r.valid
    assert [e.annotation for e in r.errors] == [PREFIX + annotation]
    r.settings.weights()  # the settings in force are usable


def test_the_outage_annotation_set_is_rejected_and_usable() -> None:
    """The reported outage: weight-policy fixed with alpha=beta=gamma=1e308."""
    r = _resolve(weight_policy="fixed", alpha="1e308", beta="1e308", gamma="1e308")
    assert not r.valid
    assert {e.annotation for e in r.errors} == {PREFIX + "alpha", PREFIX + "beta", PREFIX + "gamma"}
    assert r.settings.weights() == FIXED_BASELINE


def test_large_valid_weights_keep_their_ratio() -> None:
    s = _resolve(weight_policy="fixed", alpha="1000", beta="1000", gamma="0").settings
    assert s.weights() == Weights.of(1, 1, 0)
    assert Weights.of(1e308, 1e308, 1e308) == FIXED_BASELINE


def test_stored_settings_are_held_to_the_same_ranges() -> None:
    """A last good settings record read back from a state ConfigMap is validated too."""
    good = _resolve().settings.model_dump()
    with pytest.raises(ValueError, match="alpha"):
        AppSettings.model_validate({**good, "alpha": 1e308, "beta": 1.0, "gamma": 1.0})
    with pytest.raises(ValueError, match="max_executors"):
        AppSettings.model_validate({**good, "max_executors": 10**3000})


def test_target_annotation_reads_only_plain_integers() -> None:
    for text in ("1_0", "\u0667", "1e1", "1001", "10" + "0" * 5000):
        assert target_annotation({PREFIX + "target-executors": text}) is None


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(
    annotations=st.dictionaries(
        st.sampled_from(sorted({k.removeprefix(PREFIX) for k in ACCEPTED})).map(
            lambda k: PREFIX + k
        ),
        st.one_of(
            st.text(max_size=40),
            st.from_regex(r"[+-]?[0-9]{1,400}(\.[0-9]*)?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.integers(min_value=-(10**30), max_value=10**30).map(str),
            st.sampled_from(["meta", "fixed", "auto", "in-place", "restart", "slo", "r_meta"]),
        ),
    ),
    last_good=st.one_of(st.none(), st.just(_resolve(min_executors="3").settings)),
)
def test_resolve_settings_never_raises_and_always_gives_usable_settings(
    annotations: dict[str, str], last_good: AppSettings | None
) -> None:
    """Whatever is annotated: settings the loop can compute with, errors that name keys."""
    r = resolve_settings(annotations, DEFAULTS, last_good)
    s = AppSettings.model_validate(r.settings.model_dump())  # within every range
    w = s.weights()
    assert all(math.isfinite(x) and x >= 0 for x in w.as_tuple())
    assert abs(sum(w.as_tuple()) - 1.0) < 1e-9
    assert 1 <= s.min_executors <= s.max_executors <= 1000
    assert r.valid == (not r.errors)
    for error in r.errors:
        assert error.annotation.startswith(PREFIX)
        assert error.accepted
