"""One fleet run: N simulated applications, one operator ``Autoscaler``, one ExecutorBudget.

Every step is what production does every cycle: each application's last interval becomes its
Prometheus sample, the watch delivers every object, the operator runs one cycle (the budget's
slow step when due, each application's fast decision clamped to its cap, scale-downs written
before scale-ups, the gate admitting scale-ups into the headroom), and the data plane applies
the targets the objects now carry to each application's cluster model. After the operator's
cycle and before the data plane moves, the sum of the written targets is checked against the
budget: an exceedance at any step is a bug in the deployed path, not noise.

The policy is the operator's own for every name the ``ExecutorBudget`` accepts
(:func:`~hrl_autoscaler.runtime.core.budget.policies.policy_factory`), the research
:class:`~.oracle.OraclePolicy` for ``oracle``, and no budget at all for ``none``. It reaches the
controller through its policy factory, the one seam the controller has for it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.evaluation.pipeline_controller import pipeline_controller
from hrl_autoscaler.research.fleet.composition import (
    FLEET_LABEL,
    NAMESPACE,
    Fleet,
    initial_executors,
)
from hrl_autoscaler.research.fleet.oracle import OraclePolicy
from hrl_autoscaler.research.sim.adapters import (
    CountingEvents,
    FleetActuator,
    FleetMetrics,
    MemoryStateStore,
    NullTelemetry,
    SimulatedApplication,
    SimulatedClock,
)
from hrl_autoscaler.research.sim.cluster import ClusterModel
from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.core.budget.claims import Allocation, BudgetLimit, Claim
from hrl_autoscaler.runtime.core.budget.policies import ArbitrationPolicy, policy_factory
from hrl_autoscaler.runtime.core.budget.spec import POLICY_NAMES
from hrl_autoscaler.runtime.core.pipeline import Autoscaler

#: The ExecutorBudget policies the operator accepts.
OPERATOR_POLICIES = POLICY_NAMES
#: Research-only rows: the future-knowing bound and the unconstrained reference.
REFERENCE_POLICIES = ("oracle", "none")
DEFAULT_INTERVAL_S = 120.0
#: Fast controllers: the operator's pipeline with meta-learned weights, or fixed at 1/3 each.
FAST_CONTROLLERS = ("hrl", "ppo-fixed")


class RecordingPolicy:
    """Wraps the budget's policy to keep its last allocation (the caps in force, for the plot)
    and to time it; the controller sees the inner policy's behaviour unchanged."""

    def __init__(self, inner: ArbitrationPolicy) -> None:
        self.inner = inner
        self.name = inner.name
        self.last: Allocation | None = None
        self.calls = 0
        self.seconds = 0.0

    def allocate(self, claims: Sequence[Claim], limit: BudgetLimit) -> Allocation:
        started = time.perf_counter()
        allocation = self.inner.allocate(claims, limit)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        self.last = allocation
        return allocation


@dataclass(frozen=True)
class FleetTrace:
    """Per-step arrays of one fleet run, shaped (steps, applications)."""

    policy: str
    fleet: Fleet
    budget: int | None
    """The limit in force (None for ``none``)."""
    load_eps: np.ndarray
    written: np.ndarray
    """The targets the objects carry after the operator's cycle (what counts against the budget)."""
    running: np.ndarray
    latency_ms: np.ndarray
    caps: np.ndarray
    """The caps in force (the maximum where there are none)."""
    exceedances: int
    """Steps where the written targets summed above the budget."""
    model_exceedances: int
    """Steps where the data plane's targets summed above it (a second, independent count)."""
    allocations: int
    allocation_seconds: float
    seconds: float
    slow_step_seconds: tuple[float, ...] = ()
    """The budget controller's whole step (coverage, claims, allocation, status) at each cycle
    where it allocated: what a slow step adds to the operator's cycle."""

    @property
    def steps(self) -> int:
        return int(self.load_eps.shape[0])


