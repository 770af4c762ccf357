"""Run one controller through one episode and keep what happened, step by step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.env import IoTSparkStreamingEnv
from hrl_autoscaler.runtime.core.controller import ControlContext, Controller
from hrl_autoscaler.runtime.core.weights import Weights


@dataclass(frozen=True)
class Trace:
    """Per-step arrays of one episode (index t = the t-th decision interval)."""

    load_eps: np.ndarray
    capacity_eps: np.ndarray
    executors: np.ndarray
    running: np.ndarray
    latency_ms: np.ndarray
    cost_per_hour: np.ndarray
    processed_eps: np.ndarray
    backlog_events: np.ndarray
    scaled: np.ndarray
    restarts: int
    weights: np.ndarray
    """(T, 3) weights in force at each step (they change only under a meta-controller)."""

    @property
    def steps(self) -> int:
        return int(self.load_eps.size)


def control_context(params: SimParams) -> ControlContext:
    return ControlContext(
        min_executors=params.min_executors,
        max_executors=params.max_executors,
        decision_interval_s=params.decision_interval_s,
        actuation=params.actuation,
        restart_downtime_s=params.restart_downtime_s,
    )


def rollout(
    controller: Controller,
    load_eps: np.ndarray,
    params: SimParams,
    weights: Weights,
    seed: int,
    initial_executors: int,
) -> Trace:
    """Drive the environment with ``controller`` over ``load_eps`` (one rate per step).

    The controller sees the metrics of the interval that just ended, as it would in
    production, and its count applies to the next interval.
    """
    env = IoTSparkStreamingEnv(params=params, episode_steps=int(load_eps.size), weights=weights)
    _, info = env.reset(
        seed=seed,
        options={"load": load_eps, "initial_executors": initial_executors, "weights": weights},
    )
    controller.reset(control_context(params))
    steps = int(load_eps.size)
    executors = np.empty(steps, dtype=np.int16)
    running = np.empty(steps, dtype=np.int16)
    latency = np.empty(steps)
    cost = np.empty(steps)
    processed = np.empty(steps)
    backlog = np.empty(steps)
    scaled = np.zeros(steps, dtype=bool)
    w_hist = np.empty((steps, 3))
    metrics = info["metrics"]
    in_force = getattr(controller, "weights_in_force", None)
    for t in range(steps):
        w = env.weights
        target = controller.decide(metrics, w)
        if in_force is not None:  # the operator's pipeline keeps its own (meta) weights
            w = in_force() or w
        _, _, _, _, info = env.step(target - params.min_executors)
        outcome = info["outcome"]
        metrics = info["metrics"]
        executors[t] = outcome.executors
        running[t] = outcome.running_executors
        latency[t] = outcome.latency_ms
        cost[t] = outcome.cost_per_hour
        processed[t] = outcome.processed / outcome.dt_s
        backlog[t] = outcome.backlog_after
        scaled[t] = info["scaled"]
        w_hist[t] = w.as_tuple()
    capacity = np.array([params.capacity_eps(int(r)) for r in running])
    return Trace(
        load_eps=np.asarray(load_eps, dtype=float),
        capacity_eps=capacity,
        executors=executors,
        running=running,
        latency_ms=latency,
        cost_per_hour=cost,
        processed_eps=processed,
        backlog_events=backlog,
        scaled=scaled,
        restarts=env.cluster.restarts,
        weights=w_hist,
    )
