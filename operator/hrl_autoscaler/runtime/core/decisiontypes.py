"""What the decision step takes and gives: the policy it asks, the options its callers may set,
and the :class:`Decision` it returns (the intent the operator realises and reports).

Apart from :mod:`hrl_autoscaler.runtime.core.decision` so that the step itself stays one job;
importers may use either module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings
from hrl_autoscaler.runtime.core.breachfloor import BreachFloorSettings
from hrl_autoscaler.runtime.core.calmrule import CalmRuleSettings
from hrl_autoscaler.runtime.core.effectiveness import IneffectiveScaling
from hrl_autoscaler.runtime.core.fallrelease import FallReleaseSettings
from hrl_autoscaler.runtime.core.headroom import HeadroomSettings
from hrl_autoscaler.runtime.core.margintrim import MarginTrimSettings
from hrl_autoscaler.runtime.core.observation import ObservationScale
from hrl_autoscaler.runtime.core.raisecap import RaiseCapSettings
from hrl_autoscaler.runtime.core.restarthold import RestartHoldSettings
from hrl_autoscaler.runtime.core.sizing import DS2Settings
from hrl_autoscaler.runtime.core.sloguard import SloGuardSettings
from hrl_autoscaler.runtime.core.surge import SurgeSettings


class ExecutorPolicy(Protocol):
    def executors(self, obs: np.ndarray) -> int:
        """The executor count (1..20) for one observation."""
        ...


@dataclass(frozen=True, slots=True)
class DecisionOptions:
    """What may differ between callers of the decision step, each by name."""

    fallback: bool = True
    """Let DS2 decide while the observation is outside the policy's training range (the
    operator and evaluation; training may switch it off to see the raw policy)."""
    fallback_tolerance: float = 0.05
    """How far outside its bounds a checked feature may go before DS2 takes over."""
    slo_guard: SloGuardSettings = field(default_factory=SloGuardSettings)
    calm_rule: CalmRuleSettings = field(default_factory=CalmRuleSettings)
    """The rate rule decides instead of the policy on load without bursts for hours (in-place
    actuation unless asked for; docs/calm-rule.md)."""
    margin_trim: MarginTrimSettings = field(default_factory=MarginTrimSettings)
    """Lower a proposal far above DS2's sizing while latency stays well below the SLO (in-place
    actuation unless asked for; docs/margin-trim.md)."""
    raise_cap: RaiseCapSettings = field(default_factory=RaiseCapSettings)
    """Cap a raise the load, a backlog and latency do not call for (docs/raise-cap.md)."""
    breach_floor: BreachFloorSettings = field(default_factory=BreachFloorSettings)
    """Hold a count above one that breached the SLO at this load (docs/breach-floor.md)."""
    fall_release: FallReleaseSettings = field(default_factory=FallReleaseSettings)
    """Give back a burst's executors as the input falls from it (docs/fall-release.md)."""
    surge: SurgeSettings = field(default_factory=SurgeSettings)
    """Size for where a steep rise of the input will be once new executors work
    (docs/surge.md)."""
    anticipation: AnticipationSettings = field(default_factory=AnticipationSettings)
    """Raise a proposal ahead of load that repeats on a period the input shows, and release
    between its bursts (docs/anticipation.md)."""
    restart_hold: RestartHoldSettings = field(default_factory=RestartHoldSettings)
    """Under restart actuation, change the count rarely and by enough to last
    (docs/restart-hold.md)."""
    headroom: HeadroomSettings = field(default_factory=HeadroomSettings)
    """In place, keep the executors a reactive count would miss bursts without, when the
    recent load's replay says they pay for themselves (docs/headroom.md)."""
    ds2: DS2Settings = field(default_factory=DS2Settings)


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision: what the policy wanted, who decided, and what the guardrails let through."""

    current: int
    target: int
    proposed: int
    """The proposal after the fallback, the calm rule, the SLO guard, the margin trim, the raise
    cap, the anticipation, the surge response, the fall release, the breach floor, the restart
    hold and an ineffective-scaling hold, before the guardrails."""
    controller: str
    """``ppo``, ``ds2`` (fallback) or ``rule`` (the calm rule), any of them with
    ``+slo-guard`` or ``+trim``, ``+capped``, ``+ahead``, ``+surge``, ``+fall``, ``+floor``,
    ``+restart-hold`` and ``+headroom``, or ``hold`` (restarting)."""
    reasons: tuple[str, ...] = ()
    """Why the headroom floor, the surge response, the anticipation and the restart hold
    (first, when they changed the proposal or the target) and the guardrails (held, clamped,
    step-limited, cooldown) changed it."""
    outside: tuple[str, ...] = ()
    """Observation fields outside the training range (the fallback's reason)."""
    unguarded: int | None = None
    """The policy's (or DS2's, or the calm rule's) proposal before the SLO guard."""
    ruled_from: int | None = None
    """The policy's proposal the calm rule replaced (None when the load was not calm)."""
    required: int | None = None
    """The rate-based size the SLO guard raised the proposal to (None when it did not)."""
    trimmed_from: int | None = None
    """The proposal the margin trim lowered (None when it did not bind)."""
    raise_capped_from: int | None = None
    """The raise the raise cap lowered (None when it did not bind)."""
    floored_from: int | None = None
    """The proposal the breach floor raised (None when it did not bind)."""
    restart_held_from: int | None = None
    """The proposal the restart hold kept or widened (None when it did neither)."""
    headroom_from: int | None = None
    """The target the headroom floor raised, after the guardrails (None when it did not)."""
    released_from: int | None = None
    """The proposal the fall release lowered (None when it did not)."""
    surged_from: int | None = None
    """The proposal the surge response raised (None when it did not)."""
    anticipated_from: int | None = None
    """The proposal the anticipation changed: raised ahead of a periodic burst, or lowered to
    what the forecast and the load need between bursts (None when it did neither)."""
    fallback_started: bool = False
    fallback_ended: bool = False
    guard_started: bool = False
    guard_ended: bool = False
    scale: ObservationScale | None = None
    cooldown_origin: float = -math.inf
    """When the last change before this decision went through (restored when this decision's
    change is not written)."""
    capped_from: int | None = None
    """The target an ExecutorBudget's cap lowered (None when the cap did not bind)."""
    paused: str | None = None
    """Why a pause annotation changed the target (None when none bound)."""
    held_from: int | None = None
    """The proposal an ineffective-scaling block lowered (None when it did not bind)."""
    ineffective: IneffectiveScaling | None = None
    """A scale-up found ineffective at this decision (the IneffectiveScaling event)."""
    released: IneffectiveScaling | None = None
    """The ineffective-scaling block this decision lifted (the load changed)."""

    @property
    def changes(self) -> bool:
        return self.target != self.current
