"""The margin trim: the SLO guard's mirror image, for the executors the SLO does not need.

The executor policy learned a habit at low load: it keeps a few executors more than the load
asks for (issue 12: three where one meets the SLO, about 0.1 of SLO score lost at three times
the cost). The SLO guard already overrides the policy when latency proves it wrong in one
direction; the trim does the same in the other. When latency has stayed well below the SLO
(under ``quiet_factor`` x SLO) for ``quiet_cycles`` decisions in a row, and the proposal is more
than ``margin`` executors above what a rate-based sizing (DS2's, without its band and
stabilisation: the SLO guard's ``required``) asks for, the proposal is lowered to
``required + margin``. The floor therefore follows the measured load and the SLO, not the
policy's habit. A single decision at or above the quiet threshold resets the count, so the
trim lets go at the first sign of pressure (no hysteresis: being late to scale down costs a
few cents, being late to stop trimming costs the SLO).

The trim only lowers a proposal; the guardrails after it still ask for their scale-down
confirmations, so a trim moves the count no faster than any other scale-down. It is on by
default at the setting chosen on validation load (docs/margin-trim.md), in in-place actuation
only: under restart actuation every trimmed executor is a restart (docs/stages-default.md);
and under the ``slo`` objective only: R_meta rewards the latency those executors buy
(docs/raise-cap.md).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MarginTrimSettings:
    enabled: bool = True
    """On since it was measured better than the policy alone on held-out load (25 cases,
    seeds 1000-1009, paired: docs/stages-default.md)."""
    quiet_factor: float = 0.8
    """Latency below this multiple of the SLO (a ratio, 0 < f <= 1) counts as quiet. Below 1
    so that the executors trimmed were not the ones holding latency under the SLO; 0.8, not
    0.5, because micro-batch latency sits at 0.6-0.8 x SLO wherever the policy over-provisions
    (the validation grid: 0.5 never fired there)."""
    quiet_cycles: int = 12
    """Consecutive quiet decisions before the trim acts (12 x 30 s = 6 minutes): a quiet
    minute between two bursts is not a trend."""
    margin: int = 0
    """Executors kept above the rate-based size (count, >= 0): headroom for noise between
    decisions on top of the sizing's own target utilisation. 0: the peak window below already
    keeps the largest recent size, and 1 scored lower on validation load."""
    target_utilisation: float | None = 0.85
    """The utilisation (0 < u <= 1) the rate-based size is computed at; None = DS2's own
    (0.7). DS2's 0.7 already sizes for bursts, and at steady load it asks for what the policy
    holds: a higher utilisation is the only way the trim can go below it (0.85 was the best
    of ds2 and 0.85 on validation load)."""
    peak_window: int = 40
    """Trim to the largest rate-based size of the last ``peak_window`` decisions (count; 30 s
    each), not the current one: load that bursts on a schedule (smart meters every 15
    minutes) is quiet between its bursts, and a trim to the size between them is undone, late,
    by every burst. 40 (20 minutes) is longer than the scenarios' burst periods; 0 = the
    current size only."""
    hold_factor: float | None = None
    """Once active, the trim holds while latency stays below this multiple of the SLO
    (``quiet_factor`` <= h <= 1; None = ``quiet_factor``, no hysteresis: the first decision
    at or above the quiet threshold ends it). Between the two the trimmed count is what keeps
    latency where it is, and a policy that raises it again at once makes the trim a cycle."""
    restart_actuation: bool = False
    """Trim under restart actuation too. Off: there each trimmed executor costs a restart
    (90 s without processing) and the next scale-up another; measured on traffic-sensors,
    5.5 restarts/h instead of 3.7 and 0.65 less SLO score (docs/margin-trim.md)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.quiet_factor <= 1.0:
            raise ValueError(f"quiet_factor must be in (0, 1], got {self.quiet_factor}")
        if self.quiet_cycles < 1:
            raise ValueError(f"quiet_cycles must be >= 1, got {self.quiet_cycles}")
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")
        u = self.target_utilisation
        if u is not None and not 0.0 < u <= 1.0:
            raise ValueError(f"target_utilisation must be in (0, 1], got {u}")
        if self.peak_window < 0:
            raise ValueError(f"peak_window must be >= 0, got {self.peak_window}")
        h = self.hold_factor
        if h is not None and not self.quiet_factor <= h <= 1.0:
            raise ValueError(f"hold_factor must be in [quiet_factor, 1], got {h}")


@dataclass(frozen=True, slots=True)
class TrimmedProposal:
    executors: int
    trimmed: bool
    """True when the trim lowered the proposal."""


class MarginTrim:
    """Counts quiet decisions and trims proposals while they last (one per application)."""

    def __init__(self, settings: MarginTrimSettings | None = None) -> None:
        self.settings = settings or MarginTrimSettings()
        self.quiet = 0
        self.sizes: deque[int] = deque(maxlen=max(1, self.settings.peak_window))

    @property
    def active(self) -> bool:
        return self.settings.enabled and self.quiet >= self.settings.quiet_cycles

    def observe(self, latency_ms: float, slo_ms: float) -> bool:
        """Record one decision's latency; return whether the trim is active now."""
        hold = self.settings.hold_factor
        if latency_ms < self.settings.quiet_factor * slo_ms:
            self.quiet += 1
        elif not (self.active and hold is not None and latency_ms < hold * slo_ms):
            self.quiet = 0
        return self.active

    def apply(self, proposed: int, required: int | None) -> TrimmedProposal:
        """``proposed`` lowered to ``required + margin`` (``required``: the largest of the last
        ``peak_window`` sizes) while the trim is active and the proposal exceeds it. Call it at
        every decision: it records the size. ``required`` None: no rate known yet, nothing to
        trim to."""
        if required is None:
            return TrimmedProposal(proposed, False)
        self.sizes.append(required)
        if not self.active:
            return TrimmedProposal(proposed, False)
        ceiling = max(self.sizes) + self.settings.margin
        if proposed > ceiling:
            return TrimmedProposal(ceiling, True)
        return TrimmedProposal(proposed, False)
