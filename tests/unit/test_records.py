"""Crash consistency by design: every action's patch carries its own record, and a successor
(or the same operator, on any watch event) adopts it, whatever state the crash left behind."""

from __future__ import annotations

import json

import pytest

from hrl_autoscaler.config import EXECUTORS_LIMIT, load_operator_settings
from hrl_autoscaler.runtime.core.annotations import LAST_META_ANNOTATION, LAST_SCALE_ANNOTATION
from hrl_autoscaler.runtime.core.application import AppSnapshot, scale_patch, weights_patch
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.ports import ScaleIntent
from hrl_autoscaler.runtime.core.records import (
    ScaleRecord,
    decision_id,
    parse_meta_record,
    parse_scale_record,
)
from hrl_autoscaler.runtime.core.weights import PRESETS

from .test_pipeline import KEY, FakeClock, MemoryStore, make

AT = 1_700_000_000.25


def test_the_scale_patch_is_the_action_and_its_record_in_one_write() -> None:
    record = ScaleIntent(6, "restart", AT, previous=2, controller="ppo", decision_id="abc").record()
    body = scale_patch(record, "restart")
    assert body["spec"] == {"executor": {"instances": 6}}
    written = json.loads(body["metadata"]["annotations"][LAST_SCALE_ANNOTATION])
    assert written == {
        "at": AT,
        "to": 6,
        "from": 2,
        "by": "restart",
        "controller": "ppo",
        "id": "abc",
    }
    in_place = scale_patch(record, "in-place")
    assert "spec" not in in_place
    assert in_place["metadata"]["annotations"]["hrl-autoscaler.io/target-executors"] == "6"
    assert parse_scale_record(in_place["metadata"]["annotations"]) == record


def test_a_record_round_trips_and_the_old_format_still_reads() -> None:
    record = ScaleRecord(AT, 6, 2, "in-place", "ds2+slo-guard", decision_id("u", AT, 2, 6))
    assert parse_scale_record(record.annotation()) == record
    assert parse_scale_record({LAST_SCALE_ANNOTATION: "1700000000.250/4"}) == ScaleRecord(AT, 4)


def test_the_decision_id_is_stable_and_distinguishes_decisions() -> None:
    assert decision_id("u", AT, 2, 6) == decision_id("u", AT, 2, 6)
    assert len({decision_id("u", AT, 2, 6), decision_id("u", AT + 1, 2, 6)}) == 2
    assert len({decision_id("u", AT, 2, 6), decision_id("v", AT, 2, 6)}) == 2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "1/2/3",
        "nan/4",
        "-5/4",
        "1700000000/0",
        f"1700000000/{EXECUTORS_LIMIT + 1}",
        "{",
        "[]",
        '{"at": "1700000000", "to": 4}',
        '{"at": true, "to": 4}',
        '{"at": 1700000000, "to": 4.5}',
        '{"at": 1700000000, "to": true}',
        '{"at": 1700000000}',
        '{"at": 1e400, "to": 4}',
        '{"at": 1700000000, "to": 4, "from": 0}',
        '{"at": 1700000000, "to": 4, "by": "teleport"}',
        '{"at": 1700000000, "to": 4, "id": 7}',
        "[" * 100_000,
    ],
)
def test_a_malformed_record_is_no_record(text: str) -> None:
    assert parse_scale_record({LAST_SCALE_ANNOTATION: text}) is None


def test_the_meta_record_travels_with_the_weights() -> None:
    body = weights_patch(PRESETS["cost-first"], AT)
    assert parse_meta_record(body["metadata"]["annotations"]) == pytest.approx(AT, abs=1e-3)
    assert (
        LAST_META_ANNOTATION not in weights_patch(PRESETS["cost-first"])["metadata"]["annotations"]
    )
    for bad in ("", "soon", "nan", "-1", "inf"):
        assert parse_meta_record({LAST_META_ANNOTATION: bad}) is None


class Crashing(MemoryStore):
    """The operator dies between the patch and the state write (SIGKILL at the worst time)."""

    def save(self, app: AppSnapshot, state: AppState) -> None:
        raise SystemExit("killed between the patch and the state write")


