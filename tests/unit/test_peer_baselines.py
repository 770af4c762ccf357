"""The peers' autoscalers: Flink Kubernetes Operator's and Spark's DStreams allocator.

Step responses on scripted metrics (a tiny plant with linear capacity, executors ready at
once), then one simulated episode each through the evaluation's ``run_one``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from hrl_autoscaler.research.baselines.flink import FlinkAutoscalerController, FlinkSettings
from hrl_autoscaler.research.baselines.registry import (
    accepted_names,
    build_controller,
    parse_controllers,
)
from hrl_autoscaler.research.baselines.spark_streaming_da import (
    SparkStreamingAllocationController,
    batch_ratio,
)
from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, run_one
from hrl_autoscaler.runtime.core.controller import ControlContext, Controller
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

DT = 30.0
RATE = 1000.0  # events/s of one executor in the scripted plant
CTX = ControlContext(
    min_executors=1, max_executors=20, decision_interval_s=DT, actuation="in-place"
)
FLINK = FlinkSettings()
STABLE_STEPS = round(FLINK.stabilisation_s / DT)  # 10
WINDOW_STEPS = round(FLINK.metrics_window_s / DT)  # 30
DOWN_STEPS = round(FLINK.scale_down_interval_s / DT)  # 120


def metrics(
    t: float,
    input_eps: float,
    executors: int,
    backlog: float = 0.0,
    capacity_eps: float | None = None,
    restarting: bool = False,
) -> SystemMetrics:
    """One interval of a job whose executors each process RATE events/s (or a fixed capacity)."""
    capacity = executors * RATE if capacity_eps is None else capacity_eps
    processed = 0.0 if restarting else min(input_eps + backlog / DT, capacity)
    return SystemMetrics(
        input_rate_eps=input_eps,
        processing_rate_eps=processed,
        backlog_events=backlog,
        cpu_utilisation=processed / capacity if not restarting else 0.0,
        memory_utilisation=0.5,
        latency_ms=1000.0,
        executors=executors,
        running_executors=0 if restarting else executors,
        restarting=restarting,
        time_s=t,
    )


@dataclass
class Plant:
    """Closed loop: the controller's count applies at once; the backlog integrates."""

    controller: Controller
    executors: int
    ctx: ControlContext = CTX
    capacity_eps: Callable[[int], float] | None = None
    backlog: float = 0.0
    t: float = 0.0
    history: list[tuple[float, float, int]] = field(default_factory=list)
    """(input, backlog seen, executors decided) per step."""

    def __post_init__(self) -> None:
        self.controller.reset(self.ctx)

    def step(self, input_eps: float) -> int:
        self.t += DT
        n = self.executors
        capacity = n * RATE if self.capacity_eps is None else self.capacity_eps(n)
        processed = min(input_eps + self.backlog / DT, capacity)
        self.backlog = max(self.backlog + (input_eps - processed) * DT, 0.0)
        m = SystemMetrics(
            input_rate_eps=input_eps,
            processing_rate_eps=processed,
            backlog_events=self.backlog,
            cpu_utilisation=processed / capacity,
            memory_utilisation=0.5,
            latency_ms=1000.0,
            executors=n,
            running_executors=n,
            time_s=self.t,
        )
        decided = self.controller.decide(m, FIXED_BASELINE)
        assert self.ctx.min_executors <= decided <= self.ctx.max_executors
        self.history.append((input_eps, self.backlog, decided))
        self.executors = decided
        return decided

    def run(self, input_eps: float, steps: int) -> list[int]:
        return [self.step(input_eps) for _ in range(steps)]


def changes(counts: list[int]) -> list[int]:
    """Indices where the count differs from the one before."""
    return [i for i in range(1, len(counts)) if counts[i] != counts[i - 1]]


def ds2_size(input_eps: float, lag: float, per_executor_eps: float = RATE) -> int:
    """Flink's DS2 size at the target utilisation, computed here independently."""
    s = FLINK
    needed = lag / s.catch_up_s + input_eps * s.restart_time_s / s.catch_up_s
    needed += input_eps / s.target_utilisation
    return math.ceil(needed / per_executor_eps - 1e-9)


# --- flink: collection, band and step up ---------------------------------------------------


def test_flink_waits_for_stabilisation_and_a_full_window_before_any_decision() -> None:
    plant = Plant(FlinkAutoscalerController(), executors=2)
    counts = plant.run(6000.0, STABLE_STEPS + WINDOW_STEPS)  # overloaded from the start
    assert set(counts[:-1]) == {2}
    assert counts[-1] > 2  # the first decision, once the window is full


@pytest.mark.parametrize("input_eps", [1700.0, 2800.0, 3900.0])
def test_flink_changes_nothing_inside_the_utilisation_band(input_eps: float) -> None:
    # 4 executors busy 42%..98%: inside [utilization.min 0.4, utilization.max 1.0].
    plant = Plant(FlinkAutoscalerController(), executors=4)
    assert set(plant.run(input_eps, 300)) == {4}


