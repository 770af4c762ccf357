"""Latency of one decision with the numpy runtime: observation -> executor count."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.observation import ObservationScale, build_observation
from hrl_autoscaler.runtime.core.weights import Weights
from hrl_autoscaler.runtime.policies.artifacts import default_policies_dir
from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy


@dataclass(frozen=True)
class PolicyBenchResult:
    decisions: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    includes: str = "build_observation + normalisation + MLP forward + argmax"


def bench_policy(
    decisions: int = 10_000, directory: Path | None = None, seed: int = 0
) -> PolicyBenchResult:
    policy = NumpyPPOPolicy.load(directory or default_policies_dir() / "ppo")
    scale = ObservationScale(12_739.0, 20, 5000.0)
    rng = np.random.default_rng(seed)
    samples = [
        SystemMetrics(
            input_rate_eps=float(rng.uniform(0, 14_000)),
            processing_rate_eps=float(rng.uniform(0, 12_000)),
            backlog_events=float(rng.exponential(50_000)),
            cpu_utilisation=float(rng.uniform()),
            memory_utilisation=float(rng.uniform()),
            latency_ms=float(rng.uniform(500, 10_000)),
            executors=int(rng.integers(1, 21)),
            running_executors=int(rng.integers(1, 21)),
        )
        for _ in range(decisions)
    ]
    weights = [Weights.of(*rng.dirichlet((1.0, 1.0, 1.0))) for _ in range(decisions)]
    for m, w in zip(samples[:200], weights[:200], strict=True):  # warm up
        policy.executors(build_observation(m, w, scale))
    timings = np.empty(decisions)
    for i, (m, w) in enumerate(zip(samples, weights, strict=True)):
        start = time.perf_counter_ns()
        policy.executors(build_observation(m, w, scale))
        timings[i] = (time.perf_counter_ns() - start) / 1e6
    return PolicyBenchResult(
        decisions=decisions,
        p50_ms=round(float(np.percentile(timings, 50)), 4),
        p99_ms=round(float(np.percentile(timings, 99)), 4),
        max_ms=round(float(timings.max()), 4),
    )
