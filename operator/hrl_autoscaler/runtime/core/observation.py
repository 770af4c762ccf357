"""The observation function shared by the simulator and the operator.

One function turns :class:`SystemMetrics` and :class:`Weights` into the 9 floats the PPO policy
sees, so a policy trained in the simulator receives in production exactly what it was trained on.
Bump :data:`OBS_SCHEMA_VERSION` whenever the meaning, order or scaling of a field changes: the
policy loader refuses artifacts trained on another version.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights

OBS_SCHEMA_VERSION = 1

#: Field name, lower bound, upper bound, meaning. Order is the observation's order.
OBS_FIELDS: tuple[tuple[str, float, float, str], ...] = (
    ("input_rate", 0.0, 2.0, "arrival rate / capacity of max executors"),
    ("backlog", 0.0, 5.0, "backlog / (capacity of max executors x backlog horizon)"),
    ("cpu_utilisation", 0.0, 1.0, "busy fraction of running executors"),
    ("memory_utilisation", 0.0, 1.0, "used / max executor memory"),
    ("latency", 0.0, 1.0, "latency / max latency (5 s)"),
    ("executors", 0.0, 1.0, "requested executors / max executors"),
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


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def raw_features(m: SystemMetrics, w: Weights, scale: ObservationScale) -> list[float]:
    """The 9 features before clipping; values outside the bounds mean 'outside training'."""
    return [
        m.input_rate_eps / scale.rate_scale_eps,
        m.backlog_events / (scale.rate_scale_eps * scale.backlog_horizon_s),
        m.cpu_utilisation,
        m.memory_utilisation,
        m.latency_ms / scale.max_latency_ms,
        m.executors / scale.max_executors,
        w.alpha,
        w.beta,
        w.gamma,
    ]


def build_observation(m: SystemMetrics, w: Weights, scale: ObservationScale) -> np.ndarray:
    """The policy's input: 9 float32 values, each clipped to its documented bounds."""
    raw = raw_features(m, w, scale)
    return np.array(
        [_clip(v, lo, hi) for v, (_, lo, hi, _) in zip(raw, OBS_FIELDS, strict=True)],
        dtype=np.float32,
    )


def out_of_range_fields(
    m: SystemMetrics, w: Weights, scale: ObservationScale, tolerance: float = 0.0
) -> list[str]:
    """Names of features outside the trained bounds (by more than ``tolerance``).

    Latency and backlog saturate by design (anything beyond the bound is simply 'bad'), so
    only the fields where clipping would hide a situation the policy never saw are checked:
    the arrival rate, the utilisations and the executor count.
    """
    raw = raw_features(m, w, scale)
    checked = {"input_rate", "cpu_utilisation", "memory_utilisation", "executors"}
    out = []
    for v, (name, lo, hi, _) in zip(raw, OBS_FIELDS, strict=True):
        if name in checked and not (lo - tolerance <= v <= hi + tolerance):
            out.append(name)
    return out
