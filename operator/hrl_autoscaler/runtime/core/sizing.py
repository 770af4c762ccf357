"""Rate-based sizing (DS2, Kalavri et al., OSDI'18), in one place.

One measurement feeds everything that needs an executor's capacity: ``true rate per executor =
processing rate / (busy fraction x running executors)``, what an executor would do if it never
idled. From it:

- DS2's sizing, ``ceil(needed rate / true rate)``: the ``ds2`` baseline, the operator's fallback
  when the observation leaves the policy's training range, and the SLO guard's rescue;
- the observation scale: the true rate is converted to a single executor's rate through the
  contention law the simulator trains with, so ``rate_scale_eps`` means the same thing in
  training and in production.

Each application's :class:`RateEstimate` measures once per decision, with one noise threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.observation import ObservationScale

#: Fewer busy executors than this give a measurement dominated by noise (an idle executor's
#: busy fraction is a few active tasks sampled at one instant): keep the previous estimate.
MIN_BUSY_EXECUTORS = 0.5


def true_rate_per_executor(metrics: SystemMetrics) -> float | None:
    """Events/s one busy executor processes at the current count, or None when not measurable."""
    busy = metrics.cpu_utilisation * metrics.running_executors
    if busy < MIN_BUSY_EXECUTORS or metrics.processing_rate_eps <= 0 or metrics.restarting:
        return None
    return metrics.processing_rate_eps / busy


def single_executor_rate(true_rate_eps: float, running: int, params: SimParams) -> float:
    """The rate of one executor alone, undoing the contention of ``running`` executors."""
    return true_rate_eps * (1.0 + params.scaling_contention * (running - 1))


def observation_scale(executor_rate_eps: float, params: SimParams) -> ObservationScale:
    """The scale the policy was trained with, for an executor of the given rate (the simulator
    passes its own ``executor_rate_eps``; the operator its measured estimate)."""
    scaled = params.with_overrides(executor_rate_eps=executor_rate_eps)
    return ObservationScale(
        scaled.rate_scale_eps,
        params.max_executors,
        params.max_latency_ms,
        params.backlog_horizon_s,
    )


def smoothed(previous: float, measured: float | None, weight: float) -> float:
    """Exponential moving average; a missing measurement keeps the previous estimate."""
    if measured is None:
        return previous
    return (1.0 - weight) * previous + weight * measured


class RateEstimate:
    """One application's capacity estimate, updated once per decision.

    ``true_rate_eps`` is the last measurement (DS2 sizes with the newest one, as Flink does);
    ``executor_rate_eps`` is its smoothed single-executor equivalent (the observation scale must
    not jump with every noisy sample).
    """

    def __init__(self, executor_rate_eps: float, smoothing: float, params: SimParams) -> None:
        self.executor_rate_eps = executor_rate_eps
        self.smoothing = smoothing
        self.params = params
        self.true_rate_eps: float | None = None

    def observe(self, metrics: SystemMetrics) -> None:
        rate = true_rate_per_executor(metrics)
        if rate is None:
            return
        self.true_rate_eps = rate
        single = single_executor_rate(rate, metrics.running_executors, self.params)
        self.executor_rate_eps = smoothed(self.executor_rate_eps, single, self.smoothing)

    def scale(self) -> ObservationScale:
        return observation_scale(self.executor_rate_eps, self.params)


@dataclass(frozen=True, slots=True)
class DS2Settings:
    """The Flink Kubernetes Operator autoscaler's defaults for the DS2 rule."""

    target_utilisation: float = 0.7
    """``job.autoscaler.target.utilization``: headroom for bursts."""
    band: tuple[float, float] = (0.5, 0.85)
    """Utilisation band inside which nothing changes (Flink's utilization boundary ±0.3/0.15
    around 0.7, narrowed): keeps DS2 from chasing noise."""
    catch_up_s: float = 300.0
    """``job.autoscaler.catch-up.duration``: a backlog must be processed within this time."""
    stabilisation_s: float = 300.0
    """``job.autoscaler.stabilization.interval``: no decision for this long after a change, so
    the new configuration's metrics settle before they are trusted."""


def required_executors(
    metrics: SystemMetrics, true_rate_eps: float, ctx: ControlContext, settings: DS2Settings
) -> int:
    """DS2's count: the input rate at the target utilisation, plus the backlog caught up within
    ``catch_up_s``, plus (restart actuation) the events that queue during the restart."""
    target_rate = metrics.input_rate_eps / settings.target_utilisation
    target_rate += metrics.backlog_events / settings.catch_up_s
    if ctx.actuation == "restart":
        target_rate += metrics.input_rate_eps * ctx.restart_downtime_s / settings.catch_up_s
    return ctx.clamp(math.ceil(target_rate / true_rate_eps - 1e-9))


class DS2Sizer:
    """DS2 with Flink's utilisation band and stabilisation interval, for one application.

    Shared by the ``ds2`` baseline and the operator's fallback; reads the application's
    :class:`RateEstimate` (which the caller updates once per decision).
    """

    def __init__(
        self, ctx: ControlContext, rate: RateEstimate, settings: DS2Settings | None = None
    ) -> None:
        self.ctx = ctx
        self.rate = rate
        self.settings = settings or DS2Settings()
        self.last_change_s = -math.inf

    def required(self, metrics: SystemMetrics) -> int | None:
        """The sizing without band or stabilisation (the SLO guard's rescue); None before a
        true rate is known."""
        rate = self.rate.true_rate_eps
        return None if rate is None else required_executors(metrics, rate, self.ctx, self.settings)

    def decide(self, metrics: SystemMetrics) -> int:
        current = metrics.executors
        if metrics.restarting or metrics.running_executors == 0:
            return current
        if metrics.time_s - self.last_change_s < self.settings.stabilisation_s:
            return current
        target = self.required(metrics)
        if target is None:
            return current
        backlog_small = metrics.backlog_events <= metrics.input_rate_eps * 2.0
        if backlog_small and metrics.running_executors == current:
            lo, hi = self.settings.band
            if lo <= metrics.cpu_utilisation <= hi:
                return current
        if target != current:
            self.last_change_s = metrics.time_s
        return target
