"""The decision loop with a fake clock, scripted metrics and recording adapters.

Each test drives :class:`Autoscaler` cycle by cycle the way the operator does, and checks what
it wrote (patches), said (events) and remembered (state) - no Kubernetes, no Prometheus.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from hrl_autoscaler.config import OperatorSettings, load_operator_settings
from hrl_autoscaler.config.stages import RaiseCapDefaults, RestartHoldDefaults
from hrl_autoscaler.research.sim.adapters import merge_patch
from hrl_autoscaler.runtime.core.annotations import PREFIX, TARGET_ANNOTATION, AppSettings
from hrl_autoscaler.runtime.core.application import (
    AppKey,
    AppSnapshot,
    snapshot_from_body,
)
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.pipeline import Autoscaler
from hrl_autoscaler.runtime.core.ports import (
    ActuationResult,
    CycleSummary,
    DecisionRecord,
    PatchActuator,
    Precondition,
    StateStoreError,
)
from hrl_autoscaler.runtime.core.reporting import AppEvent, Reason, parse_message
from hrl_autoscaler.runtime.core.sampling import AppSample, Collection
from hrl_autoscaler.runtime.core.weights import PRESETS, Weights

KEY = AppKey("iot", "hospital")


# -- fakes -----------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class ScriptedPolicy:
    """Proposes ``wanted`` executors and records every observation it was shown."""

    def __init__(self, wanted: int = 6) -> None:
        self.wanted = wanted
        self.observations: list[np.ndarray] = []

    def executors(self, obs: np.ndarray) -> int:
        self.observations.append(np.asarray(obs).copy())
        return self.wanted


class ScriptedMeta:
    def __init__(self, weights: Weights) -> None:
        self.out = weights
        self.observations: list[np.ndarray] = []

    def weights(self, obs: np.ndarray) -> Weights:
        self.observations.append(np.asarray(obs).copy())
        return self.out


def sample(
    input_eps: float = 3000.0,
    processing_eps: float = 3000.0,
    active: float = 1.5,
    cores: float = 2.0,
    running: int = 2,
    latency_ms: float = 800.0,
    backlog: float | None = 0.0,
    last_seen: float | None = None,
) -> AppSample:
    values = {
        "active_tasks": active,
        "total_cores": cores,
        "running_executors": float(running),
        "memory_used": 0.4,
        "memory_max": 1.0,
        "input_rate": input_eps,
        "processing_rate": processing_eps,
        "latency": latency_ms,
    }
    if backlog is not None:
        values["backlog"] = backlog
    if last_seen is not None:
        values["last_seen"] = last_seen
    return AppSample(values)


class ScriptedSource:
    """Returns whatever the test put in ``samples`` (or ``error``) and counts calls."""

    def __init__(self) -> None:
        self.samples: dict[AppKey, AppSample] = {KEY: sample()}
        self.error: str | None = None
        self.calls: list[list[AppKey]] = []

    def collect(self, apps: Sequence[AppSnapshot]) -> Collection:
        self.calls.append([a.key for a in apps])
        if self.error is not None:
            return Collection.failed(self.error, queries=10)
        return Collection(dict(self.samples), queries=10)


@dataclass
class FakeCluster(PatchActuator):
    """The API server: objects by key; merge patches applied; every write recorded."""

    objects: dict[AppKey, dict[str, Any]] = field(default_factory=dict)
    patches: list[tuple[AppKey, dict[str, Any]]] = field(default_factory=list)
    fail_with: str | None = None
    version: int = 100

    def add(self, body: dict[str, Any]) -> AppSnapshot:
        self.version += 1
        body["metadata"]["resourceVersion"] = str(self.version)
        snapshot = snapshot_from_body(body)
        self.objects[snapshot.key] = body
        return snapshot

    def snapshot(self, key: AppKey = KEY) -> AppSnapshot:
        return snapshot_from_body(self.objects[key])

    def edit(self, key: AppKey, change: Callable[[dict[str, Any]], None]) -> AppSnapshot:
        change(self.objects[key])
        return self.add(self.objects[key])

    def patch(
        self, key: AppKey, body: dict[str, Any], precondition: Precondition
    ) -> ActuationResult:
        if self.fail_with is not None:
            return ActuationResult(False, self.fail_with, error=True)
        fresh = self.snapshot(key)
        reason = precondition(fresh)
        if reason is not None:
            return ActuationResult(False, reason, fresh)
        self.patches.append((key, copy.deepcopy(body)))
        merge_patch(self.objects[key], body)
        return ActuationResult(True, "patched", self.add(self.objects[key]))

    def spec_patches(self) -> list[int]:
        return [b["spec"]["executor"]["instances"] for _, b in self.patches if "spec" in b]

    def annotation_patches(self) -> list[dict[str, str]]:
        """The annotations of each patch that is not a restart-mode scale (whose annotations
        are only the scale record written with it)."""
        return [b["metadata"]["annotations"] for _, b in self.patches if "spec" not in b]

    def weight_patches(self) -> list[dict[str, str]]:
        return [a for a in self.annotation_patches() if PREFIX + "alpha" in a]


class MemoryStore:
    def __init__(self) -> None:
        self.states: dict[AppKey, str] = {}
        self.saves = 0
        self.broken = False

    def load_all(self) -> dict[AppKey, AppState]:
        if self.broken:
            raise StateStoreError("API server unreachable")
        return {k: AppState.from_json(v) for k, v in self.states.items()}

    def save(self, app: AppSnapshot, state: AppState) -> None:
        self.saves += 1
        self.states[app.key] = state.to_json()


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[tuple[AppKey, AppEvent]] = []

    def emit(self, app: AppSnapshot, event: AppEvent) -> None:
        self.events.append((app.key, event))

    def reasons(self) -> list[str]:
        return [e.reason.value for _, e in self.events]

    def of(self, reason: Reason) -> list[AppEvent]:
        return [e for _, e in self.events if e.reason == reason]


class RecordingTelemetry:
    def __init__(self) -> None:
        self.decisions: list[DecisionRecord] = []
        self.cycles: list[CycleSummary] = []
        self.metas: list[tuple[str, float]] = []
        self.scalings: list[tuple[int, int, str]] = []
        self.weight_updates: list[str] = []
        self.fallbacks = 0
        self.forgotten: list[AppKey] = []
        self.failed_steps: list[str] = []

    def app_seen(self, key: AppKey, settings: AppSettings, weights: Weights, current: int) -> None:
        return None

    def decision(self, key: AppKey, record: DecisionRecord) -> None:
        self.decisions.append(record)

    def unavailable(self, key: AppKey, reason: str | None) -> None:
        return None

    def fallback(self, key: AppKey) -> None:
        self.fallbacks += 1

    def meta(self, key: AppKey, objective: str, score: float) -> None:
        self.metas.append((objective, score))

    def scaled(self, key: AppKey, current: int, target: int, actuation: str) -> None:
        self.scalings.append((current, target, actuation))

    def weights_updated(self, key: AppKey, objective: str) -> None:
        self.weight_updates.append(objective)

    def actuation_error(self, key: AppKey) -> None:
        return None

    def cycle(self, summary: CycleSummary) -> None:
        self.cycles.append(summary)
        for stage, count in summary.failed.items():
            self.failed_steps += [stage] * count

    def forget(self, key: AppKey) -> None:
        self.forgotten.append(key)


def app_body(
    annotations: dict[str, str] | None = None,
    instances: int = 2,
    state: str = "RUNNING",
    name: str = KEY.name,
    enabled: bool = True,
) -> dict[str, Any]:
    return {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {
            "name": name,
            "namespace": KEY.namespace,
            "uid": f"uid-{name}",
            "labels": {"hrl-autoscaler.io/enabled": "true" if enabled else "false"},
            "annotations": dict(annotations or {}),
        },
        "spec": {"executor": {"instances": instances}},
        "status": {"applicationState": {"state": state}, "sparkApplicationId": f"spark-{name}"},
    }


@dataclass
class Harness:
    autoscaler: Autoscaler
    clock: FakeClock
    source: ScriptedSource
    cluster: FakeCluster
    store: MemoryStore
    events: RecordingEvents
    telemetry: RecordingTelemetry
    policy: ScriptedPolicy
    meta: ScriptedMeta

    def cycle(self, seconds: float = 30.0) -> CycleSummary:
        """Advance the clock, deliver the current objects as the watch would, run a cycle."""
        self.clock.advance(seconds)
        for key in self.cluster.objects:
            self.autoscaler.upsert(self.cluster.snapshot(key))
        return self.autoscaler.run_cycle()

    def annotate(self, **annotations: str) -> None:
        def change(body: dict[str, Any]) -> None:
            body["metadata"]["annotations"].update(
                {PREFIX + k.replace("_", "-"): v for k, v in annotations.items()}
            )

        self.cluster.edit(KEY, change)


def make(
    annotations: dict[str, str] | None = None,
    instances: int = 2,
    settings: OperatorSettings | None = None,
    store: MemoryStore | None = None,
    clock: FakeClock | None = None,
    wanted: int = 6,
    meta_weights: Weights = PRESETS["cost-first"],
    raise_cap: bool = False,
    restart_hold: bool = False,
) -> Harness:
    """One application (``instances`` executors, 3,000 eps at 75% busy by default) under a
    policy that asks for ``wanted``. The raise cap and the restart hold are off unless asked
    for: the default sample's load does not call for 6 executors, and what these tests follow
    is the scripted count through the loop (under restart actuation, the harness's default),
    not the decision (tests/unit/test_raise_cap.py and test_restart_hold.py have that)."""
    settings = settings or load_operator_settings()
    off: dict[str, object] = {}
    if not raise_cap:
        off["raise_cap"] = RaiseCapDefaults(enabled=False)
    if not restart_hold:
        off["restart_hold"] = RestartHoldDefaults(enabled=False)
    if off:
        guardrails = settings.guardrails.model_copy(update=off)
        settings = settings.model_copy(update={"guardrails": guardrails})
    clock = clock or FakeClock()
    source, cluster = ScriptedSource(), FakeCluster()
    store = store or MemoryStore()
    events, telemetry = RecordingEvents(), RecordingTelemetry()
    policy, meta = ScriptedPolicy(wanted), ScriptedMeta(meta_weights)
    cluster.add(app_body(annotations, instances))
    autoscaler = Autoscaler(
        settings,
        policy,
        {"slo": meta, "r_meta": meta},
        source,
        cluster,
        store,
        events,
        telemetry,
        clock=clock,
    )
    return Harness(autoscaler, clock, source, cluster, store, events, telemetry, policy, meta)


# -- the fast loop ---------------------------------------------------------------------------


def test_restart_mode_patches_the_spec_and_reports_a_parseable_decision() -> None:
    h = make()
    summary = h.cycle()
    assert h.cluster.spec_patches() == [6]
    assert summary.decided == 1
    assert summary.changed == 1
    [event] = h.events.of(Reason.SCALING_DECISION)
    assert event.type == "Normal"
    fields = parse_message(event.message)
    assert fields["executors"] == "2->6"
    assert fields["direction"] == "up"
    assert fields["controller"] == "ppo"
    assert fields["actuation"] == "restart"
    assert fields["weights"] == "0.333/0.333/0.333"
    assert fields["input_eps"] == "3000"
    assert fields["cpu"] == "0.75"
    stored = AppState.from_json(h.store.states[KEY])
    assert stored.last_change_at == h.clock.now()
    assert stored.decisions[-1]["executors"] == "2->6"
    assert h.telemetry.scalings == [(2, 6, "restart")]
    assert h.telemetry.decisions[-1].metrics is not None


def test_a_raise_the_load_does_not_call_for_is_capped_and_labelled() -> None:
    """2 executors fully busy at 3,000 eps: 1,500 eps each, so the load at 0.85 utilisation
    needs 3, latency is 0.4 x SLO and there is no backlog; the policy's 6 is capped to 3."""
    h = make(raise_cap=True)
    h.source.samples[KEY] = sample(active=2.0)
    h.cycle()
    assert h.cluster.spec_patches() == [3]
    [event] = h.events.of(Reason.SCALING_DECISION)
    fields = parse_message(event.message)
    assert (fields["executors"], fields["controller"]) == ("2->3", "ppo+capped")


def test_restart_mode_waits_for_the_cooldown_before_the_next_change() -> None:
    h = make()
    h.cycle()
    h.policy.wanted = 9
    for _ in range(9):  # 270 s < 300 s
        h.cycle()
    assert h.cluster.spec_patches() == [6]
    assert h.telemetry.decisions[-1].proposed == 9
    assert h.telemetry.decisions[-1].target == 6
    h.cycle(31.0)  # 301 s after the change
    assert h.cluster.spec_patches() == [6, 9]
    assert h.telemetry.scalings == [(2, 6, "restart"), (6, 9, "restart")]  # holds not counted


def test_no_decision_while_the_application_restarts() -> None:
    h = make()
    h.cluster.edit(KEY, lambda b: b["status"]["applicationState"].update(state="PENDING_RERUN"))
    summary = h.cycle()
    assert summary.decided == 0
    assert h.cluster.patches == []
    assert h.events.events == []


def test_in_place_mode_writes_the_target_annotation_and_never_the_spec() -> None:
    h = make({PREFIX + "actuation": "in-place"})
    h.cycle()
    h.policy.wanted = 8
    h.cycle()  # no cooldown in place
    assert h.cluster.spec_patches() == []
    targets = [a[TARGET_ANNOTATION] for a in h.cluster.annotation_patches()]
    assert targets == ["6", "8"]
    assert h.cluster.snapshot().spec_executors == 2
    # the next observation counts the in-place target as the current allocation
    assert h.policy.observations[-1][5] == pytest.approx(6 / 20)


def test_recommend_mode_reports_once_and_never_patches() -> None:
    h = make({PREFIX + "mode": "recommend", PREFIX + "actuation": "restart"})
    for _ in range(5):
        h.cycle()
    assert h.cluster.patches == []
    [event] = h.events.of(Reason.SCALING_RECOMMENDATION)
    assert parse_message(event.message)["executors"] == "2->6"
    assert parse_message(event.message)["mode"] == "recommend"
    # a recommendation starts no cooldown: switching to auto acts at once
    h.annotate(mode="auto")
    h.cycle()
    assert h.cluster.spec_patches() == [6]


def test_paused_mode_does_nothing() -> None:
    h = make({PREFIX + "mode": "paused"})
    for _ in range(3):
        h.cycle()
    assert h.source.calls == []
    assert h.cluster.patches == []
    assert h.events.events == []


def test_scale_down_waits_for_confirmations() -> None:
    h = make({PREFIX + "actuation": "in-place"}, instances=8, wanted=3)
    confirmations = load_operator_settings().guardrails.scale_down_confirmations
    for _ in range(confirmations - 1):
        h.cycle()
    assert h.cluster.patches == []
    h.cycle()
    assert [a[TARGET_ANNOTATION] for a in h.cluster.annotation_patches()] == ["3"]


def test_missing_metrics_hold_with_one_warning_then_recover() -> None:
    h = make()
    del h.source.samples[KEY].values["latency"]
    h.cycle()
    assert h.events.events == []  # a just-started driver is not scraped yet: no news
    for _ in range(3):
        summary = h.cycle()
    assert summary.unavailable == 1
    assert h.cluster.patches == []
    [event] = h.events.of(Reason.METRICS_UNAVAILABLE)
    assert event.type == "Warning"
    fields = parse_message(event.message)
    assert fields["action"] == "hold"
    assert fields["reason"] == "no series for latency"
    h.source.samples[KEY] = sample()
    h.cycle()
    assert h.cluster.spec_patches() == [6]


def test_prometheus_down_holds_every_application() -> None:
    h = make()
    h.source.error = "ConnectError: connection refused"
    h.cycle()
    h.cycle()
    assert h.cluster.patches == []
    [event] = h.events.of(Reason.METRICS_UNAVAILABLE)
    assert "prometheus unavailable: ConnectError" in parse_message(event.message)["reason"]
    h.source.error = None
    h.cycle()
    assert h.cluster.spec_patches() == [6]


def test_stale_metrics_hold() -> None:
    h = make()
    h.clock.advance(30)
    h.source.samples[KEY] = sample(last_seen=h.clock.now() - 500)
    h.cycle(0)
    h.cycle(0)
    h.cycle(30)  # older still: the same news, not another event
    assert h.cluster.patches == []
    [event] = h.events.of(Reason.METRICS_UNAVAILABLE)
    reason = parse_message(event.message)["reason"]
    assert reason.startswith("stale: newest streaming sample is 500 s old")


def cold(active: float = 2.0) -> AppSample:
    """A run before its first micro-batch: Spark's streaming gauges read 0, slots are busy."""
    return sample(input_eps=0.0, processing_eps=0.0, active=active, latency_ms=0.0)


def test_a_new_run_is_held_until_its_first_micro_batch() -> None:
    h = make({PREFIX + "actuation": "in-place"})
    h.source.samples[KEY] = cold()
    for _ in range(3):
        summary = h.cycle()
    assert summary.decided == 0
    assert summary.unavailable == 0  # expected, not a metrics problem
    assert h.cluster.patches == []
    assert h.events.events == []
    assert h.policy.observations == []
    h.source.samples[KEY] = sample()
    h.cycle()
    assert [a[TARGET_ANNOTATION] for a in h.cluster.annotation_patches()] == ["6"]
    # later in the run an idle moment with zero rates is decided, not waited out
    h.source.samples[KEY] = cold(active=0.0)
    h.cycle()
    assert len(h.policy.observations) == 2


def test_a_restarted_run_is_held_again() -> None:
    h = make()
    h.cycle()
    assert h.cluster.spec_patches() == [6]
    h.cluster.edit(KEY, lambda b: b["status"].update(sparkApplicationId="spark-second-run"))
    h.source.samples[KEY] = cold()
    h.cycle(400.0)  # past the restart cooldown
    assert h.cluster.spec_patches() == [6]
    assert len(h.policy.observations) == 1


def test_a_first_batch_past_the_grace_is_reported_once_and_then_decided() -> None:
    settings = load_operator_settings(first_batch_grace_s=60.0)
    h = make({PREFIX + "actuation": "in-place"}, settings=settings)
    h.source.samples[KEY] = cold()
    h.cycle()  # waiting since now
    h.cycle()  # 30 s
    assert h.cluster.patches == []
    h.cycle()  # 60 s: stop waiting
    [event] = h.events.of(Reason.FIRST_BATCH_OVERDUE)
    assert event.type == "Warning"
    fields = parse_message(event.message)
    assert (fields["waited_s"], fields["grace_s"], fields["executors"]) == ("60", "60", "2")
    assert [a[TARGET_ANNOTATION] for a in h.cluster.annotation_patches()] == ["6"]
    h.cycle()
    assert len(h.events.of(Reason.FIRST_BATCH_OVERDUE)) == 1


def test_a_zero_grace_never_holds() -> None:
    h = make(settings=load_operator_settings(first_batch_grace_s=0.0))
    h.source.samples[KEY] = cold()
    h.cycle()
    assert h.cluster.spec_patches() == [6]
    assert h.events.of(Reason.FIRST_BATCH_OVERDUE) == []


def test_backlog_is_optional_and_counts_as_zero() -> None:
    h = make()
    h.source.samples[KEY] = sample(backlog=None)
    h.cycle()
    assert h.cluster.spec_patches() == [6]
    assert h.policy.observations[-1][1] == 0.0


def test_out_of_range_observation_falls_back_to_ds2_with_one_warning() -> None:
    h = make({PREFIX + "actuation": "in-place", PREFIX + "max-executors": "40"}, instances=2)
    # 2 executors fully busy at 2,000 eps each -> capacity of 20 executors ~ 25,000 eps;
    # 90,000 eps arriving is far beyond twice that: the policy never saw such a load.
    h.source.samples[KEY] = sample(
        input_eps=90_000, processing_eps=4_000, active=2, cores=2, running=2
    )
    h.cycle()
    h.cycle()
    [fallback] = h.events.of(Reason.FALLBACK)
    assert fallback.type == "Warning"
    assert parse_message(fallback.message)["fields"] == "input_rate"
    assert h.telemetry.fallbacks == 1
    decision = h.events.of(Reason.SCALING_DECISION)[0]
    assert parse_message(decision.message)["controller"] == "ds2"
    target = int(h.cluster.annotation_patches()[0][TARGET_ANNOTATION])
    assert target > 20  # DS2 sizes beyond the policy's range, within the app's bounds
    assert h.policy.observations == []


def _overloaded_cost_first(h: Harness) -> None:
    # 1 executor busy at 2,000 eps, 6,000 eps arriving, latency 40 s against a 2 s SLO.
    h.source.samples[KEY] = sample(
        input_eps=6000, processing_eps=2000, active=1, cores=1, running=1, latency_ms=40_000
    )


def test_slo_guard_raises_a_policy_that_parks_an_overloaded_application() -> None:
    h = make(
        {PREFIX + "actuation": "in-place", PREFIX + "weight-policy": "cost-first"},
        instances=1,
        wanted=1,
    )
    _overloaded_cost_first(h)
    cycles = load_operator_settings().guardrails.slo_guard_cycles
    for _ in range(cycles - 1):
        h.cycle()
    assert h.cluster.patches == []  # a few slow batches are not yet a trend
    h.cycle()
    [fallback] = h.events.of(Reason.FALLBACK)
    fields = parse_message(fallback.message)
    assert fields["controller"] == "slo-guard"
    assert "policy proposed 1" in fields["detail"]
    decision = parse_message(h.events.of(Reason.SCALING_DECISION)[0].message)
    assert decision["controller"] == "ppo+slo-guard"
    target = int(h.cluster.annotation_patches()[0][TARGET_ANNOTATION])
    assert target > 1
    h.cycle()
    assert len(h.events.of(Reason.FALLBACK)) == 1  # one warning while it lasts


def test_slo_guard_can_be_switched_off() -> None:
    settings = load_operator_settings().model_copy(
        update={
            "guardrails": load_operator_settings().guardrails.model_copy(
                update={"slo_guard": False}
            )
        }
    )
    h = make(
        {PREFIX + "actuation": "in-place", PREFIX + "weight-policy": "cost-first"},
        instances=1,
        wanted=1,
        settings=settings,
    )
    _overloaded_cost_first(h)
    for _ in range(6):
        h.cycle()
    assert h.cluster.patches == []
    assert h.events.of(Reason.FALLBACK) == []


def test_the_policy_sees_the_applications_weights_and_measured_capacity() -> None:
    h = make({PREFIX + "weight-policy": "latency-first"})
    h.source.samples[KEY] = sample(input_eps=3000, processing_eps=3000, active=2, cores=2)
    h.cycle()
    obs = h.policy.observations[-1]
    assert tuple(obs[6:9]) == pytest.approx(PRESETS["latency-first"].as_tuple(), abs=1e-6)
    # default 1,000 eps per executor, then a 30% step towards the measured 1,500 * 1.03
    rate = 0.7 * 1000 + 0.3 * 1500 * 1.03
    scale = rate * 20 / (1 + 0.03 * 19)
    assert obs[0] == pytest.approx(3000 / scale, rel=1e-4)


def test_failed_patch_reports_and_retries_without_starting_a_cooldown() -> None:
    h = make()
    h.cluster.fail_with = "patch rejected: 500 Internal Server Error"
    h.cycle()
    [failed] = h.events.of(Reason.SCALING_FAILED)
    assert parse_message(failed.message)["error"].startswith("patch rejected")
    h.cluster.fail_with = None
    h.cycle()
    assert h.cluster.spec_patches() == [6]


def test_a_change_made_meanwhile_is_not_overwritten() -> None:
    h = make()
    h.autoscaler.upsert(h.cluster.snapshot())
    # the user pauses the application after the watch delivered it, before the patch
    h.clock.advance(30)
    h.cluster.edit(KEY, lambda b: b["metadata"]["annotations"].update({PREFIX + "mode": "paused"}))
    h.autoscaler.run_cycle()
    assert h.cluster.patches == []
    assert h.events.of(Reason.SCALING_DECISION) == []


# -- annotations -----------------------------------------------------------------------------


def test_a_bad_annotation_warns_once_and_keeps_the_last_good_settings() -> None:
    h = make({PREFIX + "mode": "recommend"})
    h.cycle()
    h.annotate(mode="fast")
    h.cycle()
    h.cycle()
    [warning] = h.events.of(Reason.INVALID_ANNOTATION)
    assert warning.type == "Warning"
    fields = parse_message(warning.message)
    assert fields["annotation"] == "hrl-autoscaler.io/mode"
    assert fields["value"] == "fast"
    assert fields["accepted"] == "one of auto, recommend, paused"
    assert fields["action"] == "keeping its last good value; the other annotations apply"
    assert h.cluster.patches == []  # still recommend, not the default auto


def test_last_good_settings_survive_an_operator_restart() -> None:
    store, clock = MemoryStore(), FakeClock()
    h = make({PREFIX + "mode": "recommend"}, store=store, clock=clock)
    h.cycle()
    h.annotate(mode="fast")
    restarted = make(store=store, clock=clock)
    restarted.cluster = h.cluster
    restarted.autoscaler.actuator = h.cluster
    restarted.cycle()
    assert h.cluster.patches == []
    assert restarted.events.of(Reason.INVALID_ANNOTATION)


# -- the slow loop ---------------------------------------------------------------------------


def _settings(**overrides: Any) -> OperatorSettings:
    return load_operator_settings(**overrides)


def test_meta_mode_patches_the_weights_each_meta_interval() -> None:
    h = make(settings=_settings(meta_interval_s=300.0), meta_weights=PRESETS["cost-first"])
    for _ in range(10):  # the window opens at the first cycle and closes 300 s later
        h.cycle()
    assert h.cluster.weight_patches() == []
    h.cycle()
    [patch] = h.cluster.weight_patches()
    assert patch == {
        PREFIX + "alpha": "0.900",
        PREFIX + "beta": "0.050",
        PREFIX + "gamma": "0.050",
        PREFIX + "last-meta": f"{h.clock.now():.3f}",  # the next window starts there
    }
    [event] = h.events.of(Reason.WEIGHTS_UPDATED)
    fields = parse_message(event.message)
    assert fields["weights"] == "0.333/0.333/0.333->0.900/0.050/0.050"
    assert fields["objective"] == "slo"
    assert fields["applied"] == "true"
    assert h.telemetry.metas
    assert h.telemetry.metas[0][0] == "slo"
    assert h.telemetry.weight_updates == ["slo"]
    # the meta observation: 10 window statistics, the last three the weights in force
    assert h.meta.observations[0][-3:] == pytest.approx([1 / 3] * 3, abs=1e-6)
    # the next fast decision reads the new weights
    h.cycle()
    assert tuple(h.policy.observations[-1][6:9]) == pytest.approx((0.9, 0.05, 0.05), abs=1e-3)
    stored = AppState.from_json(h.store.states[KEY])
    assert stored.meta[-1]["objective"] == "slo"


@pytest.mark.parametrize(
    "annotations",
    [
        {"weight-policy": "fixed", "alpha": "1", "beta": "2", "gamma": "1"},
        {"weight-policy": "cost-first"},
    ],
)
def test_fixed_weights_and_presets_are_never_patched(annotations: dict[str, str]) -> None:
    h = make(
        {PREFIX + k: v for k, v in annotations.items()},
        settings=_settings(meta_interval_s=60.0),
        wanted=2,
    )
    for _ in range(10):
        h.cycle()
    assert h.cluster.patches == []
    assert h.events.of(Reason.WEIGHTS_UPDATED) == []
    assert h.meta.observations == []


def test_recommend_mode_keeps_meta_weights_in_the_state_only() -> None:
    h = make({PREFIX + "mode": "recommend"}, settings=_settings(meta_interval_s=60.0), wanted=2)
    for _ in range(4):
        h.cycle()
    assert h.cluster.patches == []
    [event] = h.events.of(Reason.WEIGHTS_UPDATED)
    assert parse_message(event.message)["applied"] == "false"
    stored = AppState.from_json(h.store.states[KEY])
    assert stored.weights == pytest.approx(PRESETS["cost-first"].as_tuple())
    h.cycle()
    assert tuple(h.policy.observations[-1][6:9]) == pytest.approx((0.9, 0.05, 0.05), abs=1e-3)


def test_a_missing_meta_controller_keeps_the_weights_with_one_fallback_event() -> None:
    h = make(settings=_settings(meta_interval_s=60.0), wanted=2)
    h.autoscaler.meta_actors.clear()
    h.autoscaler.meta_errors["slo"] = "policies/meta-slo/metadata.json: missing"
    for _ in range(8):
        h.cycle()
    [event] = h.events.of(Reason.FALLBACK)
    assert parse_message(event.message)["detail"] == "policies/meta-slo/metadata.json: missing"
    assert h.cluster.patches == []


# -- state across operator restarts --------------------------------------------------------------


def test_a_restarted_operator_honours_the_cooldown_from_the_stored_state() -> None:
    store, clock = MemoryStore(), FakeClock()
    first = make(store=store, clock=clock)
    first.cycle()
    assert first.cluster.spec_patches() == [6]
    second = make(store=store, clock=clock, wanted=9)
    second.cluster = first.cluster
    second.autoscaler.actuator = first.cluster
    for _ in range(5):  # 150 s after the change: inside the 300 s cooldown
        second.cycle()
    assert first.cluster.spec_patches() == [6]
    second.cycle(160)
    assert first.cluster.spec_patches() == [6, 9]
    stored = AppState.from_json(store.states[KEY])
    assert [d["executors"] for d in stored.decisions] == ["2->6", "6->9"]


def test_a_restarted_operator_resumes_the_forecasts_input_history() -> None:
    """The anticipation's input history is checkpointed into the state (at the first decision,
    then every input_checkpoint_s) and a successor resumes it, the decision it missed filled
    with the last stored rate."""
    store, clock = MemoryStore(), FakeClock()
    first = make(store=store, clock=clock)
    for i in range(12):  # 330 s: checkpoints at the first decision and 300 s later
        first.source.samples[KEY] = sample(input_eps=1000.0 + 100.0 * i)
        first.cycle()
    stored = AppState.from_json(store.states[KEY])
    assert stored.inputs == [1000.0 + 100.0 * i for i in range(11)]
    second = make(store=store, clock=clock)
    second.cluster = first.cluster
    second.autoscaler.actuator = first.cluster
    second.source.samples[KEY] = sample(input_eps=2500.0)
    second.cycle()
    runtime = second.autoscaler.runtime(KEY)
    assert runtime is not None
    assert list(runtime.decision_step.anticipation.rates) == [*stored.inputs, 2000.0, 2500.0]


def test_a_crash_between_the_patch_and_the_state_write_keeps_the_cooldown() -> None:
    """The scale record travels in the scaling patch itself: a successor that finds no stored
    change (the state write never happened) still honours the cooldown, and does not act
    twice."""
    clock = FakeClock()

    class Crashing(MemoryStore):
        def save(self, app: AppSnapshot, state: AppState) -> None:
            raise SystemExit("killed between the patch and the state write")

    first = make(clock=clock)
    first.autoscaler.store = Crashing()
    with pytest.raises(SystemExit):
        first.cycle()
    assert first.cluster.spec_patches() == [6]
    patched_at = clock.now()
    second = make(clock=clock, wanted=9)  # an empty store: nothing was persisted
    second.cluster = first.cluster
    second.autoscaler.actuator = first.cluster
    for _ in range(9):  # 270 s after the change: inside the 300 s cooldown
        second.cycle()
    assert first.cluster.spec_patches() == [6]
    assert AppState.from_json(second.store.states[KEY]).last_change_at == pytest.approx(
        patched_at, abs=1e-3
    )
    second.cycle(31.0)
    assert first.cluster.spec_patches() == [6, 9]


def test_a_scale_record_from_the_future_blocks_nothing() -> None:
    """A copied or forged ``last-scale`` far ahead of the clock is not a cooldown."""
    clock = FakeClock()
    h = make({PREFIX + "last-scale": f"{clock.now() + 86400:.3f}/4"}, clock=clock)
    h.cycle()
    assert h.cluster.spec_patches() == [6]


def test_an_unreadable_state_store_holds_every_decision() -> None:
    store = MemoryStore()
    store.broken = True
    h = make(store=store)
    summary = h.cycle()
    assert summary.skipped == "API server unreachable"
    assert h.cluster.patches == []
    store.broken = False
    h.cycle()
    assert h.cluster.spec_patches() == [6]


def test_state_is_written_only_when_it_changes() -> None:
    h = make(wanted=2)
    h.source.samples[KEY] = sample(active=0.0)  # no capacity measurement: nothing changes
    h.cycle()
    saves = h.store.saves
    for _ in range(5):
        h.cycle()
    assert h.store.saves == saves


def test_unlabelled_and_deleted_applications_are_forgotten() -> None:
    h = make()
    h.cycle()
    h.cluster.edit(
        KEY, lambda b: b["metadata"]["labels"].update({"hrl-autoscaler.io/enabled": "no"})
    )
    h.cycle()
    assert h.autoscaler.apps == []
    assert h.telemetry.forgotten == [KEY]


def test_many_applications_share_one_collection_per_cycle() -> None:
    h = make()
    for i in range(50):
        name = f"app-{i}"
        h.cluster.add(app_body(name=name))
        h.source.samples[AppKey(KEY.namespace, name)] = sample()
    summary = h.cycle()
    assert len(h.source.calls) == 1
    assert len(h.source.calls[0]) == 51
    assert summary.decided == 51


def test_an_older_watch_event_does_not_replace_a_newer_object() -> None:
    h = make({PREFIX + "actuation": "in-place"})
    stale = h.cluster.snapshot()
    h.cycle()  # patches the target to 6; the autoscaler keeps the patched object
    h.autoscaler.upsert(stale)
    h.policy.wanted = 6
    h.clock.advance(30)
    h.autoscaler.run_cycle()
    assert h.telemetry.decisions[-1].current == 6
    assert [a[TARGET_ANNOTATION] for a in h.cluster.annotation_patches()] == ["6"]


def test_a_corrupt_stored_state_does_not_stop_the_cycle() -> None:
    store = MemoryStore()
    broken = AppState(last_good_settings={"mode": "sideways"})
    store.states[KEY] = broken.to_json()
    h = make(store=store)
    h.cycle()
    assert h.cluster.spec_patches() == [6]  # decided on the annotations, state reset
