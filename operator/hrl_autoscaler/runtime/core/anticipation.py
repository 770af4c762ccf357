"""Anticipation: scale ahead of load that repeats on a period the input itself shows.

Issue 12's second fault: the policy never anticipates. New executors take ``startup_delay_s``
(45 s) to start, so a controller that reacts to a burst is late by a decision and a start-up,
and the oracle wins by scaling before the burst. Load that comes on a schedule (meters that
upload every 15 minutes, cron-driven exports, sensors that report in rounds) says when the
next burst comes: the input rate one period ago, a start-up ahead of now.

The stage keeps the input rate of the last ``history`` decisions and finds the period as the
first local maximum of their autocorrelation that reaches ``correlation`` (and at least
``peak_share`` of the highest one, so a multiple of the period is not taken for it). It
trusts a period only when ``min_cycles`` of them are in the history (one repetition is a
coincidence), its forecast predicted the history better than the last value did
(``min_skill``), and ``stable_estimates`` estimates in a row found it. With a period it
forecasts the largest input rate of the next ``horizon`` decisions as the largest rate seen
at the same phase in the last ``seasons`` periods, and raises the proposal to the count that
serves that rate at ``target_utilisation``, by the measured executor rate and the contention
law the policy was trained with (a rate-only sizing from a trickle's measurement under-sizes
a burst: at 13 executors contention takes a quarter of the capacity).

The same forecast says when a burst is over: between bursts, the load one start-up ahead is
the trickle of a period ago. With ``release`` on (in-place actuation only: under restart
actuation it would cost two restarts a period), while a period is known and latency is
below ``release_latency_factor`` x SLO, a proposal above both the forecast's size and the
current load's (the largest of the last ``release_window`` decisions) is lowered to the
larger of the two, and the guardrails let that scale-down through without their
confirmations: they wait to be sure the load has fallen, and the period already says that it
has and when it rises again (the floor brings the executors back a start-up before the next
burst). Without the release the policy keeps a burst's executors through the whole quiet
phase: 13-17 of 20 on smart metering, where 2 serve the trickle.

Without a period the stage changes nothing. Nothing here knows the scenarios' periods; the
held-out suite replays the periodic scenario at half and double speed to check that it finds
other ones.

On by default (:class:`~hrl_autoscaler.runtime.core.decision.DecisionOptions`; the
operator's ``guardrails.anticipation``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class AnticipationSettings:
    enabled: bool = True
    """On by default: on the held-out and restart-actuation suites it changed no case for the
    worse beyond the confidence interval and lifted every periodic one (docs/anticipation.md).
    Off = the reactive policy alone (``hrl-reactive`` in the evaluation)."""
    history: int = 240
    """Decisions of input rate kept (240 x 30 s = 2 hours): ``min_cycles`` periods of up to
    ``max_period`` fit in it."""
    min_period: int = 6
    """Shortest period considered, in decisions (3 minutes): shorter repetitions are within
    the reactive path's reach (a start-up is 45 s) and in the noise's correlation."""
    max_period: int = 120
    """Longest period considered, in decisions (1 hour)."""
    min_cycles: float = 2.0
    """Periods of history needed before a period is trusted (a ratio >= 2)."""
    correlation: float = 0.6
    """Autocorrelation of the input at the period needed to act on it (0 < c <= 1)."""
    peak_share: float = 0.9
    """The period is the first local maximum of the autocorrelation within this share of the
    highest one (0 < s <= 1): 2P and 3P correlate almost as well as P."""
    seasons: int = 2
    """Past periods the forecast takes the largest rate from (>= 1): burst heights vary."""
    target_utilisation: float = 0.85
    """Utilisation (0 < u <= 1) the forecast rate is sized at: the tuned rule's target."""
    release: bool = True
    """Also lower a proposal above what the forecast and the current load need, at once (the
    guardrails' scale-down confirmations waived; in-place actuation only); False = only raise
    ahead of bursts."""
    release_latency_factor: float = 0.8
    """Release only while latency is below this multiple of the SLO (0 < f <= 1): executors
    that hold latency near the SLO are not spare, whatever the sizing says."""
    release_window: int = 1
    """The current load's size is the largest of this many decisions (>= 1). 1 follows a
    burst's decay down at once, as the forecast floor already says the next start-up's load:
    with 4 (the default until session 22) the burst's executors stayed four decisions after the
    input fell, and smart-metering's validation cases scored 0.608 against 0.720 with 1 (2:
    0.686; no other scenario moved; docs/anticipation.md)."""
    min_skill: float = 0.3
    """The period's forecast must have beaten "the last decision's rate" on the history by
    this share of its squared error (:func:`seasonal_skill`; < 1): autocorrelation alone also
    finds a "period" in random bursts of similar spacing."""
    stable_estimates: int = 3
    """Consecutive estimates (``refresh`` decisions apart) that must find the same period, to
    within 5%, before it is acted on (>= 1): a period of random bursts comes and goes from one
    estimate to the next, a schedule's stays."""
    refresh: int = 5
    """Decisions between two estimates of the period (>= 1): it changes slowly, and the
    estimate is the stage's only costly step."""
    max_fill: int = 30
    """The most missed decisions filled with the last rate (>= 0): cycles the operator skipped
    (metrics unavailable) or spent restarting. The history is one entry per decision, so an
    unfilled gap would shift the older history's phase; a gap above 30 decisions (15 minutes)
    would fill a sixth of the history with one value, so the history starts afresh instead."""

    def __post_init__(self) -> None:
        if self.min_period < 2 or self.max_period < self.min_period:
            raise ValueError(
                f"need 2 <= min_period <= max_period, got {self.min_period}, {self.max_period}"
            )
        if self.min_cycles < 2.0:
            raise ValueError(f"min_cycles must be >= 2, got {self.min_cycles}")
        if self.history < self.min_cycles * self.min_period:
            raise ValueError(
                f"history ({self.history}) must hold min_cycles x min_period decisions"
            )
        for name in ("correlation", "peak_share", "target_utilisation", "release_latency_factor"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if self.min_skill >= 1.0:
            raise ValueError(f"min_skill must be < 1, got {self.min_skill}")
        if self.max_fill < 0:
            raise ValueError(f"max_fill must be >= 0, got {self.max_fill}")
        counts = ("seasons", "refresh", "release_window", "stable_estimates")
        for name in counts:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def find_period(rates: np.ndarray, settings: AnticipationSettings) -> tuple[int | None, float]:
    """The period of ``rates`` in samples and its autocorrelation, or (None, best) when no lag
    qualifies. Pure: the tests call it on generated waves."""
    n = rates.size
    longest = min(settings.max_period, int(n / settings.min_cycles))
    if longest < settings.min_period:
        return None, 0.0
    centred = rates - rates.mean()
    energy = float(centred @ centred)
    if energy <= 1e-12 * max(1.0, float(rates @ rates)):
        return None, 0.0
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, size)
    raw = np.fft.irfft(spectrum * np.conj(spectrum), size)[: longest + 2]
    lags = np.arange(raw.size)
    # Normalised by the overlap so long lags are not penalised for having fewer pairs.
    acf = raw / energy * n / np.maximum(n - lags, 1)
    window = acf[settings.min_period : longest + 1]
    best = float(window.max())
    if best < settings.correlation:
        return None, best
    floor = max(settings.correlation, settings.peak_share * best)
    inner = acf[settings.min_period - 1 : longest + 2]  # each candidate with its neighbours
    middle = inner[1:-1]
    peaks = np.flatnonzero((middle >= floor) & (middle >= inner[:-2]) & (middle >= inner[2:]))
    if peaks.size == 0:
        return None, best
    lag = settings.min_period + int(peaks[0])
    return lag, float(acf[lag])


