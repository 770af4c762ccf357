"""Per-application settings: the ``hrl-autoscaler.io/`` annotations, parsed and validated.

Users write annotations by hand, so every error names the annotation, the value and what is
accepted. A bad value never stops the operator: :func:`resolve_settings` keeps the last good
settings (or, for an application never seen valid, the operator's defaults for the bad keys)
and returns the errors for a Warning event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from hrl_autoscaler.config import ACTUATIONS, MODES, OBJECTIVE_NAMES, AnnotationDefaults
from hrl_autoscaler.core.weights import FIXED_BASELINE, PRESETS, Weights

PREFIX = "hrl-autoscaler.io/"
ENABLED_LABEL = PREFIX + "enabled"
TARGET_ANNOTATION = PREFIX + "target-executors"
WEIGHT_ANNOTATIONS = (PREFIX + "alpha", PREFIX + "beta", PREFIX + "gamma")

WEIGHT_POLICIES = ("meta", "fixed", *sorted(PRESETS))


class AppSettings(BaseModel):
    """The settings one application runs under (after defaults and validation)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight_policy: str
    objective: Literal["slo", "r_meta"]
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    min_executors: int
    max_executors: int
    mode: Literal["auto", "recommend", "paused"]
    actuation: Literal["restart", "in-place"]
    latency_slo_ms: float
    cost_per_executor_hour: float

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

    def guardrail_key(self) -> tuple[int, int, str]:
        """What the guardrails depend on: a change rebuilds them (keeping their history)."""
        return (self.min_executors, self.max_executors, self.actuation)

    def describe(self) -> str:
        """One line for events and logs."""
        return (
            f"weight-policy={self.weight_policy} mode={self.mode} actuation={self.actuation} "
            f"executors=[{self.min_executors},{self.max_executors}]"
        )


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


def _int_at_least(lowest: int) -> tuple[Callable[[str], Any], str]:
    def parse(text: str) -> int:
        value = int(text.strip())
        if value < lowest:
            raise ValueError
        return value

    return parse, f"an integer >= {lowest}"


def _number(positive: bool) -> tuple[Callable[[str], Any], str]:
    def parse(text: str) -> float:
        value = float(text.strip())
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError
        if value < 0 or (positive and value == 0):
            raise ValueError
        return value

    return parse, "a number > 0" if positive else "a number >= 0"


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
        ("alpha", "alpha", _number(positive=False)),
        ("beta", "beta", _number(positive=False)),
        ("gamma", "gamma", _number(positive=False)),
        ("min-executors", "min_executors", _int_at_least(1)),
        ("max-executors", "max_executors", _int_at_least(1)),
        ("mode", "mode", _choice(MODES)),
        ("actuation", "actuation", _choice(ACTUATIONS)),
        ("latency-slo-ms", "latency_slo_ms", _number(positive=True)),
        ("cost-per-executor-hour", "cost_per_executor_hour", _number(positive=True)),
    )
}

#: Every annotation this module reads, with what it accepts (for documentation and errors).
ACCEPTED: dict[str, str] = {PREFIX + k: v[2] for k, v in _FIELDS.items()}
ACCEPTED[TARGET_ANNOTATION] = "an integer >= 1 (written by the operator in in-place actuation)"


def _defaults(defaults: AnnotationDefaults) -> dict[str, Any]:
    values: dict[str, Any] = defaults.model_dump()
    values.update(alpha=None, beta=None, gamma=None)
    return values


def parse_annotations(
    annotations: Mapping[str, str], defaults: AnnotationDefaults
) -> tuple[dict[str, Any], list[AnnotationError]]:
    """Field values from the annotations over the defaults, and the per-annotation errors.

    A rejected annotation leaves its field at the default; cross-field checks (bounds, fixed
    weights) run on the result and add errors of their own.
    """
    values = _defaults(defaults)
    errors: list[AnnotationError] = []
    for suffix, (field, parse, accepted) in _FIELDS.items():
        text = annotations.get(PREFIX + suffix)
        if text is None:
            continue
        try:
            values[field] = parse(text)
        except ValueError:
            errors.append(AnnotationError(PREFIX + suffix, text, accepted))
    if values["min_executors"] > values["max_executors"]:
        errors.append(
            AnnotationError(
                PREFIX + "min-executors",
                str(values["min_executors"]),
                f"at most {PREFIX}max-executors ({values['max_executors']})",
            )
        )
        values["min_executors"], values["max_executors"] = (
            defaults.min_executors,
            defaults.max_executors,
        )
    weights = [values["alpha"], values["beta"], values["gamma"]]
    given = [w is not None for w in weights]
    uses_annotated = values["weight_policy"] in ("meta", "fixed")
    if all(given) and sum(weights) <= 0 and uses_annotated:
        errors.append(
            AnnotationError(
                ", ".join(WEIGHT_ANNOTATIONS),
                "0, 0, 0",
                "weights that are not all 0",
            )
        )
        values.update(alpha=None, beta=None, gamma=None)
    elif any(given) and not all(given) and values["weight_policy"] == "fixed":
        missing = [a for a, g in zip(WEIGHT_ANNOTATIONS, given, strict=True) if not g]
        errors.append(
            AnnotationError(
                ", ".join(missing),
                "(missing)",
                "all three of alpha, beta and gamma with weight-policy fixed",
            )
        )
    return values, errors


def resolve_settings(
    annotations: Mapping[str, str],
    defaults: AnnotationDefaults,
    last_good: AppSettings | None,
) -> Resolution:
    """The settings to run under: the annotations when valid, else the last good settings.

    An application that never had valid annotations runs on the defaults for the rejected
    keys and its valid annotations for the others, so a typo does not leave it unmanaged.
    """
    values, errors = parse_annotations(annotations, defaults)
    if not errors:
        return Resolution(AppSettings(**values), (), True)
    if last_good is not None:
        return Resolution(last_good, tuple(errors), False)
    return Resolution(AppSettings(**values), tuple(errors), False)


def target_annotation(annotations: Mapping[str, str]) -> int | None:
    """The operator's in-place target, or None when absent or not a positive integer."""
    text = annotations.get(TARGET_ANNOTATION)
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value >= 1 else None


def format_weight(value: float) -> str:
    """How weights are written into annotations: 3 decimals, stable and readable."""
    return f"{value:.3f}"


def weight_annotations(weights: Weights) -> dict[str, str]:
    return {
        name: format_weight(value)
        for name, value in zip(WEIGHT_ANNOTATIONS, weights.as_tuple(), strict=True)
    }
