"""Each baseline's response to a load step, and the oracle as an upper bound."""

from __future__ import annotations

import numpy as np
import pytest

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.baselines.ds2 import DS2Controller
from hrl_autoscaler.research.baselines.hpa import HPAController
from hrl_autoscaler.research.baselines.oracle import OracleController
from hrl_autoscaler.research.baselines.registry import build_controller, parse_controllers
from hrl_autoscaler.research.baselines.spark_da import SparkDynamicAllocationController
from hrl_autoscaler.research.baselines.static import StaticController
from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, episode_load
from hrl_autoscaler.research.sim.rollout import rollout
from hrl_autoscaler.research.sim.workloads import SCENARIOS
from hrl_autoscaler.runtime.core.controller import Controller
from hrl_autoscaler.runtime.core.objectives import episode_score
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

PARAMS = SimParams()
LOW, HIGH = 2000.0, 9000.0


def _step_load(up_at: int = 20, down_at: int = 60, steps: int = 100) -> np.ndarray:
    load = np.full(steps, LOW)
    load[up_at:down_at] = HIGH
    return load


def _executors(controller: Controller, load: np.ndarray, initial: int = 3) -> np.ndarray:
    return rollout(
        controller, load, PARAMS, FIXED_BASELINE, seed=0, initial_executors=initial
    ).executors


def test_static_never_moves() -> None:
    assert set(_executors(StaticController(7), _step_load()).tolist()) == {7}
    assert set(_executors(StaticController(None), _step_load()).tolist()) == {20}


@pytest.mark.parametrize(
    ("controller", "up_within"),
    [(HPAController(), 6), (DS2Controller(), 3), (SparkDynamicAllocationController(), 6)],
)
def test_reactive_baselines_scale_out_after_a_load_step(
    controller: Controller, up_within: int
) -> None:
    executors = _executors(controller, _step_load())
    needed = PARAMS.executors_for_rate(HIGH, utilisation=1.0)
    assert executors[19] < needed
    assert executors[20 + up_within] >= needed


def test_hpa_scale_down_waits_for_its_stabilisation_window() -> None:
    executors = _executors(HPAController(), _step_load())
    assert executors[61] == executors[59]  # 300 s window = 10 decisions: still high right after
    assert executors[-1] < executors[59]


def test_ds2_scales_back_in_after_the_drop() -> None:
    executors = _executors(DS2Controller(), _step_load())
    assert executors[-1] <= PARAMS.executors_for_rate(LOW, utilisation=0.5)
    assert executors[-1] < executors[59]


def test_spark_dynamic_allocation_doubles_its_ramp_and_removes_idle_executors() -> None:
    executors = _executors(SparkDynamicAllocationController(), _step_load(), initial=2)
    increments = np.diff(executors[20:30].astype(int))
    ups = [int(i) for i in increments if i > 0]
    assert ups[:4] == [1, 2, 4, 8]
    assert executors[-1] < executors[59]


def test_registry_names_errors_and_static_pattern() -> None:
    assert build_controller("static-4", "slo", 1000.0).name == "static-4"
    assert parse_controllers("hpa, ds2") == ["hpa", "ds2"]
    with pytest.raises(ValueError, match="accepted values: static-N"):
        build_controller("k8s-magic", "slo", 1000.0)
    with pytest.raises(ValueError, match="twice"):
        parse_controllers("hpa,hpa")


@pytest.mark.parametrize("objective", ["slo", "r_meta"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_oracle_scores_at_least_as_well_as_every_baseline(objective: str, scenario: str) -> None:
    spec = EvaluationSpec(
        controllers=("oracle",), scenario=scenario, episode_steps=960, objective=objective
    )
    for seed in range(2):
        load = episode_load(spec, seed)
        initial = PARAMS.executors_for_rate(float(load[0]))

        def score(
            c: Controller, load: np.ndarray = load, initial: int = initial, seed: int = seed
        ) -> float:
            tr = rollout(c, load, PARAMS, FIXED_BASELINE, seed, initial)
            return episode_score(
                objective, tr.latency_ms, tr.cost_per_hour, spec.slo_ms, PARAMS.max_cost_per_hour
            )

        oracle = OracleController(objective, spec.slo_ms)
        oracle.prepare(load, PARAMS, FIXED_BASELINE, seed, initial)
        best_oracle = score(oracle)
        for name in ("static-max", "static-8", "hpa", "spark-da", "ds2"):
            assert best_oracle >= score(build_controller(name, objective, spec.slo_ms)), (
                name,
                seed,
            )


def test_oracle_refuses_to_run_unprepared() -> None:
    with pytest.raises(RuntimeError, match="prepare"):
        OracleController().reset(None)  # type: ignore[arg-type]
