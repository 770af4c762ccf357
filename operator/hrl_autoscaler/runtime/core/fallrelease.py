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

Off by default: on held-out load, bursts that recur at a period the anticipation could not
confirm (alarms over periodic uploads) lost the executors the next burst needed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.latency import mean_wait_s, micro_batch_latency_s


@dataclass(frozen=True, slots=True)
class FallReleaseSettings:
    enabled: bool = False
    """Off by default: +0.008 on validation load and +0.007 on the train suite, but -0.006 ±
    0.021 on the held-out suite, where load with bursts at a period the anticipation cannot
    confirm (smart-hospital alarms over smart-metering uploads: -0.234) loses the executors
    the next burst needs (docs/fall-release.md). For bursts without a period, opt in."""
    min_fall: float = 0.2
    """The share (0 < f < 1) the input must be below its recent peak to count as falling."""
    window: int = 20
    """Decisions the recent peak is taken over (>= 2)."""
    target_utilisation: float = 0.85
    """Utilisation the last two inputs are sized at (0 < u <= 1)."""
    latency_factor: float = 0.8
    """The release acts only while latency is below this multiple of the SLO (0 < f <= 1)."""
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


class FallRelease:
    """One application's recent inputs."""

    def __init__(self, settings: FallReleaseSettings | None = None) -> None:
        self.settings = settings or FallReleaseSettings()
        self.inputs: deque[float] = deque(maxlen=self.settings.window)

    def observe(self, input_eps: float) -> float | None:
        """Record the input; the rate to size for when the input is falling, else None."""
        self.inputs.append(input_eps)
        if len(self.inputs) < 2:
            return None
        if input_eps > (1.0 - self.settings.min_fall) * max(self.inputs):
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
