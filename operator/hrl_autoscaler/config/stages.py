"""The decision step's optional stages, as operator settings (``guardrails.margin_trim``,
``guardrails.raise_cap``, ``guardrails.breach_floor``, ``guardrails.anticipation``,
``guardrails.surge``, ``guardrails.fall_release``, ``guardrails.calm_rule``,
``guardrails.restart_hold``, ``guardrails.headroom``).

Each model has exactly the fields of its stage's settings in ``runtime/core`` (the units and
the reasons for the defaults are written there, once), so the runtime builds the stage from
``model_dump()`` and the evaluation sets a stage from the runtime's dataclass; this layer
imports nothing above it, and tests/unit/test_settings.py holds the two equal.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MarginTrimDefaults(BaseModel):
    """``runtime.core.margintrim.MarginTrimSettings``; on by default (in-place actuation
    only), docs/margin-trim.md and docs/stages-default.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    quiet_factor: float = Field(default=0.8, gt=0, le=1.0)
    quiet_cycles: int = Field(default=12, ge=1)
    margin: int = Field(default=0, ge=0)
    target_utilisation: float | None = Field(default=0.85, gt=0, le=1.0)
    peak_window: int = Field(default=40, ge=0)
    hold_factor: float | None = Field(default=None, gt=0, le=1.0)
    restart_actuation: bool = False

    @model_validator(mode="after")
    def _hold(self) -> MarginTrimDefaults:
        if self.hold_factor is not None and self.hold_factor < self.quiet_factor:
            raise ValueError(
                f"hold_factor ({self.hold_factor}) must be >= quiet_factor ({self.quiet_factor})"
            )
        return self


class RaiseCapDefaults(BaseModel):
    """``runtime.core.raisecap.RaiseCapSettings``; on by default, docs/raise-cap.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    latency_factor: float = Field(default=0.9, gt=0, le=1.0)
    target_utilisation: float = Field(default=1.0, gt=0, le=1.0)
    margin: int = Field(default=0, ge=0)


class CalmRuleDefaults(BaseModel):
    """``runtime.core.calmrule.CalmRuleSettings``; on by default (in-place actuation only),
    docs/calm-rule.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    window_s: float = Field(default=14400.0, gt=0)
    min_jump: float = Field(default=0.2, gt=0)
    restart_actuation: bool = False


class BreachFloorDefaults(BaseModel):
    """``runtime.core.breachfloor.BreachFloorSettings``; docs/breach-floor.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    margin: int = Field(default=1, ge=1)
    input_tolerance: float = Field(default=0.1, ge=0, lt=1.0)
    hold_s: float = Field(default=7200.0, gt=0)
    memory: int = Field(default=8, ge=1)


class SurgeDefaults(BaseModel):
    """``runtime.core.surge.SurgeSettings``; docs/surge.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    min_rise: float = Field(default=0.2, gt=0)
    target_utilisation: float = Field(default=0.85, gt=0, le=1.0)
    reach: float = Field(default=4.0, gt=0)
    defer_to_period: bool = True
    peak_memory_s: float = Field(default=86400.0, gt=0)


class FallReleaseDefaults(BaseModel):
    """``runtime.core.fallrelease.FallReleaseSettings``; on by default since session 22,
    docs/fall-release.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    min_fall: float = Field(default=0.2, gt=0, lt=1.0)
    window: int = Field(default=20, ge=2)
    target_utilisation: float = Field(default=0.85, gt=0, le=1.0)
    latency_factor: float = Field(default=0.8, gt=0, le=1.0)
    recur_window: int = Field(default=60, ge=0)
    restart_actuation: bool = False
    skip_confirmations: bool = True


class RestartHoldDefaults(BaseModel):
    """``runtime.core.restarthold.RestartHoldSettings``; on by default (restart actuation
    only), docs/restart-hold.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    window: int = Field(default=120, ge=1)
    latency_factor: float = Field(default=0.6, gt=0, le=1.0)
    min_drop: float = Field(default=0.25, gt=0, lt=1.0)


class HeadroomDefaults(BaseModel):
    """``runtime.core.headroom.HeadroomSettings``; on by default (in place, ``slo`` objective
    only), docs/headroom.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    window: int = Field(default=480, ge=2)
    every: int = Field(default=60, ge=1)
    anchored: bool = True
    max_model_error: float = Field(default=0.05, ge=0.0, le=1.0)
    parts: int = Field(default=2, ge=1)


class AnticipationDefaults(BaseModel):
    """``runtime.core.anticipation.AnticipationSettings``; on by default,
    docs/anticipation.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    history: int = Field(default=240, ge=4, le=10_000)
    min_period: int = Field(default=6, ge=2)
    max_period: int = Field(default=120, ge=2)
    min_cycles: float = Field(default=2.0, ge=2.0)
    correlation: float = Field(default=0.6, gt=0, le=1.0)
    peak_share: float = Field(default=0.9, gt=0, le=1.0)
    seasons: int = Field(default=2, ge=1)
    target_utilisation: float = Field(default=0.85, gt=0, le=1.0)
    release: bool = True
    release_latency_factor: float = Field(default=0.8, gt=0, le=1.0)
    release_window: int = Field(default=1, ge=1)
    min_skill: float = Field(default=0.3, lt=1.0)
    stable_estimates: int = Field(default=3, ge=1)
    refresh: int = Field(default=5, ge=1)
    max_fill: int = Field(default=30, ge=0)

    @model_validator(mode="after")
    def _lengths(self) -> AnticipationDefaults:
        if self.max_period < self.min_period:
            raise ValueError(f"max_period ({self.max_period}) < min_period ({self.min_period})")
        if self.history < self.min_cycles * self.min_period:
            raise ValueError(
                f"history ({self.history}) must hold min_cycles x min_period decisions"
            )
        return self
