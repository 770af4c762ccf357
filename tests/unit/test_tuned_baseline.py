"""The ``tuned`` rule-based baseline: step responses on scripted metrics (a tiny plant with
linear capacity, executors ready at once unless said otherwise), its registration, and that its
committed defaults are the tuning run's winner."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from hrl_autoscaler.research.baselines import tuned as tuned_module
from hrl_autoscaler.research.baselines.registry import accepted_names, build_controller
from hrl_autoscaler.research.baselines.tuned import TunedController, TunedSettings
from hrl_autoscaler.research.evaluation.ablation import BASELINES
from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, run_one
from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

ROOT = Path(__file__).resolve().parents[2]
TUNING_JSON = ROOT / "docs" / "tuned-baseline.json"
DT = 30.0
RATE = 1000.0  # events/s of one executor in the scripted plant
SLO_MS = 2000.0
CTX = ControlContext(
    min_executors=1, max_executors=20, decision_interval_s=DT, actuation="in-place"
)
#: Explicit settings, so the step responses do not move when the tuned defaults do.
RULE = TunedSettings(
    target_utilisation=0.6,
    up_utilisation=0.8,
    up_latency_slo_fraction=0.8,
    catch_up_s=120.0,
    lookahead_steps=0.0,
    down_confirmations=4,
    down_max_step=2,
    cooldown_s=0.0,
)


def sized(input_eps: float, backlog: float, s: TunedSettings = RULE) -> int:
    """The rule's size, computed here independently (no rise in the input)."""
    return math.ceil((input_eps / s.target_utilisation + backlog / s.catch_up_s) / RATE - 1e-9)


@dataclass
class Plant:
    """Closed loop: the count applies at once; the backlog integrates; latency is scripted."""

    controller: TunedController
    executors: int
    backlog: float = 0.0
    t: float = 0.0
    latency_ms: float = 500.0
    starting: int = 0
    """Executors of the current count not yet running (they never start in this plant)."""
    history: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.controller.reset(CTX)

    def step(self, input_eps: float) -> int:
        self.t += DT
        n = self.executors
        running = n - self.starting
        capacity = running * RATE
        processed = min(input_eps + self.backlog / DT, capacity)
        self.backlog = max(self.backlog + (input_eps - processed) * DT, 0.0)
        m = SystemMetrics(
            input_rate_eps=input_eps,
            processing_rate_eps=processed,
            backlog_events=self.backlog,
            cpu_utilisation=processed / capacity,
            memory_utilisation=0.5,
            latency_ms=self.latency_ms,
            executors=n,
            running_executors=running,
            time_s=self.t,
        )
        decided = self.controller.decide(m, FIXED_BASELINE)
        assert CTX.min_executors <= decided <= CTX.max_executors
        self.history.append(decided)
        self.executors = decided
        return decided

    def run(self, input_eps: float, steps: int) -> list[int]:
        return [self.step(input_eps) for _ in range(steps)]


def test_a_load_step_up_scales_up_at_once_to_the_sized_count() -> None:
    plant = Plant(TunedController(SLO_MS, RULE), executors=4)
    assert set(plant.run(2000.0, 10)) == {4}  # busy 50%: no pressure, nothing lower proposed
    # 6000 events/s on 4 executors: busy 100%, 60,000 events behind after one interval.
    decided = plant.step(6000.0)
    assert decided == sized(6000.0, 2000.0 * DT) == 11
    assert set(plant.run(6000.0, 5)) <= {11, 10}  # the backlog drains; no oscillation upwards


def test_the_lookahead_adds_the_inputs_latest_rise() -> None:
    rule = TunedSettings(**{**asdict(RULE), "lookahead_steps": 1.0})
    plant = Plant(TunedController(SLO_MS, rule), executors=10)
    plant.run(5000.0, 3)
    decided = plant.step(7000.0)  # busy 70%, not pressure: the rise alone does not scale
    assert decided == 10
    decided = plant.step(8500.0)  # busy 85%: pressure; demand 8500 + 1500
    assert decided == math.ceil((8500.0 + 1500.0) / 0.6 / RATE - 1e-9) == 17


def test_a_drop_scales_down_after_the_confirmations_by_the_bounded_step() -> None:
    plant = Plant(TunedController(SLO_MS, RULE), executors=10)
    assert set(plant.run(6000.0, 5)) == {10}  # busy 60%: the sized count
    counts = plant.run(2000.0, 12)  # sized: 4
    n = RULE.down_confirmations
    assert counts[: n - 1] == [10] * (n - 1)
    assert counts[n - 1 : 2 * n - 1] == [8] * n  # then N fresh confirmations for each step
    assert counts[2 * n - 1 : 3 * n - 1] == [6] * n
    assert counts[3 * n - 1] == 4 == sized(2000.0, 0.0)
    assert set(plant.run(2000.0, 20)) == {4}


