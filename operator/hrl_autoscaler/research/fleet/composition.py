"""Who is in a fleet: one seed fixes every application's workload, phase, peak and SLO class.

The budget only matters when applications compete, and they compete differently when their
peaks coincide or not. So every application gets a scenario (the five of
:mod:`~hrl_autoscaler.research.sim.workloads`, dealt round-robin in a shuffled order so a
fleet of 5 or more has them all), its own time of day (the diurnal ones peak at different
times), a peak jittered around the scenario's, and a random SLO class (which sets the priority a
violation is weighted by). The budget is a share of the summed peaks, where an application's
peak is the executors it needs at the highest load it sees in the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrl_autoscaler.config import EVALUATION, SLO_CLASSES, SimParams
from hrl_autoscaler.research.sim.workloads import DAY_S, SCENARIOS, load_profile, scenario
from hrl_autoscaler.runtime.core.application import AppKey

NAMESPACE = "fleet"
#: A label every fleet application carries; the budget's selector matches it.
FLEET_LABEL = ("hrl-autoscaler.io/fleet", "demo")
#: Peaks are drawn in this range around the scenario's default peak.
PEAK_JITTER = (0.7, 1.1)
#: SLO classes are drawn with these probabilities (a few latency-critical, most standard).
CLASS_WEIGHTS = {"latency-critical": 0.25, "standard": 0.5, "best-effort": 0.25}


@dataclass(frozen=True)
class FleetApp:
    key: AppKey
    scenario: str
    start_s: float
    """Where in the day its load starts."""
    peak_rate_eps: float
    latency_slo_ms: float
    slo_class: str
    load_eps: np.ndarray
    """The arrival rate of every step of the run (and the oracle's knowledge of the future)."""
    peak_executors: int
    """Executors it needs at its highest load in the run (DS2's target utilisation)."""

    @property
    def priority(self) -> float:
        return SLO_CLASSES[self.slo_class]


@dataclass(frozen=True)
class Fleet:
    apps: tuple[FleetApp, ...]
    budget_executors: int
    seed: int

    @property
    def summed_peaks(self) -> int:
        return sum(a.peak_executors for a in self.apps)


def peak_executors(load_eps: np.ndarray, params: SimParams) -> int:
    """What the application needs at its peak: DS2's sizing of the highest rate, 1..20."""
    need = params.executors_for_rate(float(np.max(load_eps)), EVALUATION.target_utilisation)
    return int(min(max(need, 1), params.max_executors))


def compose_fleet(
    apps: int,
    seed: int,
    steps: int,
    budget_share: float,
    params: SimParams | None = None,
    scenarios: tuple[str, ...] | None = None,
) -> Fleet:
    """The fleet of ``seed``: ``apps`` applications and a budget of ``budget_share`` of their
    summed peaks (never below their summed minimums, so the budget is always feasible)."""
    if apps < 1:
        raise ValueError(f"a fleet needs at least one application, got {apps}")
    if not budget_share > 0:
        raise ValueError(f"the budget share must be above 0, got {budget_share}")
    p = params or SimParams()
    names = list(scenarios or sorted(SCENARIOS))
    for name in names:
        scenario(name)
    rng = np.random.default_rng([seed, 13])
    order = [names[i] for i in rng.permutation(len(names))]
    classes = list(CLASS_WEIGHTS)
    weights = np.array([CLASS_WEIGHTS[c] for c in classes])
    members: list[FleetApp] = []
    for i in range(apps):
        name = order[i % len(order)]
        sc = scenario(name)
        start = float(rng.uniform(0.0, DAY_S))
        peak = sc.peak_rate_eps * float(rng.uniform(*PEAK_JITTER))
        slo_class = classes[int(rng.choice(len(classes), p=weights / weights.sum()))]
        app_rng = np.random.default_rng([seed, 13, i])
        load = load_profile(name, steps, p.decision_interval_s, app_rng, peak, start_s=start)
        members.append(
            FleetApp(
                key=AppKey(NAMESPACE, f"app-{i:03d}-{name}"),
                scenario=name,
                start_s=start,
                peak_rate_eps=peak,
                latency_slo_ms=sc.latency_slo_ms,
                slo_class=slo_class,
                load_eps=load,
                peak_executors=peak_executors(load, p),
            )
        )
    summed = sum(a.peak_executors for a in members)
    budget = max(round(budget_share * summed), apps * p.min_executors)
    return Fleet(tuple(members), budget, seed)


def initial_executors(fleet: Fleet, params: SimParams) -> list[int]:
    """Each application's starting count: DS2's sizing of its first load, then cut (largest
    first) until the fleet fits its budget, so no run starts above the limit."""
    counts = [
        int(
            min(
                max(params.executors_for_rate(float(a.load_eps[0])), params.min_executors),
                params.max_executors,
            )
        )
        for a in fleet.apps
    ]
    while sum(counts) > fleet.budget_executors:
        i = int(np.argmax(counts))
        if counts[i] <= params.min_executors:
            break
        counts[i] -= 1
    return counts
