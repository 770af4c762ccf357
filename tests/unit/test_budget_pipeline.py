"""ExecutorBudgets in the decision loop: caps, the gate's order, and bad budgets.

Drives the operator's :class:`Autoscaler` with the fakes of ``test_pipeline`` and several
applications under one budget; every write is checked against the budget the moment it lands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from hrl_autoscaler.config import load_operator_settings
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.budget.spec import BudgetKey
from hrl_autoscaler.runtime.core.pipeline import Autoscaler
from hrl_autoscaler.runtime.core.ports import ActuationResult, BudgetRef, Precondition
from hrl_autoscaler.runtime.core.reporting import AppEvent, Reason, parse_message
from hrl_autoscaler.runtime.core.weights import PRESETS

from .test_pipeline import (
    KEY,
    FakeClock,
    FakeCluster,
    MemoryStore,
    RecordingEvents,
    RecordingTelemetry,
    ScriptedMeta,
    ScriptedSource,
    app_body,
    sample,
)

NAMESPACE = KEY.namespace


class LoadPolicy:
    """Wants executors in proportion to the arrival rate it is shown (2 per 10% of the scale)."""

    def executors(self, obs: np.ndarray) -> int:
        return int(min(20, max(1, math.ceil(float(obs[0]) * 20))))


class RecordingBudgetSink:
    def __init__(self) -> None:
        self.statuses: list[tuple[BudgetRef, dict[str, Any]]] = []
        self.events: list[tuple[BudgetRef, AppEvent]] = []
        self.limits: list[tuple[AppKey, int, int]] = []

    def status(self, budget: BudgetRef, status: Mapping[str, Any]) -> None:
        self.statuses.append((budget, dict(status)))

    def event(self, budget: BudgetRef, event: AppEvent) -> None:
        self.events.append((budget, event))

    def limited(self, budget: BudgetRef, app: AppKey, wanted: int, got: int) -> None:
        self.limits.append((app, wanted, got))

    def reasons(self) -> list[str]:
        return [e.reason.value for _, e in self.events]

    def last_status(self) -> dict[str, Any]:
        return self.statuses[-1][1]


class CheckedCluster(FakeCluster):
    """Fails the test the moment a write makes the covered targets exceed the limit."""

    limit: int | None = None

    def patch(
        self, key: AppKey, body: dict[str, Any], precondition: Precondition
    ) -> ActuationResult:
        result = super().patch(key, body, precondition)
        if self.limit is not None:
            assert self.total() <= self.limit, f"{self.total()} > {self.limit} after {body}"
        return result

    def total(self) -> int:
        return sum(self.snapshot(k).spec_executors for k in self.objects)


class Fleet:
    def __init__(self, apps: dict[str, dict[str, str]], instances: int = 2) -> None:
        self.clock = FakeClock()
        self.source = ScriptedSource()
        self.source.samples.clear()
        self.cluster = CheckedCluster()
        self.events = RecordingEvents()
        self.sink = RecordingBudgetSink()
        self.store = MemoryStore()
        for name, annotated in apps.items():
            self.cluster.add(app_body(annotated, instances, name=name))
            self.set_load(name, 2000.0, running=instances)
        self.autoscaler = self.operator()

    def operator(self) -> Autoscaler:
        meta = ScriptedMeta(PRESETS["balanced"])
        return Autoscaler(
            load_operator_settings(),
            LoadPolicy(),
            {"slo": meta, "r_meta": meta},
            self.source,
            self.cluster,
            self.store,
            self.events,
            RecordingTelemetry(),
            clock=self.clock,
            budget_sink=self.sink,
        )

    def set_load(self, name: str, eps: float, running: int = 2) -> None:
        capacity = 1000.0 * running
        busy = min(eps / capacity, 1.0)
        self.source.samples[AppKey(NAMESPACE, name)] = sample(
            input_eps=eps,
            processing_eps=min(eps, capacity),
            active=busy * 2 * running,
            cores=2.0 * running,
            running=running,
            latency_ms=800.0 if eps < capacity else 6000.0,
        )

    def budget(
        self, spec: dict[str, Any], name: str = "team", created: str = "2026-01-01T00:00:00Z"
    ) -> None:
        self.autoscaler.budgets.upsert(
            {
                "metadata": {
                    "name": name,
                    "namespace": NAMESPACE,
                    "uid": f"uid-{name}",
                    "generation": 1,
                    "creationTimestamp": created,
                },
                "spec": spec,
            }
        )

    def cycle(self, seconds: float = 30.0) -> None:
        self.clock.advance(seconds)
        for key in self.cluster.objects:
            self.autoscaler.upsert(self.cluster.snapshot(key))
        self.autoscaler.run_cycle()

    def targets(self) -> dict[str, int]:
        return {k.name: self.cluster.snapshot(k).spec_executors for k in self.cluster.objects}


BASIC = {"intervalSeconds": 60, "policy": "whittle"}


def test_caps_keep_the_sum_of_targets_within_the_budget_at_every_write() -> None:
    fleet = Fleet({f"app-{i}": {} for i in range(4)})
    fleet.cluster.limit = 12
    fleet.budget({**BASIC, "maxExecutors": 12})
    for i in range(4):
        fleet.set_load(f"app-{i}", 9000.0)  # each wants about 9-10 executors alone
    for _ in range(12):
        fleet.cycle()
    assert sum(fleet.targets().values()) <= 12
    assert max(fleet.targets().values()) > 2, "nobody scaled up at all"
    status = fleet.sink.last_status()
    assert status["limitExecutors"] == 12
    assert status["usedExecutors"] == sum(fleet.targets().values())
    assert sum(row["cap"] for row in status["allocations"]) <= 12
    limited = fleet.events.of(Reason.BUDGET_LIMITED)
    assert limited, "nobody was told the budget limited it"
    fields = parse_message(limited[0].message)
    assert fields["budget"] == f"{NAMESPACE}/team"
    assert int(fields["got"]) < int(fields["wanted"])


def test_a_latency_critical_application_gets_executors_first() -> None:
    fleet = Fleet(
        {
            "critical": {"hrl-autoscaler.io/slo-class": "latency-critical"},
            "batchy": {"hrl-autoscaler.io/slo-class": "best-effort"},
            "normal": {},
        }
    )
    fleet.budget({**BASIC, "maxExecutors": 12})
    for name in fleet.targets():
        fleet.set_load(name, 8000.0)
    for _ in range(10):
        fleet.cycle()
    targets = fleet.targets()
    assert targets["critical"] >= targets["normal"] >= targets["batchy"], targets
    assert targets["critical"] > targets["batchy"], targets


def test_scale_downs_are_written_before_the_scale_ups_they_make_room_for() -> None:
    fleet = Fleet({"a": {}, "b": {}}, instances=6)
    fleet.cluster.limit = 12
    fleet.budget({**BASIC, "maxExecutors": 12})
    fleet.set_load("a", 200.0, running=6)  # a wants 1
    fleet.set_load("b", 15000.0, running=6)  # b wants many more
    for _ in range(8):
        fleet.cycle()
    names = [k.name for k, _ in fleet.cluster.patches]
    assert "b" in names, "b never scaled up"
    first_a = names.index("a")
    assert names.index("b") > first_a
    assert fleet.targets()["b"] > 6
    assert sum(fleet.targets().values()) <= 12


def test_first_come_blocks_a_scale_up_that_does_not_fit() -> None:
    fleet = Fleet({"a": {}, "b": {}})
    fleet.cluster.limit = 10
    fleet.budget({**BASIC, "maxExecutors": 10, "policy": "first-come"})
    fleet.set_load("a", 15000.0)
    fleet.set_load("b", 15000.0)
    for _ in range(8):
        fleet.cycle()
    assert sum(fleet.targets().values()) == 10
    assert any(
        "left in the budget" in parse_message(e.message)["why"]
        for e in fleet.events.of(Reason.BUDGET_LIMITED)
    )


def test_no_scale_up_before_the_budgets_are_listed() -> None:
    class Unlistable:
        def list(self) -> list[Mapping[str, Any]] | None:
            raise ConnectionError("API server unreachable")

    fleet = Fleet({"a": {}})
    fleet.autoscaler = Autoscaler(
        load_operator_settings(),
        LoadPolicy(),
        {},
        fleet.source,
        fleet.cluster,
        fleet.store,
        fleet.events,
        RecordingTelemetry(),
        clock=fleet.clock,
        budget_sink=fleet.sink,
        budget_source=Unlistable(),
    )
    fleet.set_load("a", 15000.0)
    for _ in range(3):
        fleet.cycle()
    assert fleet.targets()["a"] == 2
    assert fleet.cluster.patches == []


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"maxExecutors": -3}, "spec.maxExecutors"),
        ({"policy": "whittle"}, "spec"),
        ({"maxExecutors": 8, "policy": "fastest"}, "spec.policy"),
        ({"maxExecutors": 8, "intervalSeconds": 0}, "spec.intervalSeconds"),
    ],
)
def test_a_bad_edit_warns_once_naming_the_field_and_keeps_the_last_good_spec(
    spec: dict[str, Any], field: str
) -> None:
    fleet = Fleet({"a": {}, "b": {}})
    fleet.budget({**BASIC, "maxExecutors": 6})
    fleet.set_load("a", 15000.0)
    fleet.set_load("b", 15000.0)
    for _ in range(6):
        fleet.cycle()
    before = fleet.targets()
    assert sum(before.values()) == 6
    fleet.budget(spec)
    for _ in range(4):
        fleet.cycle()
    assert fleet.targets() == before
    invalid = [e for _, e in fleet.sink.events if e.reason == Reason.BUDGET_INVALID]
    assert len(invalid) == 1, invalid
    fields = parse_message(invalid[0].message)
    assert fields["field"] == field
    assert fields["action"] == "the last good spec stays in force"
    assert invalid[0].type == "Warning"
    assert fleet.sink.last_status()["conditions"][0]["status"] == "False"


def test_an_overlapping_budget_and_an_empty_one_are_reported_and_change_nothing() -> None:
    fleet = Fleet({"a": {}, "b": {}})
    fleet.budget({**BASIC, "maxExecutors": 6}, name="first")
    fleet.set_load("a", 15000.0)
    fleet.set_load("b", 15000.0)
    for _ in range(6):
        fleet.cycle()
    before = fleet.targets()
    fleet.budget({**BASIC, "maxExecutors": 2}, name="second", created="2026-02-01T00:00:00Z")
    fleet.budget(
        {**BASIC, "maxExecutors": 2, "selector": {"matchLabels": {"team": "nobody"}}},
        name="empty",
        created="2026-03-01T00:00:00Z",
    )
    for _ in range(4):
        fleet.cycle()
    assert fleet.targets() == before
    reasons = fleet.sink.reasons()
    assert reasons.count(Reason.BUDGET_OVERLAP.value) == 1
    assert reasons.count(Reason.BUDGET_EMPTY.value) == 1
    overlap = next(e for _, e in fleet.sink.events if e.reason == Reason.BUDGET_OVERLAP)
    assert parse_message(overlap.message)["covered_by"] == f"{NAMESPACE}/first"


def test_a_restarted_operator_resumes_the_stored_allocation() -> None:
    fleet = Fleet({"a": {}, "b": {}})
    body_spec = {**BASIC, "maxExecutors": 8, "intervalSeconds": 600}
    fleet.budget(body_spec)
    fleet.set_load("a", 15000.0)
    fleet.set_load("b", 300.0)
    for _ in range(4):
        fleet.cycle()
    status = fleet.sink.last_status()
    caps = {row["application"]: row["cap"] for row in status["allocations"]}
    restarted = fleet.operator()
    restarted.budgets.sync(
        [
            {
                "metadata": {
                    "name": "team",
                    "namespace": NAMESPACE,
                    "uid": "uid-team",
                    "generation": 1,
                },
                "spec": body_spec,
                "status": status,
            }
        ]
    )
    fleet.autoscaler = restarted
    fleet.cycle()
    resumed = fleet.sink.last_status()
    assert {row["application"]: row["cap"] for row in resumed["allocations"]} == caps
    assert resumed["lastAllocationTime"] == status["lastAllocationTime"]


def test_a_deleted_budget_caps_nothing() -> None:
    fleet = Fleet({"a": {}})
    fleet.budget({**BASIC, "maxExecutors": 3})
    fleet.set_load("a", 15000.0)
    for _ in range(4):
        fleet.cycle()
    assert fleet.targets()["a"] == 3
    fleet.autoscaler.budgets.remove(BudgetKey(NAMESPACE, "team"))
    for _ in range(4):
        fleet.cycle(seconds=400.0)  # past the restart cooldown
    assert fleet.targets()["a"] > 3
