"""The observation function shared by the simulator and the operator.

One function turns :class:`SystemMetrics`, the application's context (its SLO, its actuation,
the forecasts of :mod:`~hrl_autoscaler.runtime.core.anticipation`) and :class:`Weights` into the
15 floats the PPO policy sees, so a policy trained in the simulator receives in production
exactly what it was trained on. Bump :data:`OBS_SCHEMA_VERSION` whenever the meaning, order or
scaling of a field changes: the policy loader refuses artifacts trained on another version.

Version 2 (this one) over version 1: latency is measured against the application's SLO (not a
fixed 5 s), and the policy sees what it needs to anticipate and to tell applications apart:
the executors still starting, the executors the load needs at the measured per-executor rate
(DS2's sizing, the same on any cluster), the trend and seasonal forecasts over the start-up
horizon, the SLO itself and whether a change restarts the application.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.runtime.core.anticipation import Anticipation
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights

OBS_SCHEMA_VERSION = 2

#: Field name, lower bound, upper bound, meaning. Order is the observation's order.
OBS_FIELDS: tuple[tuple[str, float, float, str], ...] = (
    ("input_rate", 0.0, 2.0, "arrival rate / capacity of max executors"),
    ("backlog", 0.0, 5.0, "backlog / (capacity of max executors x backlog horizon)"),
    ("cpu_utilisation", 0.0, 1.0, "busy fraction of running executors"),
    ("memory_utilisation", 0.0, 1.0, "used / max executor memory"),
    ("latency", 0.0, 3.0, "latency / the application's latency SLO"),
    ("executors", 0.0, 1.0, "requested executors / max executors"),
    ("starting", 0.0, 1.0, "(requested - running executors) / max executors"),
    ("needed", 0.0, 2.0, "input rate / measured rate of one busy executor / max executors"),
    ("forecast_trend", 0.0, 2.0, "trend forecast over the start-up horizon / capacity of max"),
    ("forecast_seasonal", 0.0, 2.0, "seasonal forecast over the horizon / capacity of max"),
    ("slo", 0.0, 2.0, "latency SLO / max latency (5 s)"),
    ("restart", 0.0, 1.0, "1 when a change of the count restarts the application"),
    ("alpha", 0.0, 1.0, "cost weight"),
    ("beta", 0.0, 1.0, "latency weight"),
    ("gamma", 0.0, 1.0, "throughput weight"),
)
OBS_NAMES: tuple[str, ...] = tuple(f[0] for f in OBS_FIELDS)
OBS_LOW = np.array([f[1] for f in OBS_FIELDS], dtype=np.float32)
OBS_HIGH = np.array([f[2] for f in OBS_FIELDS], dtype=np.float32)
OBS_SIZE = len(OBS_FIELDS)


@dataclass(frozen=True, slots=True)
class ObservationScale:
    """How raw metrics are scaled. The simulator derives it from its parameters; the operator
    from each application's estimated per-executor rate."""

    rate_scale_eps: float
    max_executors: int
    max_latency_ms: float
    backlog_horizon_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.rate_scale_eps > 0:
            raise ValueError(f"rate_scale_eps must be > 0, got {self.rate_scale_eps!r}")
        if self.max_executors < 1:
            raise ValueError(f"max_executors must be >= 1, got {self.max_executors!r}")
        if not self.max_latency_ms > 0:
            raise ValueError(f"max_latency_ms must be > 0, got {self.max_latency_ms!r}")


@dataclass(frozen=True, slots=True)
class ObservationContext:
    """What the observation needs beyond one interval's metrics: the application's SLO and
    actuation (from its annotations) and the forecasts of its recent load."""

    latency_slo_ms: float
    restart: bool = False
    anticipation: Anticipation | None = None
    """None: no forecast yet (the load now stands for both)."""
    true_rate_eps: float | None = None
    """The last measured events/s of one busy executor at the current count (DS2's true
    rate); None before a measurement (the scale's average executor stands in)."""

    def __post_init__(self) -> None:
        if not self.latency_slo_ms > 0:
            raise ValueError(f"latency_slo_ms must be > 0, got {self.latency_slo_ms!r}")


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def raw_features(
    m: SystemMetrics, w: Weights, scale: ObservationScale, ctx: ObservationContext
) -> list[float]:
    """The features before clipping; values outside the bounds mean 'outside training'."""
    ahead = ctx.anticipation or Anticipation.flat(m.input_rate_eps)
    rate = scale.rate_scale_eps
    per_executor = ctx.true_rate_eps or rate / scale.max_executors
    return [
        m.input_rate_eps / rate,
        m.backlog_events / (rate * scale.backlog_horizon_s),
        m.cpu_utilisation,
        m.memory_utilisation,
        m.latency_ms / ctx.latency_slo_ms,
        m.executors / scale.max_executors,
        max(0, m.executors - m.running_executors) / scale.max_executors,
        m.input_rate_eps / per_executor / scale.max_executors,
        ahead.trend_eps / rate,
        ahead.seasonal_eps / rate,
        ctx.latency_slo_ms / scale.max_latency_ms,
        1.0 if ctx.restart else 0.0,
        w.alpha,
        w.beta,
        w.gamma,
    ]


def build_observation(
    m: SystemMetrics, w: Weights, scale: ObservationScale, ctx: ObservationContext
) -> np.ndarray:
    """The policy's input: 15 float32 values, each clipped to its documented bounds."""
    raw = raw_features(m, w, scale, ctx)
    return np.array(
        [_clip(v, lo, hi) for v, (_, lo, hi, _) in zip(raw, OBS_FIELDS, strict=True)],
        dtype=np.float32,
    )


def out_of_range_fields(
    m: SystemMetrics,
    w: Weights,
    scale: ObservationScale,
    ctx: ObservationContext,
    tolerance: float = 0.0,
) -> list[str]:
    """Names of features outside the trained bounds (by more than ``tolerance``).

    Latency and backlog saturate by design (anything beyond the bound is simply 'bad'), so
    only the fields where clipping would hide a situation the policy never saw are checked:
    the arrival rate, the utilisations and the executor count.
    """
    raw = raw_features(m, w, scale, ctx)
    checked = {"input_rate", "cpu_utilisation", "memory_utilisation", "executors"}
    out = []
    for v, (name, lo, hi, _) in zip(raw, OBS_FIELDS, strict=True):
        if name in checked and not (lo - tolerance <= v <= hi + tolerance):
            out.append(name)
    return out
