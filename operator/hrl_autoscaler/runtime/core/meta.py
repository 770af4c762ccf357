"""The one meta step: window -> meta observation -> actor -> weights.

:class:`MetaStep` is shared by the operator's slow loop (which the ``hrl`` evaluation runs on the
simulated cluster) and the meta-controller's training environment, so the TD3 actor sees in
production what it was trained on: the same window statistics, the same measured rate scale,
the same maximum cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.objectives import r_meta, slo_score
from hrl_autoscaler.runtime.core.weights import Weights

META_SCHEMA_VERSION = 1

#: Field name, lower bound, upper bound, meaning. Order is the observation's order.
META_FIELDS: tuple[tuple[str, float, float, str], ...] = (
    ("mean_load", 0.0, 2.0, "mean arrival rate / capacity of max executors"),
    ("load_std", 0.0, 1.0, "standard deviation of the arrival rate / capacity of max executors"),
    ("mean_latency", 0.0, 10.0, "mean latency / latency SLO"),
    ("p95_latency", 0.0, 10.0, "95th percentile latency / latency SLO"),
    ("mean_cost", 0.0, 1.0, "mean cost / cost of max executors"),
    ("backlog_trend", -1.0, 1.0, "backlog change per second / capacity of max executors"),
    ("slo_violation", 0.0, 1.0, "share of steps above the latency SLO"),
    ("alpha", 0.0, 1.0, "cost weight in force"),
    ("beta", 0.0, 1.0, "latency weight in force"),
    ("gamma", 0.0, 1.0, "throughput weight in force"),
)
META_SIZE = len(META_FIELDS)
META_LOW = np.array([f[1] for f in META_FIELDS], dtype=np.float32)
META_HIGH = np.array([f[2] for f in META_FIELDS], dtype=np.float32)

#: Smallest weight the meta-controller can set, so no objective is ever switched off entirely.
WEIGHT_FLOOR = 0.02


def action_to_weights(action: np.ndarray) -> Weights:
    """Map the actor's output in [-1, 1]^3 to weights on the simplex.

    Each component becomes ``(a + 1) / 2`` in [0, 1], floored at :data:`WEIGHT_FLOOR`, and the
    three are divided by their sum. So (1, -1, -1) means 'cost only' (0.96, 0.02, 0.02) and equal
    outputs mean equal weights whatever their level.
    """
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    raw = np.maximum((a + 1.0) / 2.0, WEIGHT_FLOOR)
    return Weights.of(float(raw[0]), float(raw[1]), float(raw[2]))


@dataclass(frozen=True)
class WindowStats:
    mean_load_eps: float
    load_std_eps: float
    mean_latency_ms: float
    p95_latency_ms: float
    mean_cost_per_hour: float
    backlog_trend_eps: float
    slo_violation: float
    steps: int

    def objective(self, name: str, max_cost_per_hour: float) -> float:
        """The window's score under the global objective (``r_meta`` or ``slo``)."""
        if name == "r_meta":
            return r_meta(self.mean_latency_ms, self.mean_cost_per_hour)
        return slo_score(self.mean_cost_per_hour, max_cost_per_hour, 1.0 - self.slo_violation)


class WindowAccumulator:
    """Collects the fast loop's metrics between two meta decisions."""

    def __init__(self, price_per_executor_hour: float, latency_slo_ms: float) -> None:
        self.price = price_per_executor_hour
        self.latency_slo_ms = latency_slo_ms
        self.clear()

    def clear(self) -> None:
        self.loads: list[float] = []
        self.latencies: list[float] = []
        self.costs: list[float] = []
        self.backlogs: list[float] = []
        self.times: list[float] = []

    def add(self, m: SystemMetrics) -> None:
        self.loads.append(m.input_rate_eps)
        self.latencies.append(m.latency_ms)
        self.costs.append(m.executors * self.price)
        self.backlogs.append(m.backlog_events)
        self.times.append(m.time_s)

    def __len__(self) -> int:
        return len(self.loads)

    def stats(self) -> WindowStats:
        if not self.loads:
            raise ValueError("no steps in the window")
        latencies = np.asarray(self.latencies)
        duration = self.times[-1] - self.times[0]
        trend = (self.backlogs[-1] - self.backlogs[0]) / duration if duration > 0 else 0.0
        return WindowStats(
            mean_load_eps=float(np.mean(self.loads)),
            load_std_eps=float(np.std(self.loads)),
            mean_latency_ms=float(np.mean(latencies)),
            p95_latency_ms=float(np.percentile(latencies, 95)),
            mean_cost_per_hour=float(np.mean(self.costs)),
            backlog_trend_eps=float(trend),
            slo_violation=float(np.mean(latencies > self.latency_slo_ms)),
            steps=len(self.loads),
        )


def build_meta_observation(
    stats: WindowStats,
    weights: Weights,
    rate_scale_eps: float,
    latency_slo_ms: float,
    max_cost_per_hour: float,
) -> np.ndarray:
    raw = (
        stats.mean_load_eps / rate_scale_eps,
        stats.load_std_eps / rate_scale_eps,
        stats.mean_latency_ms / latency_slo_ms,
        stats.p95_latency_ms / latency_slo_ms,
        stats.mean_cost_per_hour / max_cost_per_hour,
        stats.backlog_trend_eps / rate_scale_eps,
        stats.slo_violation,
        weights.alpha,
        weights.beta,
        weights.gamma,
    )
    return np.clip(np.array(raw, dtype=np.float32), META_LOW, META_HIGH)


@dataclass(frozen=True, slots=True)
class MetaCadence:
    """When a window closes. The operator counts time (decisions can be skipped while metrics
    are missing); the training environment, whose decisions never are, closes every
    ``interval_s / decision_interval_s`` decisions, which is the same cadence."""

    interval_s: float = 600.0
    min_samples: int = 3
    """After an outage or a restart the window refills before it is trusted."""

    def steps(self, decision_interval_s: float) -> int:
        return max(1, round(self.interval_s / decision_interval_s))


@dataclass(frozen=True, slots=True)
class MetaInput:
    """What a closed window gives the actor, and its score under the objective."""

    observation: np.ndarray
    stats: WindowStats
    score: float


class MetaStep:
    """One application's meta window and its observation."""

    def __init__(
        self, cost_per_executor_hour: float, latency_slo_ms: float, max_executors: int
    ) -> None:
        self.window = WindowAccumulator(cost_per_executor_hour, latency_slo_ms)
        self.latency_slo_ms = latency_slo_ms
        self.max_cost_per_hour = max_executors * cost_per_executor_hour
        """The cost of the policy's largest allocation: the meta observation's cost scale."""

    def add(self, metrics: SystemMetrics) -> None:
        self.window.add(metrics)

    def __len__(self) -> int:
        return len(self.window)

    def ready(self, now_s: float, started_s: float, cadence: MetaCadence) -> bool:
        return now_s - started_s >= cadence.interval_s and len(self) >= cadence.min_samples

    def close(self, weights: Weights, rate_scale_eps: float, objective: str) -> MetaInput:
        """The window's observation under the weights in force, and start a new window."""
        stats = self.window.stats()
        self.window.clear()
        obs = build_meta_observation(
            stats, weights, rate_scale_eps, self.latency_slo_ms, self.max_cost_per_hour
        )
        return MetaInput(obs, stats, stats.objective(objective, self.max_cost_per_hour))
