"""Physical sanity of the cluster model: capacity, latency, cost, conservation, delays."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.cluster import ClusterModel
from hrl_autoscaler.runtime.core.latency import erlang_c, mean_wait_s


def _settle(params: SimParams, executors: int, load: float, steps: int = 10) -> tuple[float, float]:
    cluster = ClusterModel(params)
    cluster.reset(executors)
    for _ in range(steps):
        outcome = cluster.advance(load, params.decision_interval_s)
    return outcome.latency_ms, outcome.cost_per_hour


def test_more_executors_give_lower_latency_and_higher_cost_at_fixed_load() -> None:
    params = SimParams()
    results = [_settle(params, n, 5000.0) for n in range(6, 21)]
    latencies = [r[0] for r in results]
    costs = [r[1] for r in results]
    assert all(a > b for a, b in itertools.pairwise(latencies))
    assert all(a < b for a, b in itertools.pairwise(costs))


def test_twenty_executors_cost_the_seeds_9_80_per_hour() -> None:
    assert _settle(SimParams(), 20, 1000.0)[1] == pytest.approx(9.80)


def test_capacity_is_sub_linear() -> None:
    p = SimParams()
    assert p.capacity_eps(10) < 10 * p.capacity_eps(1)
    per_executor = [p.capacity_eps(n) / n for n in range(1, 21)]
    assert all(a > b for a, b in itertools.pairwise(per_executor))


def test_latency_grows_sharply_near_saturation() -> None:
    waits = [mean_wait_s(10, rho, 0.25) for rho in (0.5, 0.8, 0.95, 0.99)]
    assert waits[1] > 3 * waits[0]
    assert waits[3] > 4 * waits[2]
    assert erlang_c(10, 0.0) == 0.0
    assert erlang_c(10, 12.0) == 1.0


@pytest.mark.parametrize("actuation", ["in-place", "restart"])
def test_events_are_conserved(actuation: str) -> None:
    params = SimParams(actuation=actuation)  # type: ignore[arg-type]
    cluster = ClusterModel(params)
    cluster.reset(3)
    rng = np.random.default_rng(0)
    arrived = processed = 0.0
    for step in range(300):
        if step % 7 == 0:
            cluster.set_target(int(rng.integers(1, 21)))
        outcome = cluster.advance(float(rng.uniform(0, 12000)), 30.0, float(rng.uniform(0.9, 1.1)))
        assert outcome.backlog_before + outcome.arrived == pytest.approx(
            outcome.processed + outcome.backlog_after
        )
        arrived += outcome.arrived
        processed += outcome.processed
    assert arrived == pytest.approx(processed + cluster.backlog)


def test_overload_builds_a_backlog_that_drains_after_scale_out() -> None:
    params = SimParams()
    cluster = ClusterModel(params)
    cluster.reset(2)
    for _ in range(5):
        cluster.advance(5000.0, 30.0)
    assert cluster.backlog > 0
    cluster.set_target(20)
    for _ in range(20):
        outcome = cluster.advance(5000.0, 30.0)
    assert outcome.backlog_after == 0.0


def test_in_place_scale_up_waits_for_the_start_up_delay() -> None:
    params = SimParams(actuation="in-place", startup_delay_s=45.0)
    cluster = ClusterModel(params)
    cluster.reset(4)
    cluster.set_target(10)
    first = cluster.advance(1000.0, 30.0)
    second = cluster.advance(1000.0, 30.0)
    assert (first.running_executors, first.executors) == (4, 10)
    assert second.running_executors == 10
    assert cluster.restarts == 0


def test_in_place_scale_down_is_immediate_and_cancels_starting_executors_first() -> None:
    cluster = ClusterModel(SimParams(actuation="in-place"))
    cluster.reset(4)
    cluster.set_target(10)
    cluster.set_target(6)
    outcome = cluster.advance(1000.0, 30.0)
    assert outcome.running_executors == 4
    outcome = cluster.advance(1000.0, 30.0)
    assert outcome.running_executors == 6
    cluster.set_target(2)
    assert cluster.advance(1000.0, 30.0).running_executors == 2


def test_restart_actuation_stops_processing_for_the_downtime() -> None:
    params = SimParams(actuation="restart", restart_downtime_s=90.0)
    cluster = ClusterModel(params)
    cluster.reset(5)
    cluster.advance(2000.0, 30.0)
    cluster.set_target(8)
    outcomes = [cluster.advance(2000.0, 30.0) for _ in range(4)]
    assert [o.processed for o in outcomes[:3]] == [0.0, 0.0, 0.0]
    assert [o.restarting for o in outcomes] == [True, True, False, False]
    assert outcomes[3].running_executors == 8
    assert outcomes[0].latency_ms > outcomes[3].latency_ms
    assert cluster.restarts == 1


def test_setting_the_same_count_is_not_a_scaling_action() -> None:
    cluster = ClusterModel(SimParams(actuation="restart"))
    cluster.reset(5)
    assert cluster.set_target(5) is False
    assert cluster.restarts == 0
    assert cluster.scaling_actions == 0


def test_targets_are_clamped_to_the_bounds() -> None:
    cluster = ClusterModel(SimParams())
    cluster.reset(5)
    cluster.set_target(99)
    assert cluster.target == 20
    cluster.set_target(-3)
    assert cluster.target == 1
