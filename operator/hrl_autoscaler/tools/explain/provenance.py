"""Where each per-application setting came from: annotation, operator config, or built-in.

The settings in force are computed exactly as the operator computes them
(:func:`~hrl_autoscaler.runtime.core.annotations.resolve_settings` over the operator's defaults
and the last good settings from the state ConfigMap), so ``explain`` cannot drift from the
operator's rules; this module only adds, per field, *why* that value.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from hrl_autoscaler.config import SLO_CLASSES
from hrl_autoscaler.runtime.core.annotations import (
    ACCEPTED,
    ANNOTATED_WEIGHTS,
    OPERATOR_ANNOTATIONS,
    PREFIX,
    AppSettings,
    Resolution,
    parse_annotations,
    resolve_settings,
)
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE, PRESETS, Weights
from hrl_autoscaler.tools.explain.model import (
    Origin,
    RejectedAnnotation,
    SettingRow,
    WeightsInForce,
)
from hrl_autoscaler.tools.explain.opconfig import OperatorDefaults

#: The user's annotations (not those the operator writes), in the order ACCEPTED lists them.
USER_ANNOTATIONS: tuple[str, ...] = tuple(a for a in ACCEPTED if a not in OPERATOR_ANNOTATIONS)
WEIGHT_FIELDS = ("alpha", "beta", "gamma")


def field_of(annotation: str) -> str:
    """``hrl-autoscaler.io/min-executors`` -> ``min_executors`` (the annotations' rule)."""
    return annotation.removeprefix(PREFIX).replace("-", "_")


def last_good_settings(stored: Mapping[str, Any] | None) -> AppSettings | None:
    """The state ConfigMap's last good settings, or None when absent or no longer valid (the
    operator then falls back to the defaults too)."""
    if not stored:
        return None
    try:
        return AppSettings(**stored)
    except (ValidationError, TypeError):
        return None


def _alone(annotation: str, text: str, operator: OperatorDefaults) -> tuple[bool, Any]:
    """Whether one annotation parses on its own, and to what."""
    values, errors = parse_annotations({annotation: text}, operator.defaults)
    ok = not any(annotation in e.annotation.split(", ") for e in errors)
    return ok, values.get(field_of(annotation))


def _operator_origin(name: str, operator: OperatorDefaults) -> tuple[Origin, str]:
    """The origin of a field the operator's defaults supply."""
    origin, source = operator.origin(name)
    if origin == "config":
        return "config", source
    if origin == "environment":
        return "environment", source
    return "default", ""


def _default_note(name: str, value: Any, operator: OperatorDefaults) -> str:
    origin, _ = operator.origin(name)
    built_in = type(operator.defaults)().model_dump().get(name)
    if origin != "default" and value == built_in:
        return "same as built-in"
    return ""


def setting_rows(
    annotations: Mapping[str, str],
    operator: OperatorDefaults,
    resolution: Resolution,
    last_good: AppSettings | None,
    meta_weights: bool,
) -> tuple[SettingRow, ...]:
    """One row per setting: its value in force and its origin.

    An annotation counts as the origin only when its value is the one in force; otherwise it was
    rejected (alone, or with another, as min > max) and the value is the last good one, or the
    default for an application never seen valid. ``meta_weights``: the meta-controller has set
    weights (a state with meta history), so weight annotations are its output, not the user's.
    """
    settings = resolution.settings.model_dump()
    rows: list[SettingRow] = []
    for annotation in USER_ANNOTATIONS:
        name = field_of(annotation)
        if name not in settings:  # an annotation that is not a plain settings field
            continue
        value = settings[name]
        text = annotations.get(annotation)
        origin: Origin
        note = ""
        source = ""
        if text is not None:
            ok, parsed = _alone(annotation, text, operator)
            if ok and parsed == value:
                origin, source = "annotation", annotation
            elif last_good is not None:
                origin, note = "last-good", f"annotation value {text!r} rejected"
            else:
                origin, source = _operator_origin(name, operator)
                note = f"annotation value {text!r} rejected"
        else:
            origin, source = _operator_origin(name, operator)
            note = _default_note(name, value, operator)
        note = _extra_note(name, value, resolution.settings, origin, meta_weights, note)
        if origin == "annotation" and name in WEIGHT_FIELDS and meta_weights:
            origin, note = "meta-controller", _join(note, f"written into {annotation}")
        rows.append(SettingRow(name, annotation, value, origin, source, note))
    return tuple(rows)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _extra_note(
    name: str, value: Any, settings: AppSettings, origin: str, meta: bool, note: str
) -> str:
    """What the bare value does not say: ignored weights, a derived priority."""
    if name in WEIGHT_FIELDS:
        if settings.weight_policy in PRESETS:
            return _join(note, f"ignored: weight-policy {settings.weight_policy} is a preset")
        if value is None and settings.weight_policy in ANNOTATED_WEIGHTS and not meta:
            return _join(note, "unset: the balanced baseline applies until weights are set")
    if name == "priority" and value is None:
        return _join(
            note, f"unset: slo-class {settings.slo_class} gives {SLO_CLASSES[settings.slo_class]:g}"
        )
    return note


def unknown_annotations(annotations: Mapping[str, str]) -> tuple[RejectedAnnotation, ...]:
    """``hrl-autoscaler.io/`` annotations the operator does not read: a misspelt key is
    silently ignored by the operator (it cannot tell a typo from another tool's annotation),
    which is exactly what a user asking "why is my setting not applied?" needs to see."""
    rows = []
    for key, value in sorted(annotations.items()):
        if not key.startswith(PREFIX) or key in ACCEPTED:
            continue
        close = difflib.get_close_matches(key, list(ACCEPTED), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}? " if close else ""
        rows.append(
            RejectedAnnotation(
                key, value, f"{hint}not an annotation hrl-autoscaler reads", "ignored"
            )
        )
    return tuple(rows)


def rejected_rows(
    resolution: Resolution, last_good: AppSettings | None, annotations: Mapping[str, str]
) -> tuple[RejectedAnnotation, ...]:
    """The annotations rejected by the operator's rules, then those it does not know."""
    kept = "last-good" if last_good is not None else "default"
    rejected = tuple(
        RejectedAnnotation(e.annotation, e.value, e.accepted, kept) for e in resolution.errors
    )
    return rejected + unknown_annotations(annotations)


def weights_in_force(
    settings: AppSettings, stored_weights: tuple[float, float, float] | None, meta: bool
) -> WeightsInForce:
    """The weights the PPO policy reads, as the operator picks them.

    A preset's; in ``meta`` policy outside ``auto`` mode the meta-controller's last output kept
    in the state (nothing is patched then); else the annotations (written by the
    meta-controller in ``meta``, by the user in ``fixed``); else the balanced baseline.
    """
    if settings.weight_policy in PRESETS:
        w = PRESETS[settings.weight_policy]
        return WeightsInForce(w.alpha, w.beta, w.gamma, "preset", settings.weight_policy)
    if settings.weight_policy == "meta" and settings.mode != "auto" and stored_weights:
        w = Weights.of(*stored_weights)
        return WeightsInForce(w.alpha, w.beta, w.gamma, "meta-controller", "state ConfigMap")
    annotated = settings.annotated_weights()
    if annotated is not None:
        origin: Origin = "meta-controller" if meta else "annotation"
        source = "alpha/beta/gamma annotations"
        return WeightsInForce(annotated.alpha, annotated.beta, annotated.gamma, origin, source)
    w = FIXED_BASELINE
    return WeightsInForce(w.alpha, w.beta, w.gamma, "default", "balanced baseline")


def resolve(
    annotations: Mapping[str, str],
    operator: OperatorDefaults,
    stored_last_good: Mapping[str, Any] | None,
) -> tuple[Resolution, AppSettings | None]:
    """The operator's own resolution of the annotations (and the last good settings used)."""
    last_good = last_good_settings(stored_last_good)
    return resolve_settings(annotations, operator.defaults, last_good), last_good