def budget_body(max_executors: int, policy: str, interval_s: float) -> dict[str, Any]:
    """The ExecutorBudget a user would write: every fleet application, one limit."""
    return {
        "apiVersion": "hrl-autoscaler.io/v1alpha1",
        "kind": "ExecutorBudget",
        "metadata": {
            "namespace": NAMESPACE,
            "name": "fleet-budget",
            "uid": "uid-fleet-budget",
            "generation": 1,
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {
            "maxExecutors": max_executors,
            "policy": policy,
            "intervalSeconds": interval_s,
            "selector": {"matchLabels": {FLEET_LABEL[0]: FLEET_LABEL[1]}},
        },
    }


def _annotations(latency_slo_ms: float, slo_class: str, fast: str) -> dict[str, str]:
    values = {
        "weight-policy": "meta" if fast == "hrl" else "fixed",
        "objective": "slo",
        "mode": "auto",
        "actuation": "in-place",
        "min-executors": "1",
        "max-executors": "20",
        "latency-slo-ms": f"{latency_slo_ms:g}",
        "slo-class": slo_class,
    }
    if fast != "hrl":
        values.update(alpha="1", beta="1", gamma="1")
    return {PREFIX + k: v for k, v in values.items()}


def make_policy(
    name: str, fleet: Fleet, params: SimParams, interval_s: float
) -> ArbitrationPolicy | OraclePolicy:
    """The budget's policy for ``name`` (``none`` has none: it is not called)."""
    if name == "oracle":
        horizon = math.ceil((interval_s + params.startup_delay_s) / params.decision_interval_s)
        loads = {a.key: a.load_eps for a in fleet.apps}
        return OraclePolicy(loads, params, horizon)
    return policy_factory(params)(name)


def run_fleet(
    fleet: Fleet,
    policy: str,
    params: SimParams | None = None,
    fast: str = "hrl",
    interval_s: float = DEFAULT_INTERVAL_S,
    on_step: Callable[[int], None] | None = None,
) -> FleetTrace:
    """Run ``fleet`` under ``policy`` (an operator policy name, ``oracle`` or ``none``)."""
    if fast not in FAST_CONTROLLERS:
        raise ValueError(f"unknown fast controller {fast!r}; accepted: {FAST_CONTROLLERS}")
    started = time.perf_counter()
    p = params or SimParams()
    logging.getLogger("hrl_autoscaler.pipeline").setLevel(logging.ERROR)
    logging.getLogger("hrl_autoscaler.budget").setLevel(logging.ERROR)
    apps = fleet.apps
    n = len(apps)
    steps = int(apps[0].load_eps.size)
    template = pipeline_controller(fast, "slo", apps[0].latency_slo_ms)
    sims = {
        a.key: SimulatedApplication(
            a.key,
            _annotations(a.latency_slo_ms, a.slo_class, fast),
            count,
            app_id=f"sim-{i}",
            labels=dict([FLEET_LABEL]),
        )
        for i, (a, count) in enumerate(zip(apps, initial_executors(fleet, p), strict=True))
    }
    source, clock = FleetMetrics(), SimulatedClock()
    autoscaler = Autoscaler(
        template.settings,
        template.policy,
        template.meta_actors,
        source,
        FleetActuator(sims),
        MemoryStateStore(),
        CountingEvents(),
        NullTelemetry(),
        clock=clock,
        params=p,
    )
    recorder: RecordingPolicy | None = None
    oracle: OraclePolicy | None = None
    budget = None if policy == "none" else fleet.budget_executors
    if budget is not None:
        inner = make_policy(policy, fleet, p, interval_s)
        oracle = inner if isinstance(inner, OraclePolicy) else None
        recorder = RecordingPolicy(inner)
        autoscaler.budgets.policies = lambda _name: recorder
        spec_policy = "whittle" if policy == "oracle" else policy
        autoscaler.budgets.sync([budget_body(budget, spec_policy, interval_s)])
    slow_steps: list[float] = []

    models = []
    for a in apps:
        model = ClusterModel(p)
        model.reset(sims[a.key].snapshot().current_executors(True))
        models.append(model)
    noise = np.exp(
        np.random.default_rng([fleet.seed, 17]).normal(0.0, p.capacity_noise, size=(steps, n))
    )
    shape = (steps, n)
    written = np.zeros(shape, dtype=np.int16)
    running = np.zeros(shape, dtype=np.int16)
    latency = np.zeros(shape)
    caps = np.full(shape, p.max_executors, dtype=np.int16)
    loads = np.stack([a.load_eps for a in apps], axis=1)
    for i, model in enumerate(models):  # warm-up interval, as the single-app environment does
        source.metrics[apps[i].key] = model.metrics(
            model.advance(float(loads[0, i]), p.decision_interval_s)
        )
    exceed = model_exceed = 0
    for t in range(steps):
        clock.time_s = models[0].time_s
        for a in apps:
            sim = sims[a.key]
            sim.set_running(not source.metrics[a.key].restarting)
            autoscaler.upsert(sim.snapshot())
        if oracle is not None:
            oracle.step = t
        calls = recorder.calls if recorder is not None else 0
        autoscaler.run_cycle()
        if recorder is not None and recorder.calls > calls:
            slow_steps.append(autoscaler.last_budget_step_s)
        targets = [sims[a.key].snapshot().current_executors(True) for a in apps]
        written[t] = targets
        if budget is not None and sum(targets) > budget:
            exceed += 1
        for i, a in enumerate(apps):
            model = models[i]
            model.set_target(targets[i])
            outcome = model.advance(float(loads[t, i]), p.decision_interval_s, noise[t, i])
            source.metrics[a.key] = model.metrics(outcome)
            running[t, i] = outcome.running_executors
            latency[t, i] = outcome.latency_ms
        if budget is not None and sum(m.target for m in models) > budget:
            model_exceed += 1
        if recorder is not None and recorder.last is not None:
            caps[t] = [recorder.last.caps.get(a.key, p.max_executors) for a in apps]
        if on_step is not None:
            on_step(t)
    return FleetTrace(
        policy=policy,
        fleet=fleet,
        budget=budget,
        load_eps=loads,
        written=written,
        running=running,
        latency_ms=latency,
        caps=caps,
        exceedances=exceed,
        model_exceedances=model_exceed,
        allocations=recorder.calls if recorder else 0,
        allocation_seconds=recorder.seconds if recorder else 0.0,
        seconds=time.perf_counter() - started,
        slow_step_seconds=tuple(slow_steps),
    )
