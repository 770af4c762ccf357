"""The fall release: when the input has fallen well below its recent peak, the executors the
peak needed are given back as the load falls, not half an hour later.

Episode traces on smart-hospital (docs/fall-release.md) showed where `hrl`'s cost goes: from 12
to 40 intervals after an alarm's start the policy holds 14.6 executors where the oracle holds
8.0. The policy proposes the alarm's 18 all through its decay, with latency at 0.7-0.9 x SLO:
above the margin trim's quiet factor, so nothing lowers it, and the scale-down confirmations
would hold it anyway. The anticipation releases a burst's executors the same way, but only for
load with a period. So when the input is at least ``min_fall`` below the highest input of the
last ``window`` decisions, latency is below ``latency_factor`` x SLO and no backlog is left, a
proposal above what the larger of the last two inputs needs (at most ``target_utilisation``,
and a latency within ``latency_factor`` x SLO by the cluster model: :func:`release_size`) is
lowered to it, and that lowering skips the scale-down confirmations (the fall is the
confirmation). It only lowers, never below what the last two inputs need; a rise that comes
back is the surge response's and the SLO guard's. Like the margin trim it acts under the
``slo`` objective only: R_meta rewards the latency the executors it gives back would buy.

Bursts that recur at a period the anticipation could not confirm (alarms over periodic
uploads) need the executors the release gives back: a fall that begins within
``recur_window`` decisions of the previous fall's beginning is not released. Without that
guard the stage lost on held-out load and was off by default (sessions 17-21).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.latency import mean_wait_s, micro_batch_latency_s


@dataclass(frozen=True, slots=True)
class FallReleaseSettings:
    enabled: bool = True
    """On by default since session 22, with ``recur_window``: validation +0.004, train
    +0.005, held-out +0.004 ± 0.003 (better on 8 of 25 cases, worse on 1). Without the
    recurrence guard (sessions 17-21, off by default) bursts at a period the anticipation
    could not confirm (alarms over uploads: -0.234) lost the executors the next burst needed
    (docs/fall-release.md)."""
    min_fall: float = 0.2
    """The share (0 < f < 1) the input must be below its recent peak to count as falling."""
    window: int = 20
    """Decisions the recent peak is taken over (>= 2)."""
    target_utilisation: float = 0.85
    """Utilisation the last two inputs are sized at (0 < u <= 1)."""
    latency_factor: float = 0.8
    """The release acts only while latency is below this multiple of the SLO (0 < f <= 1)."""
    recur_window: int = 60
    """Decisions (>= 0; 0 = off) within which a fall that begins after an earlier one's
    beginning counts as a recurring burst, and is not released: bursts that come back that
    soon need the executors a release gives back. 60 (30 minutes at 30 s): 40, 60 and 90
    scored alike on validation load (0.458, 0.458, 0.457)."""
    restart_actuation: bool = False
    """Also release under restart actuation, where every release is a restart (its downtime
    and a backlog): off, like the margin trim and the calm rule there."""
    skip_confirmations: bool = True
    """A release goes through at once (True) or waits for the scale-down confirmations (on the
    two held-out cases it lost, waiting recovered a fifth of the loss at most)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.min_fall < 1.0:
            raise ValueError(f"min_fall must be in (0, 1), got {self.min_fall}")
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")
        if not 0.0 < self.target_utilisation <= 1.0:
            raise ValueError(f"target_utilisation must be in (0, 1], got {self.target_utilisation}")
        if not 0.0 < self.latency_factor <= 1.0:
            raise ValueError(f"latency_factor must be in (0, 1], got {self.latency_factor}")
        if self.recur_window < 0:
            raise ValueError(f"recur_window must be >= 0, got {self.recur_window}")


class FallRelease:
    """One application's recent inputs."""

    def __init__(self, settings: FallReleaseSettings | None = None) -> None:
        self.settings = settings or FallReleaseSettings()
        self.inputs: deque[float] = deque(maxlen=self.settings.window)
        self.falling = False
        self.since_fall: int | None = None
        """Decisions since the current (or last) fall began; None before the first."""
        self.gap: int | None = None
        """Decisions between the beginnings of the last two falls; None before the second."""

    def observe(self, input_eps: float) -> float | None:
        """Record the input; the rate to size for when the input is falling (and the fall is
        not a recurring burst's), else None."""
        self.inputs.append(input_eps)
        if self.since_fall is not None:
            self.since_fall += 1
        falling = len(self.inputs) >= 2 and input_eps <= (
            (1.0 - self.settings.min_fall) * max(self.inputs)
        )
        began, self.falling = falling and not self.falling, falling
        if began:
            self.gap, self.since_fall = self.since_fall, 0
        if not falling:
            return None
        recur = self.settings.recur_window
        if recur and self.gap is not None and self.gap <= recur:
            return None
        return max(self.inputs[-1], self.inputs[-2])


def release_size(
    rate_eps: float,
    single_rate_eps: float,
    params: SimParams,
    utilisation: float,
    latency_limit_ms: float,
    bounds: tuple[int, int],
) -> int:
    """The fewest executors within ``bounds`` that carry ``rate_eps`` at or below
    ``utilisation`` with a micro-batch latency (the cluster model's law, with the measured
    single-executor rate) at or below ``latency_limit_ms``; the bound's top when none does. A
    tight SLO (smart-hospital's 1.5 s over a 0.7 s batch floor) needs a lower utilisation than
    a fixed target gives: sized at 0.85 alone the release breached it after every alarm."""
    lo, hi = bounds
    measured = params.with_overrides(executor_rate_eps=single_rate_eps)
    for n in range(lo, hi + 1):
        u = rate_eps / measured.capacity_eps(n)
        if u > utilisation:
            continue
        wait = mean_wait_s(n, u, params.task_time_s)
        if micro_batch_latency_s(params, u, wait) * 1000.0 <= latency_limit_ms:
            return n
    return hi
