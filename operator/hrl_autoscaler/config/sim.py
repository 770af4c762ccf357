"""The simulator's and the evaluation's options: type, default, unit and why.

The simulator's parameters are a frozen dataclass so that a rollout is a pure function of
(parameters, workload, seed) and can be hashed into a policy's metadata.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Actuation = Literal["restart", "in-place"]
ACTUATIONS: tuple[Actuation, ...] = ("restart", "in-place")

#: The action space of the seed: an executor count in [1, 20].
MIN_EXECUTORS = 1
MAX_EXECUTORS = 20


@dataclass(frozen=True)
class SimParams:
    """Parameters of the simulated Spark Structured Streaming cluster.

    Each default says why it was chosen. Units are in the field names (``_s`` seconds,
    ``_eps`` events per second, ``_ms`` milliseconds).
    """

    decision_interval_s: float = 30.0
    """One environment step. DESIGN.md's ``decisionInterval``: long enough for a scrape
    (5-15 s) and a micro-batch to reflect a change, short enough to follow an alarm burst."""

    min_executors: int = MIN_EXECUTORS
    max_executors: int = MAX_EXECUTORS
    """Bounds of the seed's action space (1..20)."""

    executor_rate_eps: float = 1000.0
    """Events per second one 1-core executor processes alone (parse, window, aggregate).
    Calibrated values from a real job replace it (``--calibration``)."""

    scaling_contention: float = 0.03
    """Universal-scalability-law contention sigma: capacity(n) = rate*n / (1 + sigma*(n-1)).
    Shuffle and driver scheduling make each added executor worth a little less; 0.03 gives
    20 executors about 12.7x one executor, in the range measured for shuffle-light jobs."""

    startup_delay_s: float = 45.0
    """Pod scheduling + image pull + JVM start + registration of a new executor on
    Kubernetes; typically 30-60 s."""

    restart_downtime_s: float = 90.0
    """In ``restart`` mode the Spark Operator deletes the driver and resubmits: driver pod
    start, SparkContext, executors, state restore. 60-120 s is typical."""

    actuation: Actuation = "in-place"
    """``in-place``: the driver agent changes executors without a restart (new ones after
    ``startup_delay_s``, removal at once). ``restart``: every change of the executor count
    restarts the application (the Spark Operator's behaviour for ``spec.executor.instances``)."""

    batch_interval_s: float = 1.0
    """Structured Streaming ProcessingTime trigger. An event waits on average half of it."""

    batch_overhead_s: float = 0.2
    """Fixed per-micro-batch cost (planning, offsets commit, state checkpoint)."""

    task_time_s: float = 0.25
    """Mean service time of one task, the job unit of the Erlang-C (M/M/c) queueing term that
    makes latency grow sharply as utilisation approaches 1."""

    price_per_executor_hour: float = 0.49
    """USD per executor-hour, so 20 executors cost $9.80/hour as in the seed's table."""

    capacity_noise: float = 0.05
    """Relative standard deviation of per-step capacity (GC pauses, skew, noisy neighbours)."""

    max_latency_ms: float = 5000.0
    """Normalisation of latency in the observation and reward (MAX_LATENCY in the seed):
    beyond 5 s a streaming IoT pipeline is failing its users whatever the exact number."""

    latency_cap_ms: float = 600_000.0
    """Reported latency is capped at 10 minutes so one long outage cannot make a mean infinite."""

    backlog_horizon_s: float = 60.0
    """Backlog is observed in units of 'seconds of full-cluster capacity' divided by this,
    i.e. 1.0 = one minute of work for 20 executors."""

    memory_base: float = 0.25
    """Memory utilisation of an idle executor (JVM, broadcast, state store)."""

    def capacity_eps(self, executors: float) -> float:
        """Sustainable processing rate of ``executors`` running executors, in events/s."""
        if executors <= 0:
            return 0.0
        return (
            self.executor_rate_eps * executors / (1.0 + self.scaling_contention * (executors - 1))
        )

    @property
    def rate_scale_eps(self) -> float:
        """Capacity of the largest allocation: the scale of rates in the observation."""
        return self.capacity_eps(self.max_executors)

    @property
    def max_cost_per_hour(self) -> float:
        return self.max_executors * self.price_per_executor_hour

    def executors_for_rate(self, rate_eps: float, utilisation: float = 0.7) -> int:
        """Smallest executor count whose capacity keeps utilisation at or below the target."""
        for n in range(self.min_executors, self.max_executors + 1):
            if self.capacity_eps(n) * utilisation >= rate_eps:
                return n
        return self.max_executors

    def with_overrides(self, **changes: Any) -> SimParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvaluationDefaults:
    """Defaults of ``hrl-autoscaler evaluate``."""

    seeds: int = 5
    """Five seeds as in the seed report's ablation, enough for a t-based 95% interval."""

    episode_steps: int = 2880
    """One simulated day at 30 s per decision: covers diurnal and periodic scenarios."""

    controllers: tuple[str, ...] = ("static-max", "hpa", "spark-da", "ds2", "oracle")
    target_utilisation: float = 0.7
    """Used to size the initial allocation identically for every controller."""

    slo_attainment_target: float = 0.99
    """The ``slo`` objective asks 99% of steps to meet the latency SLO."""

    slo_penalty: float = 10.0
    """Score lost per unit of missing attainment: 1 point of attainment below 99% costs 0.1,
    more than the whole cost range (1.0) is worth over ten points, so the SLO dominates."""

    r_meta_latency_numerator: float = 1000.0
    r_meta_cost_weight: float = 0.1
    """R_meta = 1000/(mean latency ms + 1) - 0.1 * mean cost per hour, as in the seed."""

    extra: dict[str, Any] = field(default_factory=dict)


EVALUATION = EvaluationDefaults()


def hours(steps: int, params: SimParams) -> float:
    return steps * params.decision_interval_s / 3600.0


def ceil_int(x: float) -> int:
    return math.ceil(x - 1e-9)
