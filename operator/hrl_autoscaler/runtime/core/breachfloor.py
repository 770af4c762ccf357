"""The breach floor: a count that missed the SLO at this load is not returned to at this load.

Episode traces on steady load (docs/breach-floor.md) showed a cycle the other stages could not
break: the policy scales down to a count at which latency sits at 0.7-0.85 x SLO, one noisy
batch there breaches the SLO, the SLO guard rescues, and ten confirmations later the policy
goes back to the same count, to breach again. A platform engineer who had watched that would
stop scaling below the count that failed. So every breach the SLO guard starts a rescue for
with no backlog left (every event processed, and still too slow) is remembered as (executors
running, input rate, time), and once the breach is over (the guard no longer active) the floor
holds. A breach while a backlog drains is not: after a step of the load the latency of the
events queued before the raise says nothing of the count now running (on-off load: a floor at
the count that drained the step held 20 executors all the on-phase). Nor is every decision of a
long breach, and the floor does not act while the guard does: where latency is above the SLO at
any count (the calibrated cluster's 2 s trigger) a floor renewed at every decision of the
breach forbade every scale-down (measured: 12 executors held where 4 did as well), and there
the guard's own sizing follows the load down. While the input stays within ``input_tolerance``
below that breach's input (the load has not fallen) and for at most ``hold_s``, no proposal
goes below the breached count plus ``margin``. The floor only holds what runs: it never raises
a count by itself (a raise is the guard's job), so a floor can cost the executors a scale-down
would have saved, never start new ones.

A breach no count can fix (the batch's own floor above the SLO, where the SLO guard stands
down) is not capacity: the guard's stand-down clears every floor.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BreachFloorSettings:
    enabled: bool = True
    """On since it was measured ahead of the decision step without it on validation load
    (+0.009 over 25 cases) and then on the train and held-out suites (docs/breach-floor.md)."""
    margin: int = 1
    """The floor is the breached count plus this many executors (count, >= 1): the breached
    count itself is what failed."""
    input_tolerance: float = 0.1
    """The floor lifts once the input rate is more than this share (0 <= t < 1) below the
    input at the breach: less load, and the breached count may do again. 0.1: above the few
    percent an input rate moves from one interval to the next at steady load (0.05 and 0.15
    scored the same on validation load)."""
    hold_s: float = 7200.0
    """How long a breach is remembered, s (> 0). Two hours: at 30 minutes the floor lifted
    between two breaches of the same count on steady load, and the cycle came back (steady
    -0.016 on validation load); six hours scored within 0.001 of two, and a shorter memory
    holds a cluster that got faster to an old failure for less long."""
    memory: int = 8
    """Breaches remembered (count, >= 1); the oldest is dropped first."""

    def __post_init__(self) -> None:
        if self.margin < 1:
            raise ValueError(f"margin must be >= 1, got {self.margin}")
        if not 0.0 <= self.input_tolerance < 1.0:
            raise ValueError(f"input_tolerance must be in [0, 1), got {self.input_tolerance}")
        if self.hold_s <= 0:
            raise ValueError(f"hold_s must be > 0, got {self.hold_s}")
        if self.memory < 1:
            raise ValueError(f"memory must be >= 1, got {self.memory}")


@dataclass(frozen=True, slots=True)
class Breach:
    running: int
    input_eps: float
    time_s: float


class BreachFloor:
    """The breaches one application's SLO guard acted on, and the floor they set."""

    def __init__(self, settings: BreachFloorSettings | None = None) -> None:
        self.settings = settings or BreachFloorSettings()
        self.breaches: deque[Breach] = deque(maxlen=self.settings.memory)

    def record(self, running: int, input_eps: float, time_s: float) -> None:
        """Remember a breach at ``running`` executors and ``input_eps``."""
        if self.settings.enabled and running > 0:
            self.breaches.append(Breach(running, input_eps, time_s))

    def clear(self) -> None:
        """Forget every breach (the SLO guard found the breach was not capacity)."""
        self.breaches.clear()

    def floor(self, input_eps: float, time_s: float) -> int | None:
        """The highest breached count plus the margin among the breaches still in force
        (recent enough, input not fallen), None when none is."""
        s = self.settings
        low = 1.0 - s.input_tolerance
        live = [
            b
            for b in self.breaches
            if time_s - b.time_s <= s.hold_s and input_eps >= low * b.input_eps
        ]
        return max(b.running for b in live) + s.margin if live else None

    def apply(self, proposed: int, current: int, input_eps: float, time_s: float) -> int:
        """``proposed``, raised to the floor but never above ``current``: the floor holds
        what runs and starts nothing."""
        floor = self.floor(input_eps, time_s) if self.settings.enabled else None
        if floor is None or proposed >= current:
            return proposed
        return max(proposed, min(current, floor))
