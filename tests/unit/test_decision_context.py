"""What the operator's decision step shows the policy beyond one interval's metrics: the SLO,
the actuation, the measured per-executor rate and the forecasts of the recent load."""

from __future__ import annotations

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.decision import DecisionOptions, DecisionStep
from hrl_autoscaler.runtime.core.guardrails import GuardrailSettings
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.observation import OBS_NAMES
from hrl_autoscaler.runtime.core.sizing import RateEstimate
from hrl_autoscaler.runtime.core.weights import Weights


class RecordingPolicy:
    def __init__(self, forecast: bool = True) -> None:
        self.forecast = forecast
        self.seen: list[np.ndarray] = []

    def executors(self, obs: np.ndarray) -> int:
        self.seen.append(obs)
        return 10


def _step(policy: RecordingPolicy, actuation: str = "in-place") -> DecisionStep:
    ctx = ControlContext(1, 20, 30.0, actuation)  # type: ignore[arg-type]
    rate = RateEstimate(1000.0, 0.3, SimParams())
    return DecisionStep(policy, GuardrailSettings(), ctx, rate, DecisionOptions(fallback=False))


def _metrics(t: float, rate: float) -> SystemMetrics:
    return SystemMetrics(
        input_rate_eps=rate,
        processing_rate_eps=rate,
        backlog_events=0.0,
        cpu_utilisation=rate / 10_000.0,
        memory_utilisation=0.3,
        latency_ms=600.0,
        executors=10,
        running_executors=10,
        time_s=t,
    )


def _periodic(i: int) -> float:
    return 8000.0 if i % 30 < 3 else 1000.0


def _field(obs: np.ndarray, name: str) -> float:
    return float(obs[OBS_NAMES.index(name)])


def test_the_policy_sees_the_next_wave_before_it_arrives() -> None:
    policy = RecordingPolicy()
    step = _step(policy)
    for i in range(200):
        step.decide(_metrics(30.0 * i, _periodic(i)), Weights.of(1, 1, 1), 3000.0)
    before_waves = [i for i in range(120, 199) if _periodic(i + 1) > _periodic(i)]
    assert before_waves
    for i in before_waves:  # the decision just before a wave
        assert _field(policy.seen[i], "input_rate") < 0.1
        assert _field(policy.seen[i], "forecast_seasonal") > 6 * _field(
            policy.seen[i], "input_rate"
        )
    last = step.decide(_metrics(6000.0, 1000.0), Weights.of(1, 1, 1), 3000.0)
    assert last.anticipation is not None
    assert last.anticipation.period_steps == 30


def test_slo_actuation_and_measured_rate_reach_the_observation() -> None:
    policy = RecordingPolicy()
    _step(policy, "restart").decide(_metrics(30.0, 4000.0), Weights.of(1, 1, 1), 1200.0)
    obs = policy.seen[-1]
    assert _field(obs, "restart") == 1.0
    assert _field(obs, "latency") == np.float32(600.0 / 1200.0)
    assert _field(obs, "slo") == np.float32(1200.0 / 5000.0)
    # 4,000 events/s on 10 executors 40% busy: 1,000 per busy executor -> 4 of 20 needed.
    assert _field(obs, "needed") == np.float32(0.2)


def test_a_policy_trained_without_forecasts_sees_the_load_now_in_their_place() -> None:
    policy = RecordingPolicy(forecast=False)
    step = _step(policy)
    for i in range(120):
        step.decide(_metrics(30.0 * i, _periodic(i)), Weights.of(1, 1, 1), 3000.0)
    for obs in policy.seen:
        assert _field(obs, "forecast_seasonal") == _field(obs, "input_rate")
        assert _field(obs, "forecast_trend") == _field(obs, "input_rate")


def test_the_forecast_keeps_learning_while_the_application_restarts() -> None:
    step = _step(RecordingPolicy())
    restarting = SystemMetrics(
        input_rate_eps=500.0,
        processing_rate_eps=0.0,
        backlog_events=1000.0,
        cpu_utilisation=0.0,
        memory_utilisation=0.0,
        latency_ms=0.0,
        executors=10,
        running_executors=0,
        restarting=True,
    )
    assert step.decide(restarting, Weights.of(1, 1, 1), 2000.0).controller == "hold"
    assert len(step.forecaster) == 1
