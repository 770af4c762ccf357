"""Each application's recent load, and the forecast a budget allocates on.

An allocation lasts an interval (2 minutes by default) and an executor granted now serves only
after its start-up (45 s), so the budget must size for the load *ahead*: a least-squares line
through the last window of input rates, averaged over ``[now, now + horizon]``. Periodic
uploads and rush hours ramp over minutes, which a line follows; a flash crowd does not, and the
forecast's spread (the residuals plus the trend's own uncertainty) is what keeps some headroom
for it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoadForecast:
    mean_eps: float
    sd_eps: float
    violation_rate: float
    """The share of the window's decisions with latency above the SLO."""


class LoadHistory:
    """A window of ``(time, input rate, SLO met)`` samples, one per decision."""

    def __init__(self, window_s: float = 600.0, max_samples: int = 256) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float, bool]] = deque(maxlen=max_samples)

    def add(self, time_s: float, input_rate_eps: float, slo_met: bool) -> None:
        if math.isfinite(input_rate_eps) and input_rate_eps >= 0:
            self._samples.append((time_s, input_rate_eps, slo_met))

    def __len__(self) -> int:
        return len(self._samples)

    def forecast(self, now_s: float, horizon_s: float) -> LoadForecast | None:
        """The mean load over the next ``horizon_s`` and its spread; None without samples.

        One pass of running sums (a slow step forecasts for every application it covers)."""
        start = now_s - self.window_s
        n = 0
        missed = 0
        st = sr = stt = str_ = srr = 0.0
        low, high = math.inf, -math.inf
        for time_s, rate, met in self._samples:
            if time_s < start:
                continue
            t = time_s - now_s
            n += 1
            missed += not met
            st += t
            sr += rate
            stt += t * t
            str_ += t * rate
            srr += rate * rate
            low, high = min(low, rate), max(high, rate)
        if n == 0:
            return None
        mean = sr / n
        violations = missed / n
        if n < 3:
            return LoadForecast(mean, high - low, violations)
        t_mean = st / n
        sxx = stt - n * t_mean * t_mean
        sxy = str_ - n * t_mean * mean
        syy = srr - n * mean * mean
        slope = sxy / sxx if sxx > 1e-9 else 0.0
        level_now = mean - slope * t_mean
        ahead = level_now + slope * horizon_s / 2.0
        residual = math.sqrt(max(syy - slope * sxy, 0.0) / (n - 2))
        trend_sd = abs(slope) * horizon_s / 2.0
        # A falling trend is not trusted to keep falling: size for the level now.
        mean_ahead = ahead if slope >= 0 else level_now
        return LoadForecast(max(mean_ahead, 0.0), math.hypot(residual, trend_sd), violations)