def test_a_successor_restores_the_lost_history_entry_and_saves_a_consistent_state() -> None:
    clock = FakeClock()
    first = make(clock=clock)
    first.autoscaler.store = Crashing()
    with pytest.raises(SystemExit):
        first.cycle()
    [(_, patch)] = first.cluster.patches
    record = parse_scale_record(patch["metadata"]["annotations"])
    assert record is not None
    assert (record.previous, record.target, record.actuation) == (2, 6, "restart")
    assert record.controller
    second = make(clock=clock, wanted=6)
    second.cluster = first.cluster
    second.autoscaler.actuator = first.cluster
    second.cycle()
    saved = AppState.from_json(second.store.states[KEY])
    assert (saved.last_change_at, saved.last_target) == (pytest.approx(record.at, abs=1e-3), 6)
    [entry] = saved.decisions
    assert (entry["id"], entry["executors"], entry["direction"], entry["actuation"]) == (
        record.decision_id,
        "2->6",
        "up",
        "restart",
    )
    for _ in range(3):  # the same record seen again is the same decision: no second entry
        second.cycle()
    assert len(AppState.from_json(second.store.states[KEY]).decisions) == 1
    assert first.cluster.spec_patches() == [6]


def test_the_saved_entry_and_the_record_are_one_decision() -> None:
    """No crash: the history entry the operator saved carries the record's id, so a successor
    that finds both restores nothing."""
    clock, store = FakeClock(), MemoryStore()
    first = make(clock=clock, store=store)
    first.cycle()
    second = make(clock=clock, store=store)
    second.cluster = first.cluster
    second.autoscaler.actuator = first.cluster
    second.cycle()
    [entry] = AppState.from_json(store.states[KEY]).decisions
    record = parse_scale_record(first.cluster.snapshot().annotations)
    assert record is not None
    assert entry["id"] == record.decision_id
    assert "recovered" not in entry


def test_a_record_seen_while_running_moves_the_live_cooldown() -> None:
    """Level-triggered: a scaling action by another writer (a replica before it lost its lease)
    delivered by the watch starts the cooldown here too."""
    clock = FakeClock()
    h = make(clock=clock, wanted=2)
    h.cycle()
    assert h.cluster.spec_patches() == []

    def scaled_elsewhere(body: dict[str, object]) -> None:
        meta = body["metadata"]
        spec = body["spec"]
        assert isinstance(meta, dict)
        assert isinstance(spec, dict)
        meta["annotations"].update(
            ScaleRecord(clock.now(), 4, 2, "restart", "ppo", "x").annotation()
        )
        spec["executor"]["instances"] = 4

    h.cluster.edit(KEY, scaled_elsewhere)
    h.policy.wanted = 9
    for _ in range(9):  # 270 s: inside the 300 s restart cooldown from the other write
        h.cycle()
    assert h.cluster.spec_patches() == []
    h.cycle(31.0)
    assert h.cluster.spec_patches() == [9]


def test_a_successor_does_not_update_the_weights_again_within_the_meta_interval() -> None:
    clock = FakeClock()
    settings = load_operator_settings(meta_interval_s=300.0)
    stale = MemoryStore()
    first = make(settings=settings, clock=clock, store=stale, wanted=2)
    for _ in range(11):  # the window opens, closes 300 s later and the weights are patched
        first.cycle()
    assert len(first.cluster.weight_patches()) == 1
    state = AppState.from_json(stale.states[KEY])
    state.meta_window_started_at = clock.now() - 330.0  # the save after the patch was lost
    stale.states[KEY] = state.to_json()
    second = make(settings=settings, clock=clock, store=stale, wanted=2)
    second.cluster = first.cluster
    second.autoscaler.actuator = first.cluster
    for _ in range(9):  # not before 300 s after the update ...
        second.cycle()
    assert len(first.cluster.weight_patches()) == 1
    second.cycle()  # ... and then on time
    assert len(first.cluster.weight_patches()) == 2
