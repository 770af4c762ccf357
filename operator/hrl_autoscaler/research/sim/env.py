"""The lower agent's environment: one Spark streaming application under an IoT workload."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.cluster import ClusterModel, StepOutcome
from hrl_autoscaler.research.sim.workloads import SCENARIOS, load_profile
from hrl_autoscaler.research.sim.workloads import scenario as get_scenario
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.objectives import step_reward
from hrl_autoscaler.runtime.core.observation import (
    OBS_HIGH,
    OBS_LOW,
    ObservationScale,
    build_observation,
)
from hrl_autoscaler.runtime.core.weights import Weights, sample_weights

MIX = "mix"


class IoTSparkStreamingEnv(gym.Env[np.ndarray, np.int64]):
    """Choose the executor count of a Spark Structured Streaming job every 30 seconds.

    ## Description
    IoT events arrive at a time-varying rate (a named scenario, a replayed trace, or an array
    given at reset). The cluster processes them with a capacity that grows sub-linearly with
    executors; new executors take ``startup_delay_s`` to start; in ``restart`` actuation every
    change of the executor count stops processing for ``restart_downtime_s``. Unprocessed events
    queue in a backlog. Latency follows micro-batching plus an Erlang-C queueing delay that
    grows sharply near saturation, plus the backlog drain time.

    ## Action Space
    ``Discrete(20)``: action ``a`` requests ``a + 1`` executors (1..20).

    ## Observation Space
    ``Box(9,)`` float32, built by :func:`hrl_autoscaler.runtime.core.observation.build_observation`
    (the operator uses the same function):

    | Num | Observation        | Min | Max | Unit / scaling                                    |
    |-----|--------------------|-----|-----|---------------------------------------------------|
    | 0   | input_rate         | 0   | 2   | events/s / capacity of 20 executors               |
    | 1   | backlog            | 0   | 5   | events / (capacity of 20 executors x 60 s)        |
    | 2   | cpu_utilisation    | 0   | 1   | busy fraction of running executors                |
    | 3   | memory_utilisation | 0   | 1   | used / max executor memory                        |
    | 4   | latency            | 0   | 1   | micro-batch latency / 5000 ms                     |
    | 5   | executors          | 0   | 1   | requested executors / 20                          |
    | 6   | alpha              | 0   | 1   | cost weight (weights sum to 1)                    |
    | 7   | beta               | 0   | 1   | latency weight                                    |
    | 8   | gamma              | 0   | 1   | throughput weight                                 |

    ## Rewards
    ``-alpha * cost/max_cost - beta * min(latency/5000 ms, 1)
    + gamma * min(throughput/capacity_20, 1)``
    (the seed's reward with its throughput term).

    ## Starting State
    One warm-up interval at the first load from an empty backlog; the executor count is
    ``options["initial_executors"]`` or uniform in 1..20.
    Weights are ``options["weights"]`` or drawn per episode (presets 25%, else uniform on the
    simplex). The load is ``options["load"]``, else the scenario's profile (``"mix"`` draws a
    scenario per episode) with a random start time of day.

    ## Episode End
    Never terminates; truncates after ``episode_steps`` steps (default 240 = 2 hours).

    ## Arguments
    ``params`` (:class:`SimParams`), ``scenario`` (a name or ``"mix"``), ``episode_steps``,
    ``peak_rate_eps`` (None = scenario default), ``peak_jitter`` (training: scale the peak by
    U(1 - j, 1 + j) per episode so the policy does not learn one absolute rate),
    ``weights`` (fixed context instead of drawing one).
    """

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        params: SimParams | None = None,
        scenario: str = MIX,
        episode_steps: int = 240,
        peak_rate_eps: float | None = None,
        peak_jitter: float = 0.0,
        weights: Weights | tuple[float, float, float] | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.params = params or SimParams()
        if scenario != MIX:
            get_scenario(scenario)  # validate the name early, with the accepted values
        if episode_steps < 1:
            raise ValueError(f"episode_steps must be >= 1, got {episode_steps}")
        if not 0.0 <= peak_jitter < 1.0:
            raise ValueError(f"peak_jitter must be in [0, 1), got {peak_jitter}")
        self.scenario_name = scenario
        self.episode_steps = episode_steps
        self.peak_rate_eps = peak_rate_eps
        self.peak_jitter = peak_jitter
        self.fixed_weights = _as_weights(weights) if weights is not None else None
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(
            self.params.max_executors - self.params.min_executors + 1
        )
        self.observation_space = spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)
        self.scale = ObservationScale(
            rate_scale_eps=self.params.rate_scale_eps,
            max_executors=self.params.max_executors,
            max_latency_ms=self.params.max_latency_ms,
            backlog_horizon_s=self.params.backlog_horizon_s,
        )
        self.cluster = ClusterModel(self.params)
        self.weights = self.fixed_weights or Weights.of(1, 1, 1)
        self.load = np.zeros(episode_steps)
        self._capacity_noise = np.ones(episode_steps)
        self.current_scenario = scenario
        self.t = 0
        self.last_metrics: SystemMetrics | None = None
        self.last_outcome: StepOutcome | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        rng = self.np_random
        p = self.params
        if "weights" in options and options["weights"] is not None:
            self.weights = _as_weights(options["weights"])
        elif self.fixed_weights is not None:
            self.weights = self.fixed_weights
        else:
            self.weights = sample_weights(rng)
        if "load" in options and options["load"] is not None:
            load = np.asarray(options["load"], dtype=float)
            if (
                load.ndim != 1
                or load.size == 0
                or not np.all(np.isfinite(load))
                or np.any(load < 0)
            ):
                raise ValueError("options['load'] must be a non-empty 1-D array of rates >= 0")
            self.load = load
            self.current_scenario = str(options.get("scenario", "custom"))
        else:
            name = str(options.get("scenario", self.scenario_name))
            if name == MIX:
                name = sorted(SCENARIOS)[int(rng.integers(len(SCENARIOS)))]
            peak = options.get("peak_rate_eps", self.peak_rate_eps)
            peak = get_scenario(name).peak_rate_eps if peak is None else float(peak)
            if self.peak_jitter > 0:
                peak *= float(rng.uniform(1 - self.peak_jitter, 1 + self.peak_jitter))
            self.load = load_profile(name, self.episode_steps, p.decision_interval_s, rng, peak)
            self.current_scenario = name
        self._horizon = self.load.size
        self._capacity_noise = np.exp(rng.normal(0.0, p.capacity_noise, size=self._horizon))
        initial = options.get("initial_executors")
        if initial is None:
            initial = int(rng.integers(p.min_executors, p.max_executors + 1))
        self.cluster.reset(int(initial))
        self.t = 0
        # Warm-up: the application has run one interval at the initial allocation, so the
        # first observation shows real utilisation and latency instead of zeros.
        outcome = self.cluster.advance(float(self.load[0]), p.decision_interval_s)
        metrics = self.cluster.metrics(outcome)
        self.last_metrics = metrics
        self.last_outcome = outcome
        return build_observation(metrics, self.weights, self.scale), {"metrics": metrics}

    def step(
        self, action: np.int64 | int
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        p = self.params
        executors = int(action) + p.min_executors
        changed = self.cluster.set_target(executors)
        outcome = self.cluster.advance(
            float(self.load[self.t]), p.decision_interval_s, float(self._capacity_noise[self.t])
        )
        self.t += 1
        metrics = self.cluster.metrics(outcome)
        self.last_metrics = metrics
        self.last_outcome = outcome
        latency_norm = outcome.latency_ms / p.max_latency_ms
        throughput_norm = outcome.processed / outcome.dt_s / self.scale.rate_scale_eps
        reward = step_reward(
            outcome.cost_per_hour / p.max_cost_per_hour,
            latency_norm if latency_norm < 1.0 else 1.0,
            throughput_norm if throughput_norm < 1.0 else 1.0,
            self.weights,
        )
        obs = build_observation(metrics, self.weights, self.scale)
        truncated = self.t >= self._horizon
        info = {"metrics": metrics, "outcome": outcome, "scaled": changed}
        return obs, reward, False, truncated, info


def _as_weights(w: Weights | tuple[float, float, float] | list[float] | np.ndarray) -> Weights:
    if isinstance(w, Weights):
        return w
    values = [float(x) for x in w]
    if len(values) != 3:
        raise ValueError(f"weights must be (alpha, beta, gamma), got {len(values)} values")
    return Weights.of(*values)