def test_flink_scales_up_to_the_ds2_size_and_holds_through_stabilisation() -> None:
    plant = Plant(FlinkAutoscalerController(), executors=4)
    assert set(plant.run(2000.0, STABLE_STEPS + WINDOW_STEPS + 5)) == {4}
    before = len(plant.history)
    counts = plant.run(6000.0, 120)
    first = changes([4, *counts])[0] - 1
    # What Flink sizes with: the window's average input and the latest lag.
    at = before + first
    window = [inp for inp, _, _ in plant.history[at - WINDOW_STEPS + 1 : at + 1]]
    expected = ds2_size(sum(window) / WINDOW_STEPS, plant.history[at][1])
    assert counts[first] == expected > 6  # above the load's bare need: at target utilisation
    # Held through stabilisation and the next window, whatever the metrics say meanwhile.
    assert set(counts[first : first + STABLE_STEPS + WINDOW_STEPS]) == {expected}


def test_flink_scale_up_is_not_capped_by_default() -> None:
    plant = Plant(FlinkAutoscalerController(), executors=1)
    counts = plant.run(12_000.0, STABLE_STEPS + WINDOW_STEPS)
    assert counts[-1] == 20  # 1 -> max in one decision: scale-up.max-factor is 100000


# --- flink: scale-down ------------------------------------------------------------------------


def test_flink_scales_down_only_after_the_interval_and_by_at_most_the_max_factor() -> None:
    plant = Plant(FlinkAutoscalerController(), executors=20)
    counts = plant.run(2000.0, STABLE_STEPS + WINDOW_STEPS + DOWN_STEPS + 5)
    first_proposal = STABLE_STEPS + WINDOW_STEPS - 1
    assert set(counts[: first_proposal + DOWN_STEPS]) == {20}  # a whole interval of waiting
    assert counts[first_proposal + DOWN_STEPS] == math.ceil(20 * (1 - FLINK.scale_down_max_factor))
    later = plant.run(2000.0, STABLE_STEPS + WINDOW_STEPS + DOWN_STEPS + 5)
    assert later[-1] == max(math.ceil(8 * 0.4), ds2_size(2000.0, 0.0)) == 4


def test_flink_scale_down_takes_the_highest_proposal_of_the_interval() -> None:
    plant = Plant(FlinkAutoscalerController(), executors=20)
    plant.run(2000.0, STABLE_STEPS + WINDOW_STEPS)  # proposing 8 (capped at 0.4 x 20)
    plant.run(6000.0, 60)  # still over-provisioned, but proposing ceil(9.57) = 10
    counts = plant.run(2000.0, DOWN_STEPS)
    down = [c for c in counts if c < 20]
    assert down
    assert down[0] == ds2_size(6000.0, 0.0) == 10


