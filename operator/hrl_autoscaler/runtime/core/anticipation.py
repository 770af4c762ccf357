"""The load ahead of one application: what the executor policy anticipates with.

A new executor serves only after its start-up (45 s on Kubernetes) and one decision interval
later, so a policy that reacts to the load it sees is always one start-up late. Two forecasts
over that horizon go into the observation:

- **trend**: a least-squares line through the last few decisions, extrapolated to the end of
  the horizon. It follows ramps (rush hours, a crowd arriving over minutes).
- **seasonal**: the highest load one period ago over the coming horizon, when the recent load
  repeats itself (smart meters uploading every 15 minutes, a batch job every hour). The period
  is the lag of the highest *local* maximum of the autocorrelation of the last ``history``
  decisions, trusted above ``min_confidence``; slowly drifting or smoothly noisy load has a
  monotonically decaying autocorrelation (no local maximum) and gets no period. Without a
  period the seasonal forecast is the load now.

Both are in events per second; the observation scales them like the input rate. They are
computed from the input rates the application reports, the same in the simulator and the
operator, and cost one FFT of at most ``history`` samples per decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ForecastSettings:
    """How far ahead and from how much history the executor policy's forecasts look."""

    horizon_s: float = 90.0
    """Start-up delay (45 s) plus one decision interval (30 s) plus margin: what an executor
    requested now must cover."""
    history: int = 512
    """Decisions of history for the period search: 4.3 hours at 30 s, two cycles of anything up
    to about two hours (periodic uploads, hourly jobs); a daily cycle is the trend's job."""
    min_period_steps: int = 4
    """Shorter 'periods' are noise at a 30 s cadence."""
    min_confidence: float = 0.6
    """Autocorrelation at the period's lag needed to trust it (1 = exact repetition)."""
    min_prominence: float = 0.3
    """How far the autocorrelation must have dipped before the period's peak: a repeating
    load decorrelates within its cycle, slowly drifting load does not."""
    trend_steps: int = 4
    """Decisions in the trend's line: two minutes, long enough to average noise, short enough
    to turn with a ramp."""

    def __post_init__(self) -> None:
        if not self.horizon_s > 0:
            raise ValueError(f"horizon_s must be > 0, got {self.horizon_s!r}")
        if self.history < 4 * self.min_period_steps or self.min_period_steps < 2:
            raise ValueError("history must be >= 4 x min_period_steps and min_period_steps >= 2")
        if not 0.0 < self.min_confidence < 1.0:
            raise ValueError(f"min_confidence must be in (0, 1), got {self.min_confidence!r}")
        if self.trend_steps < 2:
            raise ValueError(f"trend_steps must be >= 2, got {self.trend_steps!r}")


@dataclass(frozen=True, slots=True)
class Anticipation:
    """The forecasts of one decision (events/s) and the period behind the seasonal one."""

    trend_eps: float
    seasonal_eps: float
    period_steps: int | None = None
    confidence: float = 0.0

    @classmethod
    def flat(cls, rate_eps: float) -> Anticipation:
        """No forecast: the load stays as it is."""
        return cls(rate_eps, rate_eps)


class LoadForecaster:
    """One application's input rates, one per decision, and the forecasts they give."""

    def __init__(self, settings: ForecastSettings | None = None) -> None:
        self.settings = settings or ForecastSettings()
        # The newest rate last; shifted in place (a few microseconds at 512 samples).
        self._buf = np.zeros(self.settings.history)
        self._n = 0
        self._x = np.arange(self.settings.trend_steps, dtype=float)
        self._x -= self._x.mean()
        self._sxx = float(np.sum(self._x * self._x))

    def __len__(self) -> int:
        return self._n

    def reset(self) -> None:
        self._n = 0

    def observe(self, rate_eps: float, interval_s: float) -> Anticipation:
        """Add the rate of the interval that just ended; the forecasts over the horizon."""
        if math.isfinite(rate_eps) and rate_eps >= 0:
            self._buf[:-1] = self._buf[1:]
            self._buf[-1] = rate_eps
            self._n = min(self._n + 1, self._buf.size)
        if self._n == 0:
            return Anticipation.flat(0.0)
        steps = max(1, math.ceil(self.settings.horizon_s / interval_s - 1e-9))
        rates = self._buf[-self._n :]
        now = float(rates[-1])
        trend = self._trend(rates, steps)
        period, confidence = self._period(rates)
        seasonal = now
        if period is not None:
            # One period ago, the decisions now+1 .. now+steps (never past the newest sample).
            start = rates.size - period
            seasonal = float(rates[start : min(start + steps, rates.size)].max())
        return Anticipation(trend, seasonal, period, confidence)

    def _trend(self, rates: np.ndarray, steps: int) -> float:
        k = self.settings.trend_steps
        if rates.size < k:
            return float(rates[-1])
        recent = rates[-k:]
        slope = float(np.dot(self._x, recent - recent.mean())) / self._sxx
        level = float(recent.mean()) + slope * float(self._x[-1])
        return max(0.0, level + slope * steps)

    def _period(self, rates: np.ndarray) -> tuple[int | None, float]:
        s = self.settings
        n = rates.size
        if n < 4 * s.min_period_steps:
            return None, 0.0
        x = rates - rates.mean()
        energy = float(np.dot(x, x))
        if energy <= 1e-12 * n:
            return None, 0.0
        size = 1 << (2 * n - 1).bit_length()
        spectrum = np.fft.rfft(x, size)
        acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: n // 2 + 1]
        # Unbiased: a lag L has n - L products; two full cycles are needed to see one.
        acf = acf / energy * n / (n - np.arange(acf.size))
        lo = s.min_period_steps
        if acf.size < lo + 2:
            return None, 0.0
        inner = acf[lo:-1]
        peaks = (inner >= acf[lo - 1 : -2]) & (inner >= acf[lo + 1 :])
        if not peaks.any():
            return None, 0.0
        candidates = np.flatnonzero(peaks) + lo
        # A true period has a trough before it; drifting load only wobbles on its decay.
        trough = np.minimum.accumulate(acf)[candidates - 1]
        candidates = candidates[acf[candidates] - trough >= s.min_prominence]
        if candidates.size == 0:
            return None, 0.0
        # Multiples of the period correlate as well: take the shortest lag that is nearly as
        # good, the one that follows a drifting cycle most closely.
        good = candidates[acf[candidates] >= acf[candidates].max() - 0.1]
        best = int(good[0])
        confidence = min(1.0, float(acf[best]))
        if confidence < s.min_confidence:
            return None, confidence
        return best, confidence
