"""Per-application modifiers of the decision: excluded periods, finer pauses, scale-down damping.

What users of Flink's autoscaler and KEDA expect to find (issue 15), as annotations:

- ``excluded-periods``: maintenance windows (Flink's ``excluded.periods``) in which an ``auto``
  application only recommends (:mod:`~hrl_autoscaler.config.periods` has the syntax);
- ``paused-scale-in`` / ``paused-scale-out``: no scale-down / no scale-up (KEDA's annotations of
  the same names); ``paused-executors: N``: move to N, then hold there (KEDA's
  ``paused-replicas``). Decisions are still made and reported, only the direction is vetoed;
- ``scale-down-confirmations``, ``scale-down-max-step``, ``scale-down-max-factor`` (Flink's
  ``scale-down.max-factor``) and ``cooldown-seconds``: this application's guardrails, over the
  operator's (chart) defaults.

The fields live in :class:`ModifierSettings`, a base of
:class:`~hrl_autoscaler.runtime.core.annotations.AppSettings`, so they are parsed, validated,
kept at their last good value and stored exactly like the other annotations; the rows of the
annotation table come from :func:`modifier_rows`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hrl_autoscaler.config import EXECUTORS_LIMIT
from hrl_autoscaler.config.periods import ACCEPTED as PERIODS_ACCEPTED
from hrl_autoscaler.config.periods import ExcludedPeriods, parse_periods

CONFIRMATIONS_MAX = 1000
"""Most scale-down confirmations: 1000 decisions of 30 s are over 8 hours."""
COOLDOWN_MAX_S = 86_400.0
"""A cooldown above a day is a pause: use ``paused-scale-in`` / ``paused-scale-out``."""

Parser = tuple[Callable[[str], Any], str]
"""A value parser and what it accepts (the shape of the annotation table's entries)."""

#: The annotations (suffixes) a pause is written with, as named in reasons and events.
PAUSED_SCALE_IN = "paused-scale-in"
PAUSED_SCALE_OUT = "paused-scale-out"
PAUSED_EXECUTORS = "paused-executors"
MODIFIER_ANNOTATIONS = (
    "excluded-periods",
    PAUSED_SCALE_IN,
    PAUSED_SCALE_OUT,
    PAUSED_EXECUTORS,
)
"""The modifiers a scaling decision depends on (checked again on the fresh object)."""


class ModifierSettings(BaseModel):
    """The modifiers of one application (None = the operator's guardrail default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    excluded_periods: str = ""
    """Periods in which ``auto`` only recommends; ``""`` = none."""
    paused_scale_in: bool = False
    paused_scale_out: bool = False
    paused_executors: int | None = Field(default=None, ge=1, le=EXECUTORS_LIMIT)
    scale_down_confirmations: int | None = Field(default=None, ge=1, le=CONFIRMATIONS_MAX)
    scale_down_max_step: int | None = Field(default=None, ge=1, le=EXECUTORS_LIMIT)
    scale_down_max_factor: float | None = Field(default=None, gt=0, le=1, allow_inf_nan=False)
    cooldown_seconds: float | None = Field(
        default=None, ge=0, le=COOLDOWN_MAX_S, allow_inf_nan=False
    )
    """The cooldown of this application (both directions), over the actuation's default."""

    @field_validator("excluded_periods")
    @classmethod
    def _periods(cls, value: str) -> str:
        parse_periods(value)  # raises ValueError naming the bad period
        return value

    def excluded(self) -> ExcludedPeriods:
        """The parsed periods (cached by text: parsing once per distinct annotation)."""
        return parse_periods(self.excluded_periods)

    def damping_key(self) -> tuple[object, ...]:
        """What this application's guardrails depend on beyond its bounds and actuation."""
        return (
            self.scale_down_confirmations,
            self.scale_down_max_step,
            self.scale_down_max_factor,
            self.cooldown_seconds,
        )

    def describe_modifiers(self) -> str:
        """The modifiers set (for the settings line of events and logs); ``""`` when none."""
        parts = []
        if self.excluded_periods:
            parts.append(f"excluded-periods={self.excluded_periods!r}")
        if self.paused_executors is not None:
            parts.append(f"{PAUSED_EXECUTORS}={self.paused_executors}")
        parts += [n for n, on in self._pause_flags() if on]
        return " ".join(parts)

    def _pause_flags(self) -> tuple[tuple[str, bool], ...]:
        return ((PAUSED_SCALE_IN, self.paused_scale_in), (PAUSED_SCALE_OUT, self.paused_scale_out))

    def active_pauses(self) -> tuple[str, ...]:
        """The pause annotations in force (for the ``hrl_autoscaler_paused`` metric)."""
        flags = [n for n, on in self._pause_flags() if on]
        return (*flags, PAUSED_EXECUTORS) if self.paused_executors is not None else tuple(flags)

    def pause(self, target: int, current: int) -> tuple[int, str | None]:
        """The target after the pauses, and why it changed (None when they did not bind).

        ``paused-executors`` wins over the other two and over the guardrails (a user's explicit
        count, as KEDA's ``paused-replicas``); a budget's cap still applies after it. Every
        reason starts with the annotation that caused it.
        """
        if self.paused_executors is not None:
            held = self.paused_executors
            if target == held:
                return target, None
            if current == held:
                return held, f"{PAUSED_EXECUTORS}: held at {held} (wanted {target})"
            return held, f"{PAUSED_EXECUTORS}: moving to {held}"
        if target > current and self.paused_scale_out:
            return current, f"{PAUSED_SCALE_OUT}: scale-up to {target} held at {current}"
        if target < current and self.paused_scale_in:
            return current, f"{PAUSED_SCALE_IN}: scale-down to {target} held at {current}"
        return target, None


MODIFIER_DEFAULTS: dict[str, Any] = ModifierSettings().model_dump()
"""Each modifier's value when not annotated (the chart's ``defaults.excludedPeriods`` comes
over it from :class:`~hrl_autoscaler.config.AnnotationDefaults`)."""


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ValueError
    return value == "true"


FLAG: Parser = (_boolean, "true or false")
"""The parser of every on/off annotation (pauses, restart-time tracking, ineffective scaling)."""


def _periods(text: str) -> str:
    value = text.strip()
    parse_periods(value)
    return value


def modifier_rows(
    integer: Callable[[int, int], Parser],
    number: Callable[..., Parser],
) -> tuple[tuple[str, str, Parser], ...]:
    """The annotation table's rows for the modifiers: (suffix, settings field, parser).

    The strict number parsers are the annotation module's, passed in (it imports this one).
    """
    flag = FLAG
    return (
        ("excluded-periods", "excluded_periods", (_periods, PERIODS_ACCEPTED)),
        (PAUSED_SCALE_IN, "paused_scale_in", flag),
        (PAUSED_SCALE_OUT, "paused_scale_out", flag),
        (PAUSED_EXECUTORS, "paused_executors", integer(1, EXECUTORS_LIMIT)),
        (
            "scale-down-confirmations",
            "scale_down_confirmations",
            integer(1, CONFIRMATIONS_MAX),
        ),
        ("scale-down-max-step", "scale_down_max_step", integer(1, EXECUTORS_LIMIT)),
        ("scale-down-max-factor", "scale_down_max_factor", number(0, 1.0, above=True)),
        ("cooldown-seconds", "cooldown_seconds", number(0, COOLDOWN_MAX_S, above=False)),
    )


@dataclass
class ModifierState:
    """What the loop remembers of the modifiers between cycles (not stored: an operator
    restart inside a period reports its start again)."""

    period: str | None = None
    """The excluded period in force at the last decision (its text), None outside."""
    reported_pause: str | None = None
    """The pause annotation last reported as holding a change back (a ScalingPaused event)."""
