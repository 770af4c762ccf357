"""One decision path: ``evaluate``'s ``hrl``/``ppo-fixed``, the operator and training agree.

``hrl`` and ``ppo-fixed`` are the operator's own :class:`Autoscaler` on the simulated cluster,
so evaluation measures what the operator runs; the meta-controller's training environment runs
the same decision step, so it trains on what evaluation measures.
"""

from __future__ import annotations

import numpy as np
import pytest

from hrl_autoscaler.config import EVALUATION, OperatorSettings, SimParams
from hrl_autoscaler.research.baselines.registry import build_controller
from hrl_autoscaler.research.evaluation.pipeline_controller import (
    KEY,
    PipelineController,
    pipeline_controller,
)
from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, episode_load
from hrl_autoscaler.research.sim.meta_env import MetaControllerEnv
from hrl_autoscaler.research.sim.rollout import Trace, rollout
from hrl_autoscaler.research.sim.staged_env import StagedExecutorEnv
from hrl_autoscaler.runtime.core.annotations import PREFIX, WEIGHT_ANNOTATIONS
from hrl_autoscaler.runtime.core.controller import Controller
from hrl_autoscaler.runtime.core.reporting import Reason
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE
from hrl_autoscaler.runtime.policies.artifacts import PPO_DIR, default_policies_dir
from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy

PARAMS = SimParams()


def _episode(scenario: str, steps: int, seed: int) -> tuple[np.ndarray, int]:
    spec = EvaluationSpec(controllers=("ppo-fixed",), scenario=scenario, episode_steps=steps)
    load = episode_load(spec, seed)
    return load, PARAMS.executors_for_rate(float(load[0]), EVALUATION.target_utilisation)


def _run(
    name: str, load: np.ndarray, initial: int, seed: int, slo_ms: float = 2000.0
) -> tuple[Controller, Trace]:
    controller = build_controller(name, "slo", slo_ms)
    trace = rollout(controller, load, PARAMS, FIXED_BASELINE, seed, initial)
    return controller, trace


@pytest.mark.parametrize("name", ["hrl", "ppo-fixed"])
def test_the_rl_controllers_are_the_operator_pipeline(name: str) -> None:
    controller = build_controller(name, "slo", 2000.0)
    assert isinstance(controller, PipelineController)
    assert controller.name == name


def test_ppo_fixed_in_evaluation_decides_as_the_meta_training_environment() -> None:
    """Same load, same seed, weights 1/3 each: evaluation (the whole pipeline) and training
    (the decision step alone) give the identical executor sequence."""
    lower_steps, windows, seed = 20, 6, 3
    load, initial = _episode("flash-crowd", lower_steps * (windows + 1), seed)
    _, trace = _run("ppo-fixed", load, initial, seed)
    env = MetaControllerEnv(
        NumpyPPOPolicy.load(default_policies_dir() / PPO_DIR),
        "slo",
        lower_steps=lower_steps,
        meta_steps=windows,
    )
    _, info = env.reset(
        seed=0,
        options={
            "load": load,
            "initial_executors": initial,
            "weights": FIXED_BASELINE,
            "lower_seed": seed,
            "latency_slo_ms": 2000.0,
        },
    )
    trained = list(info["executors"])
    for _ in range(windows):
        _, _, _, _, info = env.step(np.zeros(3, dtype=np.float32))  # (0,0,0) -> 1/3 each
        trained += info["executors"]
    assert trained == [int(n) for n in trace.executors]
    assert len(set(trained)) > 1, "the episode must make the policy move"