def seasonal_skill(rates: np.ndarray, period: int) -> float:
    """How much better "the rate one period ago" predicted the history than "the rate one
    decision ago" (what a reactive controller knows): ``1 - SSE(seasonal) / SSE(last)``,
    1 = perfect, <= 0 = no better. Bursts on a schedule score near 1; random bursts score
    below 0, since the seasonal forecast then misses each burst twice (where it was and where
    it is)."""
    if rates.size <= period + 1:
        return -math.inf
    actual = rates[period:]
    seasonal = float(np.sum((actual - rates[:-period]) ** 2))
    last = float(np.sum((actual - rates[period - 1 : -1]) ** 2))
    if last <= 0.0:
        return -math.inf
    return 1.0 - seasonal / last


@dataclass(frozen=True, slots=True)
class Forecast:
    period: int | None
    """The period in decisions (None: none found)."""
    rate_eps: float | None
    """The largest input rate expected within the horizon (None without a period)."""


class Anticipation:
    """One application's input history, period and forecast."""

    def __init__(self, settings: AnticipationSettings | None = None) -> None:
        self.settings = settings or AnticipationSettings()
        self.rates: deque[float] = deque(maxlen=self.settings.history)
        self.period: int | None = None
        """The period acted on: the estimate, once ``stable_estimates`` agreed on it."""
        self.correlation = 0.0
        self._since_estimate = 0
        self._candidate: int | None = None
        self._agreeing = 0
        self.sizes: deque[int] = deque(maxlen=self.settings.release_window)

    @property
    def acting(self) -> bool:
        """On and with a period found: what the other forecasts leave periodic load to."""
        return self.settings.enabled and self.period is not None

    def restore(self, rates: Iterable[float]) -> None:
        """Resume from a stored input history, oldest first (an operator restart): the period
        is estimated at the next observation and acted on once ``stable_estimates`` agree,
        ``refresh`` x ``stable_estimates`` decisions later instead of after
        ``min_cycles`` periods of new history."""
        self.rates.clear()
        self.rates.extend(max(0.0, float(r)) for r in rates)
        self.period, self._candidate, self._agreeing = None, None, 0
        self._since_estimate = self.settings.refresh - 1

    def observe(self, input_rate_eps: float, missed: int = 0) -> None:
        """Record one decision's input rate, after ``missed`` decisions that saw none (filled
        with the last rate, or the history dropped above ``max_fill``); re-estimate the period
        every ``refresh`` calls."""
        if missed > self.settings.max_fill:
            self.restore(())
        elif missed > 0 and self.rates:
            self.rates.extend([self.rates[-1]] * missed)
        self.rates.append(max(0.0, input_rate_eps))
        self._since_estimate += 1
        if self._since_estimate < self.settings.refresh:
            return
        self._since_estimate = 0
        rates = np.fromiter(self.rates, float, len(self.rates))
        found, self.correlation = find_period(rates, self.settings)
        if found is not None and seasonal_skill(rates, found) < self.settings.min_skill:
            found = None
        same = (
            found is not None
            and self._candidate is not None
            and abs(found - self._candidate) <= max(1, round(0.05 * self._candidate))
        )
        self._agreeing = self._agreeing + 1 if same else (1 if found is not None else 0)
        self._candidate = found
        self.period = found if self._agreeing >= self.settings.stable_estimates else None

    def forecast(self, horizon: int) -> Forecast:
        """The largest rate at the next ``horizon`` decisions' phase in the last ``seasons``
        periods (the current decision is the last one recorded)."""
        p = self.period
        if p is None or horizon < 1:
            return Forecast(p, None)
        n = len(self.rates)
        peak: float | None = None
        for season in range(1, self.settings.seasons + 1):
            # Index of "k decisions from now, `season` periods ago" for k = 1..horizon.
            start = n - 1 - season * p + 1
            stop = min(start + horizon, n)
            if start < 0:
                break
            chunk = max(self.rates[i] for i in range(start, stop))
            peak = chunk if peak is None else max(peak, chunk)
        return Forecast(p, peak)

    def bounds(
        self, horizon: int, current_rate_eps: float, executors_for: Callable[[float], int]
    ) -> Bounds | None:
        """The floor (the forecast's size) and the release ceiling (the larger of it and the
        size of ``current_rate_eps``, the rate the current load needs, over the last
        ``release_window`` decisions; None with ``release`` off); None without a period.
        ``executors_for`` sizes a rate at the target utilisation (the caller knows the
        executors' capacity). Call it at every decision: it records the current size."""
        self.sizes.append(executors_for(current_rate_eps))
        forecast = self.forecast(horizon)
        if forecast.rate_eps is None:
            return None
        floor = executors_for(forecast.rate_eps)
        ceiling = max(floor, max(self.sizes)) if self.settings.release else None
        return Bounds(floor, ceiling)


