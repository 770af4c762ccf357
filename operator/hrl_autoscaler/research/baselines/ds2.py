"""DS2 (Kalavri et al., OSDI'18) as the Flink Kubernetes Operator's autoscaler applies it."""

from __future__ import annotations

import math

from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights


class DS2Controller:
    """Rate-based sizing from the true processing rate of an executor.

    ``true rate per executor = processing rate / (busy fraction x running executors)``: what an
    executor could do if it never idled. The target capacity is the input rate at the target
    utilisation, plus the backlog to catch up within ``catch_up_s``, plus (restart actuation)
    the events that will queue during the restart. ``executors = ceil(target / true rate)``.
    No change while utilisation stays inside the band and nothing is backlogged (Flink's
    utilisation boundary), which keeps DS2 from chasing noise, and no decision for
    ``stabilisation_s`` after a change (Flink's ``stabilization.interval``, 5 minutes), so the
    metrics of the new configuration settle before they are trusted.
    """

    name = "ds2"

    def __init__(
        self,
        target_utilisation: float = 0.7,
        band: tuple[float, float] = (0.5, 0.85),
        catch_up_s: float = 300.0,
        stabilisation_s: float = 300.0,
    ) -> None:
        self.target_utilisation = target_utilisation
        self.band = band
        self.catch_up_s = catch_up_s
        self.stabilisation_s = stabilisation_s
        self._last_change_s = -float("inf")
        self._ctx: ControlContext | None = None
        self._true_rate: float | None = None

    def reset(self, ctx: ControlContext) -> None:
        self._ctx = ctx
        self._true_rate = None
        self._last_change_s = -float("inf")

    def true_rate_per_executor(self, metrics: SystemMetrics) -> float | None:
        busy = metrics.cpu_utilisation * metrics.running_executors
        if busy < 0.05 or metrics.processing_rate_eps <= 0:
            return self._true_rate
        self._true_rate = metrics.processing_rate_eps / busy
        return self._true_rate

    def _size(self, metrics: SystemMetrics, rate: float, ctx: ControlContext) -> int:
        target_rate = metrics.input_rate_eps / self.target_utilisation
        target_rate += metrics.backlog_events / self.catch_up_s
        if ctx.actuation == "restart":
            target_rate += metrics.input_rate_eps * ctx.restart_downtime_s / self.catch_up_s
        return ctx.clamp(math.ceil(target_rate / rate - 1e-9))

    def required_executors(self, metrics: SystemMetrics) -> int | None:
        """DS2's sizing for these metrics, without its band or stabilisation (for the SLO
        guard); None before a true rate is known."""
        assert self._ctx is not None, "reset() first"
        rate = self.true_rate_per_executor(metrics)
        return None if rate is None else self._size(metrics, rate, self._ctx)

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        assert self._ctx is not None, "reset() first"
        current = metrics.executors
        if metrics.restarting or metrics.running_executors == 0:
            return current
        if metrics.time_s - self._last_change_s < self.stabilisation_s:
            return current
        rate = self.true_rate_per_executor(metrics)
        if rate is None:
            return current
        backlog_small = metrics.backlog_events <= metrics.input_rate_eps * 2.0
        if backlog_small and metrics.running_executors == current:
            lo, hi = self.band
            if lo <= metrics.cpu_utilisation <= hi:
                return current
        target = self._size(metrics, rate, self._ctx)
        if target != current:
            self._last_change_s = metrics.time_s
        return target
