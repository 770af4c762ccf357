"""The headroom floor: keep the executors that a reactive count, a start-up late, would miss.

Every stage before this one reacts to load it sees or forecasts load that repeats on a period.
Where bursts come unannounced (alarms, crowds) a reactive count meets each one a start-up
late: its first intervals run over the SLO whatever the count does next. When bursts are rare
that costs a few intervals a day, inside the SLO score's error budget (1% of intervals); when
they come several times an hour the breaches overrun it, and each further 1% of intervals over
the SLO costs what holding two of twenty executors all day costs. On smart-hospital at 1.4x
its tempo (validation seeds) `hrl` ran 4.9% of its intervals over the SLO and scored -0.014;
with its minimum fixed at 16 executors it scored 0.108, and at the default tempo the best
fixed floor was 8 (docs/headroom.md): the floor has to come from the application's own load.

So every ``every`` decisions the last ``window`` decisions' inputs are replayed (the cluster
model's latency law with the measured executor rate and a fluid backlog, as the restart
hold's replay) with the counts the step decided then, each raise working a start-up late,
under every candidate floor, and each floor is scored by the SLO score (its replayed counts'
cost against its attainment):

- the attainment is the measured one moved by what the replay says the floor changes
  (``anchored``), so the model's error at the counts that ran cancels;
- a floor is kept only if it scores above none in each of ``parts`` parts of the window:
  bursts that recur, not one rush hour (the lowest of the best);
- no floor at all when the replay of the counts that ran misses the measured attainment by
  more than ``max_model_error``: the model does not describe the load.

On load a reactive count serves within the error budget no floor scores best, and the stage
changes nothing. The counts replayed are those decided with the floor of the time in force,
and under a floor the policy's own counts are lower than without it, so a floor comes down
only when the window's load would not have needed it. It acts in place and under the ``slo``
objective only: under restart actuation a raise is a restart and the restart hold sizes the
count for its window; R_meta rewards latency, not an error budget.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.latency import (
    fluid_backlog,
    mean_wait_s_array,
    micro_batch_latency_s,
)
from hrl_autoscaler.runtime.core.objectives import slo_score


@dataclass(frozen=True, slots=True)
class HeadroomSettings:
    enabled: bool = True
    """On: validation 0.458 -> 0.461 (smart-hospital +0.007 to +0.046, flash-crowd -0.001
    to -0.005, the rest within 0.001), held-out 0.186 -> 0.194 (docs/headroom.md)."""
    window: int = 480
    """Decisions (>= 2) replayed: 480, four hours at 30 s, several bursts of load that bursts
    a few times an hour. On smart-hospital's tempos (validation seeds, a prototype of the
    stage) 240 scored level with it and 960 lower."""
    every: int = 60
    """Decisions (>= 1) between two choices: 60, half an hour. A choice replays twenty floors
    over the window, about 5 ms; 20 and 60 scored alike in the prototype."""
    anchored: bool = True
    """Move the replay to the measured attainment (see :func:`floor_scores`)."""
    max_model_error: float = 0.05
    """Keep no floor when the replay of the counts that ran misses the measured attainment
    by more than this (a share of the intervals, in any part): the model then does not
    describe the application's load, and anchoring moves its level but not its shape. On
    smart-metering overloaded (1.5x its peak, validation seeds) the replay put 76-85% of
    the intervals within the SLO where 95% were; without this check the floors cost 0.116
    on held-out smart-metering at 1.6x peak. 0.02 and 0.05 scored alike on validation."""
    parts: int = 2
    """A floor must score above none in each of this many consecutive parts of the window
    (1 to ``window``): breaches that recur through it, not one rush hour in it. 1, 2 and 3
    scored 0.461, 0.461 and 0.460 on validation; with 1 traffic-sensors' evening rush took
    a floor of 16 into the night (9 of 25 cases worse than off, against 4 with 2)."""

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if not 0.0 <= self.max_model_error <= 1.0:
            raise ValueError(f"max_model_error must be in [0, 1], got {self.max_model_error}")
        if not 1 <= self.parts <= self.window:
            raise ValueError(f"parts must be in [1, window], got {self.parts}")


@dataclass(frozen=True, slots=True)
class ReplayModel:
    """What a replay needs to know of the application at the decision that asks for it."""

    single_rate_eps: float
    """The measured rate of one executor alone."""
    params: SimParams
    bounds: tuple[int, int]
    slo_ms: float
    interval_s: float
    """The time between two decisions (the inputs in the window are that far apart)."""

    @property
    def lag(self) -> int:
        """Decisions before a raise works: an executor's start-up, in whole intervals."""
        return max(1, math.ceil(self.params.startup_delay_s / self.interval_s - 1e-9))


def running_counts(decided: np.ndarray, lag: int) -> np.ndarray:
    """The count each interval ran with: a raise decided ``lag`` decisions earlier has
    arrived, a lowering works at once (the smallest of the last ``lag + 1`` decisions)."""
    padded = np.concatenate([np.full(lag, decided[0]), decided])
    windows = np.lib.stride_tricks.sliding_window_view(padded, lag + 1)
    return np.asarray(windows.min(axis=1))