def test_pressure_clears_the_pending_confirmations() -> None:
    plant = Plant(TunedController(SLO_MS, RULE), executors=10)
    plant.run(2000.0, RULE.down_confirmations - 1)  # one short of a scale-down
    plant.latency_ms = 0.9 * SLO_MS  # slow for one interval: pressure, +1
    assert plant.step(2000.0) == 11
    plant.latency_ms = 500.0
    counts = plant.run(2000.0, RULE.down_confirmations)
    assert counts == [11] * (RULE.down_confirmations - 1) + [9]


def test_a_scale_down_waits_for_the_cooldown_after_any_change() -> None:
    rule = TunedSettings(**{**asdict(RULE), "cooldown_s": 10 * DT, "down_confirmations": 2})
    plant = Plant(TunedController(SLO_MS, rule), executors=4)
    plant.run(2000.0, 3)
    assert plant.step(6000.0) == 11  # the change the cooldown counts from (t = 120 s)
    counts = plant.run(2000.0, 25)
    first_down = next(i for i, c in enumerate(counts) if c < 11)
    assert first_down == 9  # 10 intervals after the change, the confirmations long since met
    assert counts[first_down] == 11 - rule.down_max_step
    # ... and the next one waits for the cooldown again, though confirmed after two.
    assert counts[first_down + 1 : first_down + 10] == [9] * 9
    assert counts[first_down + 10 :] == [7] * (len(counts) - first_down - 10)


def test_latency_over_the_slo_fraction_adds_one_executor_unless_executors_are_starting() -> None:
    plant = Plant(TunedController(SLO_MS, RULE), executors=10, latency_ms=0.85 * SLO_MS)
    assert plant.step(5000.0) == 11  # busy 50%, sized 9, but slow: one more
    plant = Plant(TunedController(SLO_MS, RULE), executors=10, latency_ms=0.85 * SLO_MS)
    plant.starting = 2  # 8 running: the two starting ones will help
    assert plant.step(4000.0) == 10


def test_the_counts_stay_within_the_bounds() -> None:
    plant = Plant(TunedController(SLO_MS, RULE), executors=10)
    assert plant.run(1e6, 3) == [20, 20, 20]
    plant = Plant(TunedController(SLO_MS, RULE), executors=3)
    plant.run(1500.0, 2)  # measured; near idle the last measurement sizes (busy < 0.5 executor)
    assert plant.run(10.0, 40)[-1] == 1


def test_it_holds_without_a_measurement() -> None:
    c = TunedController(SLO_MS, RULE)
    c.reset(CTX)
    restarting = SystemMetrics(6000.0, 0.0, 1e5, 0.0, 0.5, 9000.0, 4, 0, True, 30.0)
    assert c.decide(restarting, FIXED_BASELINE) == 4
    idle = SystemMetrics(0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 4, 4, False, 60.0)
    assert c.decide(idle, FIXED_BASELINE) == 4  # nothing processed yet: no true rate


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="target_utilisation"):
        TunedSettings(target_utilisation=0.0)
    with pytest.raises(ValueError, match="down_confirmations"):
        TunedSettings(down_confirmations=0)


def test_tuned_is_registered_with_the_scenarios_slo_and_among_the_ablations_baselines() -> None:
    assert "tuned" in accepted_names()
    assert "tuned" in BASELINES
    c = build_controller("tuned", "slo", 1500.0)
    assert isinstance(c, TunedController)
    assert c.latency_slo_ms == 1500.0
    assert c.settings == TunedSettings()


def test_one_simulated_episode() -> None:
    spec = EvaluationSpec(controllers=("tuned",), scenario="flash-crowd", episode_steps=240)
    summary, trace = run_one(spec, "tuned", 0)
    assert trace.executors.min() >= 1
    assert trace.executors.max() <= 20
    assert math.isfinite(summary.slo_score)


def test_the_committed_defaults_are_the_tuning_runs_winner() -> None:
    tuning = json.loads(TUNING_JSON.read_text())
    assert tuning["winner"]["settings"] == asdict(TunedSettings())
    assert tuning["objective"] == "slo"
    seeds = set(tuning["validation"]["seeds"])
    assert not seeds & {0, 1, 2, 3, 4, 100, 101, 102}  # neither test nor selection seeds
    doc = tuned_module.__doc__ or ""
    assert "bench/tune_rule.py" in doc
    assert "docs/tuned-baseline.json" in doc
    readme = (ROOT / "README.md").read_text()
    assert "bench/tune_rule.py" in readme
