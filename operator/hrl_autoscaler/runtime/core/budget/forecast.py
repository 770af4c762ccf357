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
        """The mean load over the next ``horizon_s`` and its spread; None without samples."""
        recent = [s for s in self._samples if s[0] >= now_s - self.window_s]
        if not recent:
            return None
        n = len(recent)
        violations = sum(1 for s in recent if not s[2]) / n
        rates = [s[1] for s in recent]
        mean = sum(rates) / n
        if n < 3:
            return LoadForecast(mean, max(rates) - min(rates), violations)
        times = [s[0] - now_s for s in recent]
        t_mean = sum(times) / n
        sxx = sum((t - t_mean) ** 2 for t in times)
        slope = (
            sum((t - t_mean) * (r - mean) for t, r in zip(times, rates, strict=True)) / sxx
            if sxx > 0
            else 0.0
        )
        level_now = mean + slope * (0.0 - t_mean)
        ahead = level_now + slope * horizon_s / 2.0
        residual = math.sqrt(
            sum((r - (mean + slope * (t - t_mean))) ** 2 for t, r in zip(times, rates, strict=True))
            / (n - 2)
        )
        trend_sd = abs(slope) * horizon_s / 2.0
        # A falling trend is not trusted to keep falling: size for the level now.
        mean_ahead = ahead if slope >= 0 else level_now
        return LoadForecast(max(mean_ahead, 0.0), math.hypot(residual, trend_sd), violations)
