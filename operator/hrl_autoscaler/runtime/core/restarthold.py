"""The restart hold: under restart actuation, change the count rarely and by enough to last.

Every change under restart actuation is a restart: 90 s with nothing processed, then the
backlog of those 90 s to drain. Episode traces on smart-metering (docs/restart-hold.md) showed
`hrl` doing what it does in place: after each upload it gave the upload's executors back
(20 -> 18 -> 13 -> 10 -> 6, each a restart with latency at 7-13 x SLO for two intervals), so
the next upload found too few and another restart came in the middle of it; 8 restarts an
hour, a quarter of the intervals over the SLO, and an SLO score of -2.1 where holding 14
executors all day scores 0.28. Under the SLO score an executor held for an hour costs a
twentieth of an hour's share of the cost term; one restart costs about five intervals over
the SLO, the price of holding one executor for about eight hours. So here:

- the count the window needs is the fewest executors that would have kept every one of the
  last ``window`` decisions' latency within ``latency_factor`` x SLO, replayed through the
  cluster model's law with the measured executor rate (:func:`replay_size`): a burst short
  enough for its backlog to drain within the SLO does not need its peak rate's count;
- a scale-down goes through only when that count is at least ``min_drop`` below the current
  one, and then it goes to that count, not below: one restart that lasts, instead of a step
  down each cooldown; never before a whole window has been seen (a count sized on the first
  minutes of an application says little about the next upload);
- a scale-up goes at least to that count, so a load seen in the window is not met again with
  too few executors;
- a scale-up is held when the current count carries the input within the SLO and drains the
  backlog sooner than the restart would (:func:`restart_pays`: a restart adds its downtime's
  input to the backlog before the larger count starts on it), unless a forecast (the surge
  response) asked for it. The anticipation's floor does not count as one here: the window
  already holds the periods it found, and on smart-metering its floor and the hold took
  turns (14 -> 19 -> 14 executors every period, two restarts each).

It acts under restart actuation only; in place a change costs an executor's start-up, which
the other stages already weigh.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.fallrelease import release_size
from hrl_autoscaler.runtime.core.latency import (
    fluid_backlog,
    mean_wait_s_array,
    micro_batch_latency_s,
)


@dataclass(frozen=True, slots=True)
class RestartHoldSettings:
    enabled: bool = True
    """On: restart actuation is where `hrl` lost to static-max and `flink`
    (docs/restart-hold.md)."""
    window: int = 120
    """Decisions (>= 1) the count is sized over: 120 (an hour at 30 s). Holding an executor
    for hours costs less than one restart under the SLO score (see the module); 60, 120 and
    240 scored alike on validation load under restart actuation (0.151, 0.150, 0.146)."""
    latency_factor: float = 0.6
    """The replayed latency of every decision in the window must be within this multiple of
    the SLO (0 < f <= 1). 0.6: the replay is the model's, with a measured executor rate and
    no noise, and the real latency runs above it. At the one-hour window on validation load
    0.4 scored 0.115, 0.6 0.150 and 0.8 0.086 (the last before the drain check)."""
    min_drop: float = 0.25
    """A scale-down must remove at least this share of the executors (0 < d < 1, and at
    least one executor) to be worth its restart."""

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if not 0.0 < self.latency_factor <= 1.0:
            raise ValueError(f"latency_factor must be in (0, 1], got {self.latency_factor}")
        if not 0.0 < self.min_drop < 1.0:
            raise ValueError(f"min_drop must be in (0, 1), got {self.min_drop}")


@dataclass(frozen=True, slots=True)
class HoldContext:
    """What the hold sizes with at one decision."""

    input_eps: float
    backlog_events: float
    single_rate_eps: float
    """The measured rate of one executor alone."""
    params: SimParams
    bounds: tuple[int, int]
    slo_ms: float
    downtime_s: float
    """A restart's downtime (assumed, or learned from this application's restarts)."""
    interval_s: float
    """The time between two decisions (the inputs in the window are that far apart)."""

    def capacity_eps(self, executors: int) -> float:
        return self.params.with_overrides(executor_rate_eps=self.single_rate_eps).capacity_eps(
            executors
        )


class RestartHold:
    """One application's input over the window."""

    def __init__(self, settings: RestartHoldSettings | None = None) -> None:
        self.settings = settings or RestartHoldSettings()
        self.inputs: deque[float] = deque(maxlen=self.settings.window)

    def observe(self, input_eps: float) -> None:
        """Record one decision's input (every decision, restarts included)."""
        self.inputs.append(input_eps)

    def restore(self, rates: Sequence[float]) -> None:
        """Refill the window from a stored history (an operator restart)."""
        self.inputs.clear()
        self.inputs.extend(rates[-self.settings.window :])

    def window_inputs(self) -> np.ndarray:
        """The window's inputs, oldest first."""
        return np.fromiter(self.inputs, dtype=float, count=len(self.inputs))

    def hold(
        self, proposed: int, current: int, now: HoldContext, forecast: bool
    ) -> tuple[int, str]:
        """``proposed`` held at ``current`` or widened (see the module) at ``now``, and why (for
        the event; empty when it changed nothing). ``forecast``: a forecast raised it."""
        return self.apply(
            proposed,
            current,
            lambda: self._need(now),
            lambda: self._carries(now, current, proposed),
            forecast,
        )

    def apply(
        self,
        proposed: int,
        current: int,
        need: Callable[[], int],
        carries: Callable[[], bool],
        forecast: bool,
    ) -> tuple[int, str]:
        """:meth:`hold` given ``need`` (the count the window needs) and ``carries`` (the current
        count carries the input and clears the backlog sooner than a restart), each asked
        only when the answer depends on it (the replay is the costly part)."""
        window = f"the last {len(self.inputs)} decisions' load"
        if proposed > current:
            if not forecast and carries():
                why = f"{current} carry the input and clear the backlog sooner than a restart"
                return current, f"restart hold: {why}"
            needed = need()
            if needed > proposed:
                return needed, f"restart hold: {window} needs {needed}"
            return proposed, ""
        if proposed < current:
            if len(self.inputs) < self.settings.window:
                return current, "restart hold: no scale-down before a whole window was seen"
            needed = need()
            lowest = max(proposed, needed)
            if lowest <= current - self._drop(current):
                return lowest, (
                    f"restart hold: {window} needs {needed}" if lowest > proposed else ""
                )
            return current, f"restart hold: {window} needs {needed}, too close for a restart"
        return proposed, ""

    def _carries(self, now: HoldContext, current: int, proposed: int) -> bool:
        carry = release_size(
            now.input_eps, now.single_rate_eps, now.params, 1.0, now.slo_ms, now.bounds
        )
        if carry > current:
            return False
        capacity_now, capacity_after = now.capacity_eps(current), now.capacity_eps(proposed)
        backlog, downtime = now.backlog_events, now.downtime_s
        return not restart_pays(now.input_eps, backlog, capacity_now, capacity_after, downtime)

    def _drop(self, current: int) -> int:
        """The fewest executors a scale-down from ``current`` must remove."""
        return max(1, math.ceil(self.settings.min_drop * current - 1e-9))

    def _need(self, now: HoldContext) -> int:
        limit_ms = self.settings.latency_factor * now.slo_ms
        inputs, single, interval = self.window_inputs(), now.single_rate_eps, now.interval_s
        return replay_size(inputs, single, now.params, limit_ms, now.bounds, interval)