@dataclass(frozen=True, slots=True)
class Bounds:
    floor: int
    """Executors the forecast burst needs: a proposal below is raised to it."""
    ceiling: int | None
    """Executors the next start-up's load needs at most: a quiet proposal above is lowered to
    it, at once (None: release off)."""


def executors_for(
    rate_eps: float,
    single_rate_eps: float,
    contention: float,
    utilisation: float,
    bounds: tuple[int, int],
) -> int:
    """The fewest executors within ``bounds`` whose capacity under the contention law,
    ``n x single / (1 + contention x (n - 1))``, keeps ``rate_eps`` at or below
    ``utilisation`` of it (the bound's top when none does). Closed form of
    ``SimParams.executors_for_rate``: it runs at every decision."""
    lo, hi = bounds
    if rate_eps <= 0.0:
        return lo
    usable = single_rate_eps * utilisation - rate_eps * contention
    if usable <= 0.0:  # beyond what any count can reach
        return hi
    needed = math.ceil(rate_eps * (1.0 - contention) / usable - 1e-9)
    return min(hi, max(lo, needed))


def horizon_decisions(delay_s: float, decision_interval_s: float) -> int:
    """Decisions ahead a change must be made to be in force: the delay until new capacity
    works (start-up, or a restart's downtime), plus the decision interval it must then last."""
    return max(1, math.ceil((delay_s + decision_interval_s) / decision_interval_s - 1e-9))
