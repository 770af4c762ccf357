"""Per-application settings: the ``hrl-autoscaler.io/`` annotations, parsed and validated.

Users write annotations by hand, so every error names the annotation, the value and what is
accepted. A bad value never stops the operator: :func:`resolve_settings` keeps the last good
value of each rejected key (or, for an application never seen valid, the operator's default)
and applies the others, so a typo in one annotation freezes nothing else, and returns the
errors for a Warning event.

Numbers are read strictly: ASCII digits only (Python's ``int`` and ``float`` also take other
scripts' digits and ``1_000``), finite, and within the sane ranges of
:mod:`hrl_autoscaler.config`, because a value that parses is not yet a value the arithmetic
downstream survives (three weights of 1e308 sum to inf). :class:`AppSettings` enforces the same
ranges itself, so settings read back from a stored state are held to them too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hrl_autoscaler.config import (
    ACTUATIONS,
    COST_PER_EXECUTOR_HOUR_MAX,
    EXECUTORS_LIMIT,
    LATENCY_SLO_MS_MAX,
    MODES,
    OBJECTIVE_NAMES,
    PRIORITY_MAX,
    SLO_CLASSES,
    WEIGHT_MAX,
    AnnotationDefaults,
    SloClass,
)
from hrl_autoscaler.config.periods import PeriodError
from hrl_autoscaler.runtime.core.modifiers import (
    FLAG,
    MODIFIER_DEFAULTS,
    ModifierSettings,
    modifier_rows,
)
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE, PRESETS, Weights

PREFIX = "hrl-autoscaler.io/"
ENABLED_LABEL = PREFIX + "enabled"
TARGET_ANNOTATION = PREFIX + "target-executors"
LAST_SCALE_ANNOTATION = PREFIX + "last-scale"
"""Written by the operator in the same patch as every scaling action: the scale record (see
:mod:`~hrl_autoscaler.runtime.core.records`). The state ConfigMap is written after the patch;
should the operator die in between, this is how its successor still knows the action."""
LAST_META_ANNOTATION = PREFIX + "last-meta"
"""Written in the same patch as every meta weights update: ``<unix time>``, where a successor
starts the next meta window (its state may still hold an older window start)."""
WEIGHT_ANNOTATIONS = (PREFIX + "alpha", PREFIX + "beta", PREFIX + "gamma")

WEIGHT_POLICIES = ("meta", "fixed", *sorted(PRESETS))
#: Weight policies that read alpha/beta/gamma from the annotations (the presets ignore them).
ANNOTATED_WEIGHTS = ("meta", "fixed")


class AppSettings(ModifierSettings):
    """The settings one application runs under (after defaults and validation).

    The field constraints are the annotations' accepted ranges: an instance is always safe to
    compute with, whether it came from annotations or from a stored state.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight_policy: str
    objective: Literal["slo", "r_meta"]
    alpha: float | None = Field(default=None, ge=0, le=WEIGHT_MAX, allow_inf_nan=False)
    beta: float | None = Field(default=None, ge=0, le=WEIGHT_MAX, allow_inf_nan=False)
    gamma: float | None = Field(default=None, ge=0, le=WEIGHT_MAX, allow_inf_nan=False)
    min_executors: int = Field(ge=1, le=EXECUTORS_LIMIT)
    max_executors: int = Field(ge=1, le=EXECUTORS_LIMIT)
    mode: Literal["auto", "recommend", "paused"]
    actuation: Literal["restart", "in-place"]
    latency_slo_ms: float = Field(gt=0, le=LATENCY_SLO_MS_MAX, allow_inf_nan=False)
    cost_per_executor_hour: float = Field(gt=0, le=COST_PER_EXECUTOR_HOUR_MAX, allow_inf_nan=False)
    slo_class: SloClass = "standard"
    priority: float | None = Field(default=None, gt=0, le=PRIORITY_MAX, allow_inf_nan=False)
    restart_time_tracking: bool = True
    ineffective_scaling_detection: bool = True
    ineffective_scaling_threshold: float = Field(default=0.1, gt=0, le=1, allow_inf_nan=False)
    """Defaults here too: settings stored before these fields existed still validate."""

    @property
    def priority_weight(self) -> float:
        """A violation's weight under an ExecutorBudget: the annotated priority, else its
        SLO class's."""
        return self.priority if self.priority is not None else SLO_CLASSES[self.slo_class]

    @field_validator("weight_policy")
    @classmethod
    def _weight_policy(cls, value: str) -> str:
        if value not in WEIGHT_POLICIES:
            raise ValueError(f"weight_policy {value!r} is not one of {', '.join(WEIGHT_POLICIES)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AppSettings:
        if self.min_executors > self.max_executors:
            raise ValueError(
                f"min_executors ({self.min_executors}) > max_executors ({self.max_executors})"
            )
        weights = [w for w in (self.alpha, self.beta, self.gamma) if w is not None]
        used = self.weight_policy in ANNOTATED_WEIGHTS
        if used and len(weights) == 3 and not sum(weights) > 0:
            raise ValueError("alpha, beta and gamma must not all be 0")
        return self

    def annotated_weights(self) -> Weights | None:
        """alpha/beta/gamma as annotated (normalised), or None when not all three are set."""
        if self.alpha is None or self.beta is None or self.gamma is None:
            return None
        return Weights.of(self.alpha, self.beta, self.gamma)

    def weights(self) -> Weights:
        """The weights the policy reads: a preset's, or the annotated ones (balanced if unset).

        In ``meta`` mode the annotations are the meta-controller's last output; before its
        first window the seed's fixed baseline (0.33 each) applies, as in training.
        """
        if self.weight_policy in PRESETS:
            return PRESETS[self.weight_policy]
        return self.annotated_weights() or FIXED_BASELINE

    def guardrail_key(self) -> tuple[object, ...]:
        """What the guardrails depend on: a change rebuilds them (keeping their history)."""
        return (self.min_executors, self.max_executors, self.actuation, *self.damping_key())

    def describe(self) -> str:
        """One line for events and logs."""
        return (
            f"weight-policy={self.weight_policy} mode={self.mode} actuation={self.actuation} "
            f"executors=[{self.min_executors},{self.max_executors}]"
        ) + (f" {m}" if (m := self.describe_modifiers()) else "")


@dataclass(frozen=True)
class AnnotationError:
    """One rejected annotation: which, what was written, what is accepted."""

    annotation: str
    value: str
    accepted: str

    def __str__(self) -> str:
        return f"{self.annotation}={self.value!r} is not accepted: {self.accepted}"


@dataclass(frozen=True)
class Resolution:
    """The settings to use now, and the problems found in the annotations."""

    settings: AppSettings
    errors: tuple[AnnotationError, ...]
    valid: bool
    """True when the annotations themselves were valid (so they become the last good ones)."""


#: Longest number we read: enough for any sane value in any notation, and a cap on the work.
_MAX_NUMBER_CHARS = 32
#: ASCII only: ``[0-9]`` in :mod:`re` does not match other scripts' digits, as ``\\d`` would.
_INTEGER = re.compile(r"\+?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def strict_int(text: str) -> int:
    """An integer written with ASCII digits (no ``_``, no other scripts); ValueError if not."""
    text = text.strip()
    if len(text) > _MAX_NUMBER_CHARS or not _INTEGER.fullmatch(text):
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


def strict_float(text: str) -> float:
    """A finite decimal number written with ASCII digits; ValueError otherwise (``nan``,
    ``inf``, ``1_000``, other scripts' digits, and what overflows to inf, like ``1e400``)."""
    text = text.strip()
    if len(text) > _MAX_NUMBER_CHARS or not _DECIMAL.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def _integer(lowest: int, highest: int) -> tuple[Callable[[str], Any], str]:
    def parse(text: str) -> int:
        value = strict_int(text)
        if not lowest <= value <= highest:
            raise ValueError
        return value

    return parse, f"an integer from {lowest} to {highest} (ASCII digits)"


def _number(lowest: float, highest: float, *, above: bool) -> tuple[Callable[[str], Any], str]:
    """A number in ``(lowest, highest]`` when ``above``, else in ``[lowest, highest]``."""

    def parse(text: str) -> float:
        value = strict_float(text)
        if value < lowest or (above and value == lowest) or value > highest:
            raise ValueError
        return value

    low = f"> {lowest:g}" if above else f">= {lowest:g}"
    return parse, f"a number {low} and <= {highest:g}"


def _choice(values: tuple[str, ...]) -> tuple[Callable[[str], Any], str]:
    def parse(text: str) -> str:
        value = text.strip()
        if value not in values:
            raise ValueError
        return value

    return parse, f"one of {', '.join(values)}"


#: annotation suffix -> (settings field, parser, what is accepted)
_FIELDS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    suffix: (field, *parser)
    for suffix, field, parser in (
        ("weight-policy", "weight_policy", _choice(WEIGHT_POLICIES)),
        ("objective", "objective", _choice(OBJECTIVE_NAMES)),
        ("alpha", "alpha", _number(0, WEIGHT_MAX, above=False)),
        ("beta", "beta", _number(0, WEIGHT_MAX, above=False)),
        ("gamma", "gamma", _number(0, WEIGHT_MAX, above=False)),
        ("min-executors", "min_executors", _integer(1, EXECUTORS_LIMIT)),
        ("max-executors", "max_executors", _integer(1, EXECUTORS_LIMIT)),
        ("mode", "mode", _choice(MODES)),
        ("actuation", "actuation", _choice(ACTUATIONS)),
        ("latency-slo-ms", "latency_slo_ms", _number(0, LATENCY_SLO_MS_MAX, above=True)),
        (
            "cost-per-executor-hour",
            "cost_per_executor_hour",
            _number(0, COST_PER_EXECUTOR_HOUR_MAX, above=True),
        ),
        ("slo-class", "slo_class", _choice(tuple(SLO_CLASSES))),
        ("priority", "priority", _number(0, PRIORITY_MAX, above=True)),
        *modifier_rows(_integer, _number),
        ("restart-time-tracking", "restart_time_tracking", FLAG),
        ("ineffective-scaling-detection", "ineffective_scaling_detection", FLAG),
        (
            "ineffective-scaling-threshold",
            "ineffective_scaling_threshold",
            _number(0, 1, above=True),
        ),
    )
}

#: Every annotation this module reads, with what it accepts (for documentation and errors).
ACCEPTED: dict[str, str] = {PREFIX + k: v[2] for k, v in _FIELDS.items()}
ACCEPTED[LAST_SCALE_ANNOTATION] = (
    "the scale record, JSON: at, from, to, by, controller, id (written by the operator)"
)
ACCEPTED[LAST_META_ANNOTATION] = "<unix time> of the last weights update (written by the operator)"
ACCEPTED[TARGET_ANNOTATION] = (
    f"an integer from 1 to {EXECUTORS_LIMIT} (written by the operator in in-place actuation)"
)


def _defaults(defaults: AnnotationDefaults) -> dict[str, Any]:
    values: dict[str, Any] = {**MODIFIER_DEFAULTS, **defaults.model_dump()}
    values.update(alpha=None, beta=None, gamma=None, priority=None)
    return values


def parse_annotations(
    annotations: Mapping[str, str],
    defaults: AnnotationDefaults,
    fallback: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[AnnotationError]]:
    """Field values from the annotations over the defaults, and the per-annotation errors.

    A rejected annotation leaves its field at ``fallback``'s value (the last good settings;
    the defaults when None); cross-field checks (bounds, weights) run on the result and put the
    fields they involve back to ``fallback`` together, which is consistent by construction.
    """
    values = _defaults(defaults)
    keep = dict(fallback) if fallback is not None else dict(values)
    errors: list[AnnotationError] = []
    for suffix, (field, parse, accepted) in _FIELDS.items():
        text = annotations.get(PREFIX + suffix)
        if text is None:
            continue
        try:
            values[field] = parse(text)
        except ValueError as exc:  # a period's syntax error also says what is wrong
            shown = f"{accepted}; here {exc}" if isinstance(exc, PeriodError) else accepted
            errors.append(AnnotationError(PREFIX + suffix, text, shown))
            values[field] = keep[field]
    if values["min_executors"] > values["max_executors"]:
        errors.append(
            AnnotationError(
                PREFIX + "min-executors",
                str(values["min_executors"]),
                f"at most {PREFIX}max-executors ({values['max_executors']})",
            )
        )
        values["min_executors"], values["max_executors"] = (
            keep["min_executors"],
            keep["max_executors"],
        )
    weights = [values["alpha"], values["beta"], values["gamma"]]
    given = [w is not None for w in weights]
    if all(given) and sum(weights) <= 0 and values["weight_policy"] in ANNOTATED_WEIGHTS:
        errors.append(
            AnnotationError(
                ", ".join(WEIGHT_ANNOTATIONS),
                "0, 0, 0",
                "weights that are not all 0",
            )
        )
        values.update(alpha=keep["alpha"], beta=keep["beta"], gamma=keep["gamma"])
    elif any(given) and not all(given) and values["weight_policy"] == "fixed":
        missing = [a for a, g in zip(WEIGHT_ANNOTATIONS, given, strict=True) if not g]
        errors.append(
            AnnotationError(
                ", ".join(missing),
                "(missing)",
                "all three of alpha, beta and gamma with weight-policy fixed",
            )
        )
        values.update(alpha=keep["alpha"], beta=keep["beta"], gamma=keep["gamma"])
    return values, errors


def resolve_settings(
    annotations: Mapping[str, str],
    defaults: AnnotationDefaults,
    last_good: AppSettings | None,
) -> Resolution:
    """The settings to run under: each valid annotation as written, each rejected one at its
    last good value (the default for an application never seen valid).

    Per key, not all or nothing: a typo in ``min-executors`` must not freeze the weights the
    meta-controller writes, nor leave the application unmanaged.
    """
    fallback = last_good.model_dump() if last_good is not None else None
    values, errors = parse_annotations(annotations, defaults, fallback)
    try:
        settings = AppSettings(**values)
    except ValidationError as exc:  # the parsers' ranges are the model's; kept as a backstop
        errors.append(AnnotationError(PREFIX + "*", "(combination)", f"valid settings: {exc}"))
        settings = last_good or AppSettings(**_defaults(defaults))
    return Resolution(settings, tuple(errors), not errors)


def target_annotation(annotations: Mapping[str, str]) -> int | None:
    """The operator's in-place target, or None when absent or not a positive integer."""
    text = annotations.get(TARGET_ANNOTATION)
    if text is None:
        return None
    try:
        value = strict_int(text)
    except ValueError:
        return None
    return value if 1 <= value <= EXECUTORS_LIMIT else None


#: The annotations the operator writes (not settings: no user sets them).
OPERATOR_ANNOTATIONS = (LAST_SCALE_ANNOTATION, LAST_META_ANNOTATION, TARGET_ANNOTATION)


def format_weight(value: float) -> str:
    """How weights are written into annotations: 3 decimals, stable and readable."""
    return f"{value:.3f}"


def weight_annotations(weights: Weights) -> dict[str, str]:
    return {
        name: format_weight(value)
        for name, value in zip(WEIGHT_ANNOTATIONS, weights.as_tuple(), strict=True)
    }
