"""The SLO guard: no weights may park an application far behind its latency SLO.

The executor policy was trained with the seed's reward, whose latency term is clipped at
``max_latency_ms``: past that point more latency costs the policy nothing, so under cost-leaning
weights (``cost-first``, alpha 0.9) it can hold one executor while latency grows to minutes.
The DS2 fallback does not see this, because latency and backlog saturate in the observation by
design. The guard watches the one number users hold us to: when latency stays above
``latency_factor`` x SLO for ``breach_cycles`` decisions in a row, a proposal below what a
rate-based sizing (DS2's, without its stabilisation) asks for is raised to it, until latency is
back within the SLO. With a factor above 1, between the SLO and the factor the count neither
grows nor resets (hysteresis), so the guard does not flap around the threshold; at the default
1 every decision either breaches or resets.

Executors buy latency only while processing is what it is made of. When the batch's own floor
(trigger interval, scheduling overhead) is above the SLO, no count meets it, and a guard that
keeps raising only spends (measured on the calibrated simulator, whose 2 s trigger puts every
2 s SLO out of reach: 46% more cost for 1% less latency). So the guard **stands down** when its
raise has been tried and did not help: the executors it asked for all run, no backlog is left,
latency is still above the SLO and within ``min_gain`` of where it was at the raise. It stays
down until latency is back within the SLO or a backlog builds up again (then capacity is short
once more, and the guard may act and measure afresh).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SloGuardSettings:
    enabled: bool = True
    latency_factor: float = 1.0
    """Latency above this multiple of the SLO counts as a breach. 1, the SLO itself (it was 3,
    a policy far off only): the best of 1, 1.5 and 3 on validation load, and better than 3 on
    held-out load beside the margin trim (docs/stages-default.md)."""
    breach_cycles: int = 1
    """Consecutive breaching decisions before the guard acts. 1 (it was 3, "one slow batch is
    not a trend"): the guard raises only to a rate-based sizing, so a lone slow batch costs at
    most that, and on validation load acting at once scored best (docs/stages-default.md)."""
    min_gain: float = 0.1
    """The share (0..1) by which latency must have fallen since the raise, once its executors
    run and the backlog is gone, for the guard to keep raising; 0 = never stand down. 0.1:
    well above the 1% the calibrated cluster's extra executors bought, below what a raise
    from a busy count gives on the default one (a busy fraction of 0.95 -> 0.7 takes a 1 s
    trigger's latency from 1.65 s plus queueing to 1.4 s, -15% or more)."""

    target_utilisation: float = 0.5
    """The utilisation (0 < u <= 1) the rescue sizes at. 0.5, below DS2's 0.7: the guard acts
    only on a breach, where a count too small costs ten times the SLO score a count too large
    does (0.5 > 0.6 > 0.7 > 0.85 on validation load, docs/raise-cap.md)."""
    catch_up_s: float = 60.0
    """The backlog is sized to be processed within this long, s (> 0): a minute, not DS2's
    five, because a breach is what the backlog already costs (validation load)."""
    calm_target_utilisation: float | None = 0.7
    """The utilisation (0 < u <= 1) the rescue sizes at when the breach is a slow batch, not
    load: no backlog is left and the input has not risen since the last decision (by more
    than ``calm_input_rise``). None = ``target_utilisation`` always. 0.7, DS2's: on steady
    load a slow batch at 8 executors took the rescue to 16 and the policy held 12 for 20
    minutes; 0.85 cost smart-hospital 0.012 on validation load (docs/breach-floor.md)."""
    calm_input_rise: float = 0.05
    """The input's rise over the last decision (a share, >= 0) below which a breach counts as
    calm."""

    def __post_init__(self) -> None:
        if not 0.0 < self.target_utilisation <= 1.0:
            raise ValueError(f"target_utilisation must be in (0, 1], got {self.target_utilisation}")
        calm = self.calm_target_utilisation
        if calm is not None and not 0.0 < calm <= 1.0:
            raise ValueError(f"calm_target_utilisation must be in (0, 1], got {calm}")
        if self.calm_input_rise < 0:
            raise ValueError(f"calm_input_rise must be >= 0, got {self.calm_input_rise}")
        if self.catch_up_s <= 0:
            raise ValueError(f"catch_up_s must be > 0, got {self.catch_up_s}")
        if self.latency_factor < 1.0:
            raise ValueError(f"latency_factor must be >= 1, got {self.latency_factor}")
        if self.breach_cycles < 1:
            raise ValueError(f"breach_cycles must be >= 1, got {self.breach_cycles}")
        if not 0.0 <= self.min_gain < 1.0:
            raise ValueError(f"min_gain must be in [0, 1), got {self.min_gain}")


@dataclass(frozen=True, slots=True)
class GuardedProposal:
    executors: int
    raised: bool
    """True when the guard replaced the policy's proposal."""


class SloGuard:
    """Counts SLO breaches and raises proposals while they persist (one per application)."""

    def __init__(self, settings: SloGuardSettings | None = None) -> None:
        self.settings = settings or SloGuardSettings()
        self.breaches = 0
        self.stood_down = False
        """The last raise did not buy latency (see the module): no raising until re-armed."""
        self._latency_ms = 0.0
        self._raised_from_ms: float | None = None
        """Latency when the guard first raised in this breach (None: it has not)."""
        self._raised_to = 0

    @property
    def active(self) -> bool:
        return (
            self.settings.enabled
            and self.breaches >= self.settings.breach_cycles
            and not self.stood_down
        )

    def observe(
        self,
        latency_ms: float,
        slo_ms: float,
        running: int | None = None,
        backlogged: bool = False,
    ) -> bool:
        """Record one decision's latency; return whether the guard is active now.

        ``running``: the executors running now (None: unknown, the guard never stands down);
        ``backlogged``: a backlog is left (capacity is short: re-arms a guard that stood
        down)."""
        self._latency_ms = latency_ms
        if latency_ms > self.settings.latency_factor * slo_ms:
            self.breaches += 1
        elif latency_ms <= slo_ms:
            self.breaches = 0
            self._rearm()
        if backlogged:
            self._rearm()
        elif self._tried_in_vain(latency_ms, slo_ms, running):
            self.stood_down = True
        return self.active

    def _tried_in_vain(self, latency_ms: float, slo_ms: float, running: int | None) -> bool:
        before = self._raised_from_ms
        if before is None or running is None or running < self._raised_to:
            return False
        return latency_ms > slo_ms and latency_ms > (1.0 - self.settings.min_gain) * before

    def _rearm(self) -> None:
        self.stood_down = False
        self._raised_from_ms = None
        self._raised_to = 0

    def apply(self, proposed: int, required: int | None) -> GuardedProposal:
        """``proposed`` (the policy's), raised to ``required`` (a rate-based sizing; None when
        no rate is known yet) while the guard is active."""
        if self.active and required is not None and required > proposed:
            if self._raised_from_ms is None and self.settings.min_gain > 0:
                self._raised_from_ms = self._latency_ms
            self._raised_to = max(self._raised_to, required)
            return GuardedProposal(required, True)
        return GuardedProposal(proposed, False)
