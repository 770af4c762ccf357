"""How fast the one decision path runs: the operator's pipeline on the simulated cluster, and a
whole ``evaluate`` of the baselines and the RL agents.

``pipeline`` times ``hrl`` and ``ppo-fixed`` episodes (an operator cycle per decision, on one
core, simulator step included) beside ``ds2`` (the same rollout with a bare baseline) on the
same loads, so the ratio shows what the pipeline costs on a noisy machine. ``evaluate`` times
the README's comparison: five baselines, ``hrl`` and ``ppo-fixed``, 5 seeds x 2,880 steps.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, run_evaluation, run_one

#: The comparison evaluate's README table runs: the five baselines and the two RL agents.
EVALUATE_CONTROLLERS = ("static-max", "hpa", "spark-da", "ds2", "oracle", "hrl", "ppo-fixed")


@dataclass(frozen=True)
class PipelineBenchResult:
    episodes: int
    steps_per_episode: int
    decisions: int
    hrl_decisions_per_second: float
    ppo_fixed_decisions_per_second: float
    ds2_decisions_per_second: float
    """The same rollouts with a bare baseline: the simulator's share of the time."""
    hrl_to_ds2_time_ratio: float


@dataclass(frozen=True)
class EvaluateBenchResult:
    controllers: tuple[str, ...]
    seeds: int
    steps: int
    workers: int
    seconds: float
    episodes_per_second: float


def _rate(name: str, spec: EvaluationSpec, episodes: int) -> float:
    steps = spec.episode_steps or 0
    run_one(spec, name, 0)  # load the policies, warm the caches
    started = time.perf_counter()
    for seed in range(episodes):
        run_one(spec, name, seed)
    return episodes * steps / (time.perf_counter() - started)


def bench_pipeline(
    episodes: int = 4, steps: int = 2880, scenario: str = "smart-hospital"
) -> PipelineBenchResult:
    """Sequential episodes in this process (one core)."""
    spec = EvaluationSpec(
        controllers=("hrl",), scenario=scenario, seeds=episodes, episode_steps=steps
    )
    hrl = _rate("hrl", spec, episodes)
    ppo = _rate("ppo-fixed", spec, episodes)
    ds2 = _rate("ds2", spec, episodes)
    return PipelineBenchResult(
        episodes=episodes,
        steps_per_episode=steps,
        decisions=episodes * steps,
        hrl_decisions_per_second=hrl,
        ppo_fixed_decisions_per_second=ppo,
        ds2_decisions_per_second=ds2,
        hrl_to_ds2_time_ratio=ds2 / hrl,
    )


def bench_evaluate(
    seeds: int = 5, steps: int = 2880, scenario: str = "smart-hospital", workers: int | None = None
) -> EvaluateBenchResult:
    """One ``evaluate`` run, in parallel processes as the command runs it."""
    spec = EvaluationSpec(
        controllers=EVALUATE_CONTROLLERS, scenario=scenario, seeds=seeds, episode_steps=steps
    )
    jobs = len(EVALUATE_CONTROLLERS) * seeds
    workers = workers or min(jobs, os.cpu_count() or 1)
    started = time.perf_counter()
    run_evaluation(spec, workers=workers)
    seconds = time.perf_counter() - started
    return EvaluateBenchResult(
        controllers=EVALUATE_CONTROLLERS,
        seeds=seeds,
        steps=steps,
        workers=workers,
        seconds=seconds,
        episodes_per_second=jobs / seconds,
    )