def test_flink_pending_scale_down_is_dropped_when_the_load_returns_to_the_band() -> None:
    plant = Plant(FlinkAutoscalerController(), executors=10)
    plant.run(2000.0, STABLE_STEPS + WINDOW_STEPS + DOWN_STEPS // 2)  # 20% busy: pending
    plant.run(6000.0, WINDOW_STEPS)  # 60% busy: back in the band, the pending one is dropped
    # Without the drop it would fire 30 steps into this phase; a fresh interval starts once the
    # window's average falls out of the band again, so nothing happens for a whole interval.
    assert set(plant.run(2000.0, DOWN_STEPS)) == {10}
    assert plant.run(2000.0, WINDOW_STEPS)[-1] < 10


def test_flink_does_not_scale_down_while_processing_backlog() -> None:
    ctrl = FlinkAutoscalerController()
    ctrl.reset(CTX)
    t = 0.0
    out = set()
    for _ in range(STABLE_STEPS + WINDOW_STEPS + DOWN_STEPS + 5):
        t += DT
        # Plenty of capacity, but a lag worth 10 minutes of input: catching up, no scale-down.
        out.add(ctrl.decide(metrics(t, 1000.0, 20, backlog=600_000.0), FIXED_BASELINE))
    assert out == {20}


# --- flink: ineffective scaling ---------------------------------------------------------------


def _bottlenecked(detection: bool) -> tuple[Plant, list[int]]:
    """Capacity stuck at 4000 events/s whatever the count (an external sink, say)."""
    settings = FlinkSettings(effectiveness_detection=detection)
    plant = Plant(FlinkAutoscalerController(settings), executors=4, capacity_eps=lambda _n: 4000.0)
    return plant, plant.run(6000.0, 6 * (STABLE_STEPS + WINDOW_STEPS))


def test_flink_blocks_scale_ups_after_an_ineffective_one_until_the_load_changes() -> None:
    plant, counts = _bottlenecked(detection=True)
    controller = plant.controller
    assert isinstance(controller, FlinkAutoscalerController)
    assert len(changes([4, *counts])) == 1  # one scale-up, then blocked
    assert controller.ineffective_scalings == 1
    blocked_at = counts[-1]
    assert blocked_at < 20
    # The load changes materially (+50%): the block lifts and Flink scales up again.
    more = plant.run(9000.0, 2 * (STABLE_STEPS + WINDOW_STEPS))
    assert max(more) > blocked_at


def test_flink_keeps_scaling_up_without_detection_its_default() -> None:
    plant, counts = _bottlenecked(detection=False)
    controller = plant.controller
    assert isinstance(controller, FlinkAutoscalerController)
    assert len(changes([4, *counts])) >= 2
    assert controller.ineffective_scalings == 0


# --- spark-streaming-da -----------------------------------------------------------------------


def test_batch_ratio_is_the_busy_fraction_without_backlog_and_demand_over_capacity_when_over() -> (
    None
):
    assert batch_ratio(metrics(30.0, 2000.0, 4)) == pytest.approx(0.5)
    assert batch_ratio(metrics(30.0, 6000.0, 4)) == pytest.approx(1.5)
    assert batch_ratio(metrics(30.0, 6000.0, 4, restarting=True)) is None


def _spark_decisions(
    ctx: ControlContext, executors: int, input_eps: float, steps: int
) -> list[int]:
    """Open loop on scripted metrics that follow the controller's count."""
    ctrl = SparkStreamingAllocationController()
    ctrl.reset(ctx)
    out = []
    for k in range(1, steps + 1):
        executors = ctrl.decide(metrics(k * DT, input_eps, executors), FIXED_BASELINE)
        assert ctx.min_executors <= executors <= ctx.max_executors
        out.append(executors)
    return out


@pytest.mark.parametrize(("input_eps", "added"), [(3800.0, 1), (6400.0, 2), (10_000.0, 3)])
def test_spark_streaming_adds_round_ratio_executors_only_every_scaling_interval(
    input_eps: float, added: int
) -> None:
    # 4 executors: ratios 0.95, 1.6, 2.5 -> max(round(r), 1) = 1, 2, 3 (2.5 rounds half up).
    counts = _spark_decisions(CTX, 4, input_eps, 2)
    assert counts == [4, 4 + added]  # nothing at 30 s, the tick at 60 s


def test_spark_streaming_holds_between_ticks_even_under_overload() -> None:
    counts = _spark_decisions(CTX, 2, 20_000.0, 8)  # ticks at 60, 120, ... = odd indices
    assert counts[0] == 2
    assert all(counts[i] == counts[i - 1] for i in range(2, len(counts), 2))
    ticks = counts[1::2]
    assert all(b > a for a, b in itertools.pairwise(ticks) if a < 20)


def test_spark_streaming_removes_one_executor_per_interval_at_a_low_ratio() -> None:
    counts = _spark_decisions(CTX, 10, 1000.0, 8)  # ratio 0.1 .. 0.14
    assert counts == [10, 9, 9, 8, 8, 7, 7, 6]


def test_spark_streaming_holds_between_the_ratios() -> None:
    assert set(_spark_decisions(CTX, 10, 5000.0, 20)) == {10}  # ratio 0.5


def test_spark_streaming_never_leaves_the_bounds() -> None:
    ctx = ControlContext(
        min_executors=3, max_executors=6, decision_interval_s=DT, actuation="in-place"
    )
    assert _spark_decisions(ctx, 5, 100_000.0, 10)[-1] == 6
    assert _spark_decisions(ctx, 5, 10.0, 20)[-1] == 3


def test_spark_streaming_does_nothing_without_completed_batches() -> None:
    ctrl = SparkStreamingAllocationController()
    ctrl.reset(CTX)
    for k in range(1, 7):
        assert ctrl.decide(metrics(k * DT, 9000.0, 4, restarting=True), FIXED_BASELINE) == 4


# --- registry and end to end --------------------------------------------------------------------


def test_peer_baselines_are_registered() -> None:
    assert {"flink", "spark-streaming-da"} <= set(accepted_names())
    assert parse_controllers("flink,spark-streaming-da") == ["flink", "spark-streaming-da"]
    assert build_controller("flink", "slo", 1000.0).name == "flink"
    assert build_controller("spark-streaming-da", "slo", 1000.0).name == "spark-streaming-da"


@pytest.mark.parametrize(
    ("name", "max_scalings_per_hour"),
    [
        # One rescale per stabilisation + window (20 min) at most.
        ("flink", 3600.0 / (FLINK.stabilisation_s + FLINK.metrics_window_s)),
        ("spark-streaming-da", 60.0),  # one per 60 s scaling interval at most
    ],
)
def test_peer_baselines_run_an_episode(name: str, max_scalings_per_hour: float) -> None:
    spec = EvaluationSpec(controllers=(name,), scenario="flash-crowd", seeds=1, episode_steps=960)
    summary, trace = run_one(spec, name, seed=0)
    p = spec.params
    assert p.min_executors <= trace.executors.min() <= trace.executors.max() <= p.max_executors
    assert trace.executors.max() > trace.executors[0]  # it reacted to the surge
    assert 0.0 < summary.scaling_actions_per_hour <= max_scalings_per_hour
    assert 0.0 <= summary.attainment <= 1.0
    assert summary.cost_per_hour <= p.max_cost_per_hour