def replay_size(
    inputs: np.ndarray,
    single_rate_eps: float,
    params: SimParams,
    latency_limit_ms: float,
    bounds: tuple[int, int],
    interval_s: float | None = None,
) -> int:
    """The fewest executors within ``bounds`` under which every interval of ``inputs`` (events/s,
    one per decision ``interval_s`` apart, by default the model's, oldest first) would have
    had a latency within ``latency_limit_ms``: the
    micro-batch latency of the cluster model's law plus the drain time of the backlog the
    intervals above capacity leave (a fluid queue, empty at the start), with the measured
    single-executor rate; the bound's top when none would. Latency falls as executors are
    added, so the count is found by bisection."""
    measured = params.with_overrides(executor_rate_eps=single_rate_eps)
    dt, limit_s = interval_s or params.decision_interval_s, latency_limit_ms / 1000.0

    def meets(n: int) -> bool:
        capacity = measured.capacity_eps(n)
        utilisation = inputs / capacity
        backlog = fluid_backlog(inputs, capacity, dt)
        wait = mean_wait_s_array(n, utilisation, params.task_time_s)
        latency = micro_batch_latency_s(params, np.minimum(utilisation, 1.0), wait)
        return bool(np.all(latency + backlog / capacity <= limit_s))

    lo, hi = bounds
    while lo < hi:
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def restart_pays(
    input_eps: float,
    backlog_events: float,
    capacity_now_eps: float,
    capacity_after_eps: float,
    downtime_s: float,
) -> bool:
    """Whether restarting to a count of ``capacity_after_eps`` clears ``backlog_events`` sooner
    than the current count does: the restart processes nothing for ``downtime_s`` (the input
    piles onto the backlog), then drains at its surplus over the input. A count that cannot
    keep up with the input never clears it."""
    if capacity_after_eps <= input_eps:
        return False
    after = downtime_s + (backlog_events + input_eps * downtime_s) / (
        capacity_after_eps - input_eps
    )
    if capacity_now_eps <= input_eps:
        return True
    return after < backlog_events / (capacity_now_eps - input_eps)