def test_the_staged_training_environment_decides_as_ppo_fixed_in_evaluation() -> None:
    """The staged PPO environment, fed the committed policy's answer to its observation,
    applies the executor counts evaluation's ``ppo-fixed`` applies: its observation is the one
    the decision step shows the policy, and its targets are the pipeline's."""
    steps, seed = 120, 3
    load, initial = _episode("flash-crowd", steps, seed)
    _, trace = _run("ppo-fixed", load, initial, seed)
    policy = NumpyPPOPolicy.load(default_policies_dir() / PPO_DIR)
    env = StagedExecutorEnv(objective="slo")
    options = {"load": load, "initial_executors": initial, "weights": FIXED_BASELINE}
    obs, _ = env.reset(seed=seed, options={**options, "latency_slo_ms": 2000.0})
    applied, moved_by_stages, asked = [], 0, 0
    for _ in range(steps):
        proposal = policy.executors(obs)
        shown, (obs, _, _, _, info) = obs, env.step(proposal - PARAMS.min_executors)
        if info["policy_observation"] is not None:
            np.testing.assert_array_equal(info["policy_observation"], shown)
            asked += 1
        decision = info["decision"]
        applied.append(decision.target)
        moved_by_stages += decision.target != proposal
    assert applied == [int(n) for n in trace.executors]
    assert len(set(applied)) > 1, "the episode must make the policy move"
    assert moved_by_stages > 0, "the stages must act on some proposals, or this tests nothing"
    assert asked > steps // 2


def test_hrl_writes_meta_weights_through_the_annotations_at_the_meta_interval() -> None:
    steps, seed = 120, 1
    load, initial = _episode("smart-hospital", steps, seed)
    controller, trace = _run("hrl", load, initial, seed)
    assert isinstance(controller, PipelineController)
    interval_steps = round(OperatorSettings.built_in().meta_interval_s / PARAMS.decision_interval_s)
    # the first window starts at the first cycle, so updates come every interval after it
    assert controller.actuator.weights_written == (steps - 1) // interval_steps
    assert (
        controller.events.reasons[Reason.WEIGHTS_UPDATED.value]
        == controller.actuator.weights_written
    )
    annotations = controller.app.snapshot().annotations
    assert all(a in annotations for a in WEIGHT_ANNOTATIONS)
    assert annotations[PREFIX + "weight-policy"] == "meta"
    # the trace records the weights in force, which the meta-controller moved
    assert len({tuple(w) for w in trace.weights.round(3)}) > 1


def test_ppo_fixed_never_touches_the_weights() -> None:
    load, initial = _episode("smart-hospital", 80, 2)
    controller, trace = _run("ppo-fixed", load, initial, 2)
    assert isinstance(controller, PipelineController)
    assert controller.actuator.weights_written == 0
    np.testing.assert_allclose(trace.weights, np.full_like(trace.weights, 1 / 3), atol=1e-9)


def test_restart_actuation_holds_while_the_application_restarts() -> None:
    """The Spark Operator reports the resubmitted application as not running; the pipeline
    holds (no second restart during the first), as the operator does on a cluster. The quiet
    tail outlasts the restart hold's window (120 decisions), so the step down comes too."""
    params = PARAMS.with_overrides(actuation="restart")
    load = np.r_[np.full(40, 2000.0), np.full(80, 12000.0), np.full(160, 1500.0)]
    controller = pipeline_controller("ppo-fixed", "slo", 2000.0)
    trace = rollout(controller, load, params, FIXED_BASELINE, 4, 4)
    restart_steps = int(np.ceil(params.restart_downtime_s / params.decision_interval_s))
    changes = np.flatnonzero(np.diff(trace.executors.astype(int)) != 0) + 1
    assert changes.size >= 2, "the load step up and down must move the executors"
    assert trace.restarts == changes.size
    assert np.all(np.diff(changes) > restart_steps)
    cooldown_steps = (
        OperatorSettings.built_in().guardrails.restart_cooldown_s / params.decision_interval_s
    )
    assert np.all(np.diff(changes) >= cooldown_steps)


def test_the_simulated_application_is_a_sparkapplication_the_operator_can_read() -> None:
    load, initial = _episode("steady", 10, 0)
    controller, _ = _run("ppo-fixed", load, initial, 0)
    assert isinstance(controller, PipelineController)
    snapshot = controller.app.snapshot()
    assert snapshot.key == KEY
    assert snapshot.enabled
    assert snapshot.running
    runtime = controller.autoscaler.runtime(KEY) if controller.autoscaler else None
    assert runtime is not None
    assert runtime.active_settings.latency_slo_ms == 2000.0
    assert runtime.active_settings.actuation == "in-place"
