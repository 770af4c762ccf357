"""The lower agent's environment: one Spark streaming application under an IoT workload."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.research.sim.cluster import ClusterModel, StepOutcome
from hrl_autoscaler.research.sim.randomisation import DomainRandomisation, capacity_ratio
from hrl_autoscaler.research.sim.workloads import SCENARIOS, load_profile
from hrl_autoscaler.research.sim.workloads import scenario as get_scenario
from hrl_autoscaler.runtime.core.anticipation import LoadForecaster
from hrl_autoscaler.runtime.core.guardrails import Guardrails, GuardrailSettings
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.objectives import step_reward
from hrl_autoscaler.runtime.core.observation import (
    OBS_HIGH,
    OBS_LOW,
    ObservationContext,
    ObservationScale,
    build_observation,
)
from hrl_autoscaler.runtime.core.sizing import true_rate_per_executor
from hrl_autoscaler.runtime.core.weights import Weights, sample_weights

MIX = "mix"
DEFAULT_SLO_MS = 2000.0
"""SLO of a load given at reset without one (evaluate's default for a replayed trace)."""


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
    ``Box(15,)`` float32 (schema version 2), built by
    :func:`hrl_autoscaler.runtime.core.observation.build_observation` (the operator uses the same
    function with the same forecaster):

    | Num | Observation        | Min | Max | Unit / scaling                                    |
    |-----|--------------------|-----|-----|---------------------------------------------------|
    | 0   | input_rate         | 0   | 2   | events/s / capacity of 20 executors               |
    | 1   | backlog            | 0   | 5   | events / (capacity of 20 executors x 60 s)        |
    | 2   | cpu_utilisation    | 0   | 1   | busy fraction of running executors                |
    | 3   | memory_utilisation | 0   | 1   | used / max executor memory                        |
    | 4   | latency            | 0   | 3   | micro-batch latency / the episode's SLO           |
    | 5   | executors          | 0   | 1   | requested executors / 20                          |
    | 6   | starting           | 0   | 1   | (requested - running executors) / 20              |
    | 7   | needed             | 0   | 2   | input / measured rate of one busy executor / 20   |
    | 8   | forecast_trend     | 0   | 2   | trend forecast over 90 s / capacity of 20         |
    | 9   | forecast_seasonal  | 0   | 2   | load one period ago over the next 90 s / capacity |
    | 10  | slo                | 0   | 2   | the episode's latency SLO / 5000 ms               |
    | 11  | restart            | 0   | 1   | 1 in ``restart`` actuation                        |
    | 12  | alpha              | 0   | 1   | cost weight (weights sum to 1)                    |
    | 13  | beta               | 0   | 1   | latency weight                                    |
    | 14  | gamma              | 0   | 1   | throughput weight                                 |

    ## Rewards
    :func:`hrl_autoscaler.runtime.core.objectives.step_reward`:
    ``-alpha * cost/max_cost - beta * 10 * pressure + gamma * min(throughput/capacity_20, 1)
    - 0.1 * scaled``, where ``pressure`` rises from 0 at 80% of the SLO to 1 at the SLO.

    ## Starting State
    One warm-up interval at the first load from an empty backlog; the executor count is
    ``options["initial_executors"]`` or uniform in 1..20.
    Weights are ``options["weights"]`` or drawn per episode (presets 25%, else uniform on the
    simplex). The load is ``options["load"]``, else the scenario's profile (``"mix"`` draws a
    scenario per episode) with a random start time of day. With ``randomisation`` the cluster's
    parameters, its actuation and the SLO are drawn per episode too
    (:class:`~hrl_autoscaler.research.sim.randomisation.DomainRandomisation`), and the peak is
    rescaled with the drawn capacity.

    ## Episode End
    Never terminates; truncates after ``episode_steps`` steps (default 240 = 2 hours).

    ## Arguments
    ``params`` (:class:`SimParams`), ``scenario`` (a name or ``"mix"``), ``episode_steps``,
    ``peak_rate_eps`` (None = scenario default), ``peak_jitter`` (training: scale the peak by
    U(1 - j, 1 + j) per episode so the policy does not learn one absolute rate),
    ``weights`` (fixed context instead of drawing one), ``randomisation`` (None: ``params`` as
    given), ``latency_slo_ms`` (None: the scenario's, 2000 ms for a given load),
    ``forecast`` (False: the forecasts are the load now, for the ablation), ``guardrails``
    (True: the action passes the operator's default guardrails first, so a policy trained
    here learns that a scale-down waits 10 confirmations, as it will in production).
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
        randomisation: DomainRandomisation | None = None,
        latency_slo_ms: float | None = None,
        forecast: bool = True,
        guardrails: bool = False,
    ) -> None:
        self.base_params = self.params = params or SimParams()
        self.randomisation = randomisation
        self.fixed_slo_ms = latency_slo_ms
        self.latency_slo_ms = latency_slo_ms or DEFAULT_SLO_MS
        self.forecast = forecast
        self.guardrails = guardrails
        self._guard: Guardrails | None = None
        self.forecaster = LoadForecaster()
        self.true_rate_eps: float | None = None
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
        self.scale = _scale(self.params)
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
        if self.randomisation is not None:
            self.params = self.randomisation.draw(self.base_params, rng)
            self.scale = _scale(self.params)
            self.cluster = ClusterModel(self.params)
        p = self.params
        slo_ms: float | None = self.fixed_slo_ms
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
            slo_ms = options.get("latency_slo_ms", slo_ms)
        else:
            name = str(options.get("scenario", self.scenario_name))
            if name == MIX:
                name = sorted(SCENARIOS)[int(rng.integers(len(SCENARIOS)))]
            peak = options.get("peak_rate_eps", self.peak_rate_eps)
            peak = get_scenario(name).peak_rate_eps if peak is None else float(peak)
            if self.peak_jitter > 0:
                peak *= float(rng.uniform(1 - self.peak_jitter, 1 + self.peak_jitter))
            if self.randomisation is not None:
                peak *= capacity_ratio(p, self.base_params)
            self.load = load_profile(name, self.episode_steps, p.decision_interval_s, rng, peak)
            self.current_scenario = name
            if slo_ms is None:
                slo_ms = get_scenario(name).latency_slo_ms
                if self.randomisation is not None:
                    slo_ms = self.randomisation.slo_ms(slo_ms, p, rng)
        self._horizon = self.load.size
        self._capacity_noise = np.exp(rng.normal(0.0, p.capacity_noise, size=self._horizon))
        initial = options.get("initial_executors")
        if initial is None:
            initial = int(rng.integers(p.min_executors, p.max_executors + 1))
        self.latency_slo_ms = float(slo_ms or DEFAULT_SLO_MS)
        self.forecaster.reset()
        self.true_rate_eps = None
        self._guard = _operator_guardrails(p) if self.guardrails else None
        self.cluster.reset(int(initial))
        self.t = 0
        # Warm-up: the application has run one interval at the initial allocation, so the
        # first observation shows real utilisation and latency instead of zeros.
        outcome = self.cluster.advance(float(self.load[0]), p.decision_interval_s)
        metrics = self.cluster.metrics(outcome)
        self.last_metrics = metrics
        self.last_outcome = outcome
        return self._observe(metrics), {"metrics": metrics}

    def step(
        self, action: np.int64 | int
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        p = self.params
        executors = int(action) + p.min_executors
        if self._guard is not None and self.last_metrics is not None:
            current = self.last_metrics.executors
            executors = self._guard.apply(executors, current, self.cluster.time_s).target
        changed = self.cluster.set_target(executors)
        outcome = self.cluster.advance(
            float(self.load[self.t]), p.decision_interval_s, float(self._capacity_noise[self.t])
        )
        self.t += 1
        metrics = self.cluster.metrics(outcome)
        self.last_metrics = metrics
        self.last_outcome = outcome
        throughput_norm = outcome.processed / outcome.dt_s / self.scale.rate_scale_eps
        reward = step_reward(
            outcome.cost_per_hour / p.max_cost_per_hour,
            outcome.latency_ms / self.latency_slo_ms,
            throughput_norm if throughput_norm < 1.0 else 1.0,
            self.weights,
            changed,
        )
        obs = self._observe(metrics)
        truncated = self.t >= self._horizon
        info = {"metrics": metrics, "outcome": outcome, "scaled": changed}
        return obs, reward, False, truncated, info

    def _observe(self, metrics: SystemMetrics) -> np.ndarray:
        ahead = self.forecaster.observe(metrics.input_rate_eps, self.params.decision_interval_s)
        # As the operator's RateEstimate: the newest measurement, kept while none is possible.
        self.true_rate_eps = true_rate_per_executor(metrics) or self.true_rate_eps
        ctx = ObservationContext(
            latency_slo_ms=self.latency_slo_ms,
            restart=self.params.actuation == "restart",
            anticipation=ahead if self.forecast else None,
            true_rate_eps=self.true_rate_eps,
        )
        return build_observation(metrics, self.weights, self.scale, ctx)


def _operator_guardrails(p: SimParams) -> Guardrails:
    """The operator's default guardrails for this actuation (scale-down confirmations, the
    restart cooldown), as the decision step applies them in production."""
    g = OperatorSettings.built_in().guardrails
    restart = p.actuation == "restart"
    return Guardrails(
        GuardrailSettings(
            min_executors=p.min_executors,
            max_executors=p.max_executors,
            max_step=g.max_step,
            cooldown_s=g.restart_cooldown_s if restart else g.in_place_cooldown_s,
            scale_down_confirmations=g.scale_down_confirmations,
        )
    )


def _scale(p: SimParams) -> ObservationScale:
    return ObservationScale(
        rate_scale_eps=p.rate_scale_eps,
        max_executors=p.max_executors,
        max_latency_ms=p.max_latency_ms,
        backlog_horizon_s=p.backlog_horizon_s,
    )


def _as_weights(w: Weights | tuple[float, float, float] | list[float] | np.ndarray) -> Weights:
    if isinstance(w, Weights):
        return w
    values = [float(x) for x in w]
    if len(values) != 3:
        raise ValueError(f"weights must be (alpha, beta, gamma), got {len(values)} values")
    return Weights.of(*values)
