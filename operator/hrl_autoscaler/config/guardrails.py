"""The guardrails and the decision step's stages, as operator settings (``guardrails``).

Apart from the rest of :mod:`hrl_autoscaler.config.operator` because the stages keep growing
(each measured one adds its settings here); the per-stage models are in
:mod:`hrl_autoscaler.config.stages`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hrl_autoscaler.config.stages import (
    AnticipationDefaults,
    BreachFloorDefaults,
    CalmRuleDefaults,
    FallReleaseDefaults,
    HeadroomDefaults,
    MarginTrimDefaults,
    RaiseCapDefaults,
    RestartHoldDefaults,
    SurgeDefaults,
)


class GuardrailDefaults(BaseModel):
    """Guardrails between the policy and the cluster. Defaults are the evaluation's
    (:class:`~hrl_autoscaler.runtime.core.guardrails.GuardrailSettings`), so the operator
    does what was measured. The numbers are written here, not read from there (the settings
    layer imports nothing above it); tests/unit/test_settings.py holds the two equal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    restart_cooldown_s: float = Field(default=300.0, ge=0)
    """No change within this many seconds of the last one in ``restart`` actuation: every
    change costs a restart (~90 s of downtime), so at most one per 5 minutes."""
    in_place_cooldown_s: float = Field(default=0.0, ge=0)
    """Cooldown in ``in-place`` actuation: changes are cheap, scale-down confirmations suffice."""
    max_step: int = Field(default=20, ge=1)
    """At most this many executors added or removed per decision. 20, the whole action space:
    the step is not limited unless configured."""
    scale_down_confirmations: int = Field(default=10, ge=1)
    """Consecutive lower proposals needed before scaling down (HPA's stabilisation window), and
    then to the highest of those proposals: HPA's 300 s stabilisation window at 30 s decisions.
    Scale-ups go through at once: being late costs the SLO, being early costs a few cents.
    Measured on the simulator: 10 instead of 4 halves the scaling actions at equal SLO score."""
    scale_down_max_step: int | None = Field(default=None, ge=1)
    """At most this many executors removed per decision (``hrl-autoscaler.io/
    scale-down-max-step`` per application); None = ``max_step``, as up."""
    scale_down_max_factor: float = Field(default=1.0, gt=0, le=1)
    """Flink's ``scale-down.max-factor``: one scale-down removes at most this fraction of the
    executors (0.5: 10 -> 5 at least), and at least one; 1 = no limit (the evaluation's)."""
    deadband: int = Field(default=0, ge=0)
    """Proposals within this many executors of the current count are ignored (hysteresis); 0 =
    every change of the proposal counts."""
    slo_guard: bool = True
    """Raise the policy's proposal to a rate-based sizing while latency is above the SLO
    (:mod:`hrl_autoscaler.runtime.core.sloguard`): cost-leaning weights cannot park an
    application."""
    slo_guard_latency_factor: float = Field(default=1.0, ge=1.0)
    """Latency above this multiple of the application's SLO counts as a breach. 1 (it was 3):
    the best of 1, 1.5 and 3 on validation load (docs/stages-default.md)."""
    slo_guard_cycles: int = Field(default=1, ge=1)
    """Consecutive breaching decisions before the guard acts; it lets go at latency <= SLO.
    1 (it was 3): 1 > 2 > 3 on validation load (docs/stages-default.md)."""
    slo_guard_min_gain: float = Field(default=0.1, ge=0.0, lt=1.0)
    """The guard stands down when its raise, running with no backlog left, cut latency by
    less than this share and left it above the SLO (:mod:`...core.sloguard`); 0 = never."""
    slo_guard_target_utilisation: float = Field(default=0.5, gt=0.0, le=1.0)
    """The utilisation the guard's rescue sizes at (DS2's is 0.7; docs/raise-cap.md)."""
    slo_guard_catch_up_s: float = Field(default=60.0, gt=0.0)
    """The guard's rescue processes the backlog within this long, s (DS2's: 300)."""
    slo_guard_calm_target_utilisation: float | None = Field(default=0.7, gt=0.0, le=1.0)
    """The utilisation the rescue sizes at when the breach is a slow batch (no backlog, the
    input not rising); None = ``slo_guard_target_utilisation`` (docs/breach-floor.md)."""
    slo_guard_calm_input_rise: float = Field(default=0.05, ge=0.0)
    """The input's rise over one decision (a share) below which a breach counts as calm."""
    calm_rule: CalmRuleDefaults = CalmRuleDefaults()
    """On load without bursts for hours the rate rule decides instead of the policy, in place
    (:mod:`hrl_autoscaler.runtime.core.calmrule`); docs/calm-rule.md."""
    raise_cap: RaiseCapDefaults = RaiseCapDefaults()
    """Cap a raise no load, backlog or latency calls for (:mod:`...core.raisecap`)."""
    breach_floor: BreachFloorDefaults = BreachFloorDefaults()
    """Hold a count above one that breached the SLO at this load
    (:mod:`hrl_autoscaler.runtime.core.breachfloor`)."""
    surge: SurgeDefaults = SurgeDefaults()
    """Size for where a steep rise of the input will be once new executors work
    (:mod:`hrl_autoscaler.runtime.core.surge`); docs/surge.md."""
    fall_release: FallReleaseDefaults = FallReleaseDefaults()
    """Give back a burst's executors as the input falls from it
    (:mod:`hrl_autoscaler.runtime.core.fallrelease`); docs/fall-release.md."""
    restart_hold: RestartHoldDefaults = RestartHoldDefaults()
    """Under restart actuation, change the count rarely and by enough to last
    (:mod:`hrl_autoscaler.runtime.core.restarthold`); docs/restart-hold.md."""
    headroom: HeadroomDefaults = HeadroomDefaults()
    """In place, keep the executors a reactive count would miss bursts without, when the
    last hours' load replayed says they pay for themselves
    (:mod:`hrl_autoscaler.runtime.core.headroom`); docs/headroom.md."""
    margin_trim: MarginTrimDefaults = MarginTrimDefaults()
    """Lower a proposal to DS2's sizing while latency stays well below the SLO, in place
    (:mod:`hrl_autoscaler.runtime.core.margintrim`)."""
    anticipation: AnticipationDefaults = AnticipationDefaults()
    """Raise a proposal ahead of load that repeats on a period
    (:mod:`hrl_autoscaler.runtime.core.anticipation`); on by default, docs/anticipation.md."""
    restart_time_limit_s: float = Field(default=900.0, gt=0)
    """No learned restart or start-up time exceeds this, s (Flink's
    ``restart.time-tracking.limit``, 15 min); a measurement still incomplete after it is
    dropped (executors that never start say more about the cluster than the application)."""
    restart_time_history: int = Field(default=5, ge=1, le=100)
    """Measured restart (and start-up) times kept per application in its state; the slowest
    of them is the learned value."""
    ineffective_scaling_release: float = Field(default=0.2, gt=0)
    """An ineffective-scaling block is lifted when the input rate moves by more than this
    share from where it was when detected (a different load may have another bottleneck)."""
    ineffective_scaling_samples: int = Field(default=3, ge=1, le=20)
    """Capacity measurements averaged before and after a scale-up to judge it."""