class Replay:
    """The window's inputs served by given counts: the cluster model's latency law with the
    measured executor rate and a fluid backlog (the restart hold's replay, for counts that
    change from one interval to the next)."""

    def __init__(self, inputs: np.ndarray, model: ReplayModel) -> None:
        self.inputs, self.model = inputs, model
        hi = model.bounds[1]
        measured = model.params.with_overrides(executor_rate_eps=model.single_rate_eps)
        self.capacity = np.array([measured.capacity_eps(n) for n in range(hi + 1)])
        # each interval's batch latency (no backlog) under every count: row n, n executors
        self.table = np.full((hi + 1, inputs.size), np.inf)
        for n in range(1, hi + 1):
            utilisation = inputs / self.capacity[n]
            wait = mean_wait_s_array(n, utilisation, model.params.task_time_s)
            self.table[n] = micro_batch_latency_s(model.params, np.minimum(utilisation, 1.0), wait)
        self._rows = np.arange(inputs.size)

    def met(self, running: np.ndarray) -> np.ndarray:
        """Whether each interval's latency is within the SLO with ``running`` executors."""
        count = np.clip(running, 1, self.model.bounds[1])
        cap = self.capacity[count]
        backlog = fluid_backlog(self.inputs, cap, self.model.interval_s)
        latency = self.table[count, self._rows] + backlog / cap
        return np.asarray(latency <= self.model.slo_ms / 1000.0)


def floor_scores(
    inputs: np.ndarray,
    decided: np.ndarray,
    model: ReplayModel,
    observed: tuple[np.ndarray, np.ndarray] | None = None,
    parts: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """The SLO score of every floor from the lower bound to the upper (column 0: none above
    the bounds' minimum) in each of ``parts`` consecutive parts of the window (rows), and
    how far the replay of the counts that ran missed the measured attainment in each part:
    ``inputs`` (events/s, oldest first, one a decision) served by ``decided`` (the counts the
    step decided then) lifted to the floor, each raise working a start-up late.

    ``observed`` (the counts that ran, the floor of the time included, and whether each
    interval's measured latency met the SLO) anchors the replay: a floor's attainment is the
    measured one moved by what the replay says the floor changes, so the model's error at the
    counts that ran (a lag it overstates, a rate it misses) cancels. Without it the miss is 0.
    """
    lo, hi = model.bounds
    replay = Replay(inputs, model)
    edges = np.linspace(0, inputs.size, parts + 1).astype(int)

    def by_part(values: np.ndarray) -> np.ndarray:
        return np.array([values[a:b].mean() for a, b in itertools.pairwise(edges)])

    shift = np.zeros(parts)
    if observed is not None:
        applied, met = observed
        shift = by_part(met) - by_part(replay.met(running_counts(applied, model.lag)))
    scores = np.empty((parts, hi - lo + 1))
    for k, floor in enumerate(range(lo, hi + 1)):
        running = running_counts(np.maximum(decided, floor), model.lag)
        attainment = np.clip(by_part(replay.met(running)) + shift, 0.0, 1.0)
        cost = by_part(running)
        for part in range(parts):
            scores[part, k] = slo_score(float(cost[part]), float(hi), float(attainment[part]))
    return scores, shift


class Headroom:
    """One application's decided counts and inputs over the window, and the floor in force."""

    def __init__(self, settings: HeadroomSettings | None = None) -> None:
        self.settings = settings or HeadroomSettings()
        self.inputs: deque[float] = deque(maxlen=self.settings.window)
        self.decided: deque[int] = deque(maxlen=self.settings.window)
        self.applied: deque[int] = deque(maxlen=self.settings.window)
        self.met: deque[bool] = deque(maxlen=self.settings.window)
        self.floor: int | None = None
        """The floor in force (None: none above the bounds' minimum)."""
        self.why = ""
        """Why, for the event: the replayed scores with and without it."""
        self._since = 0

    def lift(
        self,
        input_eps: float,
        met: bool,
        decided: int,
        model: Callable[[], ReplayModel | None],
    ) -> tuple[int, str]:
        """``decided`` (the step's count before the floor) raised to the floor in force, and
        why (empty when it did not bind). The floor is chosen first when one is due, on the
        window before this decision, with ``model`` (None: no executor rate measured yet).
        Records the decision: its input, whether its measured latency met the SLO, ``decided``
        and the count set."""
        if self.due():
            now = model()
            if now is not None:
                self.choose(now)
        self.inputs.append(input_eps)
        self.met.append(met)
        self.decided.append(decided)
        self._since += 1
        lifted = decided if self.floor is None else max(decided, self.floor)
        self.applied.append(lifted)
        return lifted, (self.why if lifted > decided else "")

    def due(self) -> bool:
        """A whole window is in and ``every`` decisions passed since the last choice."""
        full = len(self.inputs) == self.settings.window
        return full and self._since >= self.settings.every

    def choose(self, model: ReplayModel) -> int | None:
        """Choose the floor on the window (see the module) and keep it in force."""
        self._since = 0
        inputs = np.fromiter(self.inputs, dtype=float, count=len(self.inputs))
        decided = np.fromiter(self.decided, dtype=int, count=len(self.decided))
        observed = None
        if self.settings.anchored:
            applied = np.fromiter(self.applied, dtype=int, count=len(self.applied))
            observed = applied, np.fromiter(self.met, dtype=bool, count=len(self.met))
        scores, miss = floor_scores(inputs, decided, model, observed, self.settings.parts)
        # a floor must pay in every part of the window: bursts that recur, not one rush
        gains = (scores - scores[:, :1]).min(axis=0)
        best = int(np.argmax(gains))  # the first of equals: the lowest floor
        # past the model's error it does not describe what ran: its floors would be guesses
        trusted = np.max(np.abs(miss)) <= self.settings.max_model_error
        if not trusted or best == 0 or gains[best] <= 0.0:
            self.floor, self.why = None, ""
            return None
        self.floor = model.bounds[0] + best
        total = scores.mean(axis=0)
        hours = len(self.inputs) * model.interval_s / 3600.0
        self.why = (
            f"headroom: the last {hours:.2g} h of load replayed score {total[best]:.3f} "
            f"with at least {self.floor} executors, {total[0]:.3f} without"
        )
        return self.floor
