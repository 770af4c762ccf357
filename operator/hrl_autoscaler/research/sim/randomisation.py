"""Domain randomisation: every training episode on a different cluster and SLO.

A policy trained on one parameter set learns that cluster's numbers (45 s start-up, 1,000
events/s per executor) and fails where they differ; the sim-to-real gap in
``docs/calibration.md`` showed exactly that. Each episode draws the cluster's parameters from
ranges wide enough to hold what real Spark on Kubernetes shows, and sometimes starts from an
*anchor* (a calibrated parameter set, lightly jittered), so the measured cluster is in the mix.
The scenario's peak is rescaled with the drawn cluster's capacity, so every episode is as
servable as the default one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.config import SimParams


@dataclass(frozen=True)
class DomainRandomisation:
    """Ranges (uniform) of the simulator's parameters per episode; each says why."""

    executor_rate_factor: tuple[float, float] = (0.8, 1.25)
    """Times the base events/s per executor: jobs differ in parsing and aggregation cost."""
    startup_delay_s: tuple[float, float] = (30.0, 60.0)
    """Executor pod start-up: a warm node with a cached image to a cold pull."""
    batch_overhead_s: tuple[float, float] = (0.15, 0.3)
    """Per-micro-batch planning and checkpoint cost: small to state-heavy jobs."""
    capacity_noise: tuple[float, float] = (0.03, 0.07)
    """Per-interval capacity noise: quiet nodes to noisy neighbours."""
    scaling_contention: tuple[float, float] = (0.01, 0.04)
    """Shuffle-free to shuffle-heavy jobs (the calibrated anchor adds a far higher one)."""
    restart_downtime_s: tuple[float, float] = (60.0, 120.0)
    """Driver resubmission with small to large state."""
    restart_probability: float = 0.25
    """Share of episodes in ``restart`` actuation: the policy sees the mode in its
    observation and learns that there a change costs downtime."""
    slo_factor: tuple[float, float] = (0.75, 1.35)
    """Times the scenario's latency SLO: the same load under tighter and looser targets."""
    anchors: tuple[SimParams, ...] = ()
    """Measured parameter sets (``--calibration``) drawn with ``anchor_probability``."""
    anchor_probability: float = 0.1
    anchor_jitter: float = 0.1
    """Relative jitter of an anchor's rate, start-up and overhead."""

    def draw(self, base: SimParams, rng: np.random.Generator) -> SimParams:
        """One episode's parameters: ``base`` (or an anchor) with the drawn values."""
        actuation = "restart" if rng.random() < self.restart_probability else "in-place"
        if self.anchors and rng.random() < self.anchor_probability:
            anchor = self.anchors[int(rng.integers(len(self.anchors)))]
            j = self.anchor_jitter
            return anchor.with_overrides(
                executor_rate_eps=anchor.executor_rate_eps * rng.uniform(1 - j, 1 + j),
                startup_delay_s=anchor.startup_delay_s * rng.uniform(1 - j, 1 + j),
                batch_overhead_s=anchor.batch_overhead_s * rng.uniform(1 - j, 1 + j),
                actuation=actuation,
            )
        return base.with_overrides(
            executor_rate_eps=base.executor_rate_eps * rng.uniform(*self.executor_rate_factor),
            startup_delay_s=rng.uniform(*self.startup_delay_s),
            batch_overhead_s=rng.uniform(*self.batch_overhead_s),
            capacity_noise=rng.uniform(*self.capacity_noise),
            scaling_contention=rng.uniform(*self.scaling_contention),
            restart_downtime_s=rng.uniform(*self.restart_downtime_s),
            actuation=actuation,
        )

    def slo_ms(self, scenario_slo_ms: float, params: SimParams, rng: np.random.Generator) -> float:
        """The episode's SLO: the scenario's times a factor, never below what the cluster can
        meet at all (twice one micro-batch's interval plus overhead)."""
        floor = 2.0 * (params.batch_interval_s + params.batch_overhead_s) * 1000.0
        return max(scenario_slo_ms * float(rng.uniform(*self.slo_factor)), floor)


def capacity_ratio(params: SimParams, base: SimParams) -> float:
    """How much more (or less) the drawn cluster serves at its largest allocation."""
    return params.rate_scale_eps / base.rate_scale_eps
