"""One application's problem stays that application's problem (issue 17).

Each test puts two applications in one cycle, breaks one of them at one step, and checks that
the other is still decided, that the broken one is named in a Warning event once (not once per
cycle), and that the failure is counted by stage. The harness is the decision loop's own
(:mod:`tests.unit.test_pipeline`): a fake clock, scripted metrics, a recording API server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hrl_autoscaler.config import load_operator_settings
from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.ports import ActuationResult, CycleSummary, Precondition
from hrl_autoscaler.runtime.core.reporting import Reason, parse_message
from hrl_autoscaler.runtime.core.sampling import Collection
from hrl_autoscaler.runtime.core.weights import PRESETS, Weights
from hrl_autoscaler.runtime.service.loop import FAILED_TICKS_UNHEALTHY, DecisionLoop

from .test_pipeline import KEY, Harness, app_body, make, sample

OTHER = AppKey(KEY.namespace, "metering")


def two_apps(other_annotations: dict[str, str] | None = None, **kwargs: Any) -> Harness:
    """KEY (healthy, in-place) and OTHER (the one a test breaks), both wanting 6 executors."""
    h = make({PREFIX + "actuation": "in-place"}, **kwargs)
    annotations = {PREFIX + "actuation": "in-place", **(other_annotations or {})}
    h.cluster.add(app_body(annotations, name=OTHER.name))
    h.source.samples[OTHER] = sample()
    return h


def targets(h: Harness, key: AppKey) -> list[str]:
    return [
        b["metadata"]["annotations"][PREFIX + "target-executors"]
        for k, b in h.cluster.patches
        if k == key and PREFIX + "target-executors" in b["metadata"]["annotations"]
    ]


def step_failures(h: Harness, key: AppKey) -> list[dict[str, str]]:
    return [
        parse_message(e.message)
        for k, e in h.events.events
        if k == key and e.reason == Reason.STEP_FAILED
    ]


# -- the reported outage -----------------------------------------------------------------------


def test_the_reported_annotation_set_halts_nobody() -> None:
    """``weight-policy=fixed alpha=beta=gamma=1e308`` on one application once failed every
    cycle for every application; now it is an InvalidAnnotation on that one."""
    h = two_apps(
        {
            PREFIX + "weight-policy": "fixed",
            PREFIX + "alpha": "1e308",
            PREFIX + "beta": "1e308",
            PREFIX + "gamma": "1e308",
        }
    )
    summary = h.cycle()
    assert summary.decided == 2
    assert summary.failed == {}
    assert targets(h, KEY) == ["6"]
    assert targets(h, OTHER) == ["6"]
    rejected = {
        parse_message(e.message)["annotation"]
        for k, e in h.events.events
        if k == OTHER and e.reason == Reason.INVALID_ANNOTATION
    }
    assert rejected == {PREFIX + "alpha", PREFIX + "beta", PREFIX + "gamma"}


# -- every step isolated -------------------------------------------------------------------------


class _Exploding(Mapping[str, str]):
    """Annotations whose lookup raises: stands for any input the settings step chokes on."""

    def __init__(self, inner: Mapping[str, str]) -> None:
        self.inner = dict(inner)

    def __getitem__(self, key: str) -> str:
        raise RuntimeError("annotation lookup exploded")

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("annotation lookup exploded")

    def __iter__(self) -> Iterator[str]:
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def _break_prepare(h: Harness) -> None:
    upsert = h.autoscaler.upsert

    def poisoned(snapshot: AppSnapshot) -> None:
        if snapshot.key == OTHER:
            snapshot = AppSnapshot(
                snapshot.key,
                snapshot.uid,
                snapshot.resource_version,
                _Exploding(snapshot.annotations),
                snapshot.labels,
                snapshot.spec_executors,
                snapshot.state,
                snapshot.app_id,
            )
        upsert(snapshot)

    h.autoscaler.upsert = poisoned  # type: ignore[method-assign]


def _break_report(h: Harness) -> None:
    def app_seen(key: AppKey, *_: Any) -> None:
        if key == OTHER:
            raise ValueError("weights normalise to 0")

    h.telemetry.app_seen = app_seen  # type: ignore[method-assign]


def _break_decide(h: Harness) -> None:
    patch = h.cluster.patch

    def flaky(key: AppKey, body: dict[str, Any], precondition: Precondition) -> ActuationResult:
        if key == OTHER:
            raise ConnectionResetError("adapter bug")
        return patch(key, body, precondition)

    h.cluster.patch = flaky  # type: ignore[method-assign]


def _break_meta(h: Harness) -> None:
    calls = {"n": 0}
    out = h.meta.out

    def weights(obs: np.ndarray) -> Weights:
        calls["n"] += 1
        if calls["n"] % 2 == 0:  # the second app of each meta step (sorted: metering last)
            raise FloatingPointError("actor produced NaN")
        return out

    h.meta.weights = weights  # type: ignore[method-assign]


def _break_persist(h: Harness) -> None:
    save = h.store.save

    def picky(app: AppSnapshot, state: AppState) -> None:
        if app.key == OTHER:
            raise TypeError("unexpected API response")
        save(app, state)

    h.store.save = picky  # type: ignore[method-assign]


BREAKERS = {
    "prepare": _break_prepare,
    "report": _break_report,
    "decide": _break_decide,
    "meta": _break_meta,
    "persist": _break_persist,
}


@pytest.mark.parametrize("stage", sorted(BREAKERS))
def test_a_step_that_raises_for_one_application_spares_the_others(stage: str) -> None:
    # the meta step every other cycle (a window of one sample), to see it fail twice
    settings = load_operator_settings(meta_interval_s=30.0, meta_min_samples=1)
    h = two_apps(settings=settings)
    BREAKERS[stage](h)
    summaries = [h.cycle() for _ in range(5)]
    assert targets(h, KEY) == ["6"], f"the healthy application was not decided ({stage})"
    assert sum(s.failed.get(stage, 0) for s in summaries) >= 2, summaries
    assert h.telemetry.failed_steps.count(stage) >= 2  # counted every time...
    [event] = [e for e in step_failures(h, OTHER) if e["stage"] == stage]  # ...reported once
    assert event["action"] == "holding this application; the others are unaffected"
    assert step_failures(h, KEY) == []
    warning = next(e for _, e in h.events.events if e.reason == Reason.STEP_FAILED)
    assert warning.type == "Warning"


def test_a_recovered_step_is_reported_again_when_it_fails_anew() -> None:
    h = two_apps()
    seen = {"fail": True}

    def app_seen(key: AppKey, *_: Any) -> None:
        if key == OTHER and seen["fail"]:
            raise ValueError("first problem")

    h.telemetry.app_seen = app_seen  # type: ignore[method-assign]
    h.cycle()
    seen["fail"] = False
    h.cycle()
    seen["fail"] = True
    h.cycle()
    assert len(step_failures(h, OTHER)) == 2


def test_a_collector_that_raises_makes_everyone_hold_not_crash() -> None:
    h = two_apps()

    def broken(apps: Any) -> Collection:
        raise KeyError("metric")

    h.source.collect = broken  # type: ignore[method-assign]
    summary = h.cycle()
    assert summary.failed == {"collect": 1}
    assert summary.decided == 0
    assert summary.prometheus_error is not None
    assert "KeyError" in summary.prometheus_error
    assert h.cluster.patches == []


# -- meta weights: never claimed when not in force (issue 17.2) ------------------------------------


def test_an_invalid_unrelated_annotation_does_not_freeze_the_meta_weights() -> None:
    settings = load_operator_settings(meta_interval_s=60.0)
    h = make({PREFIX + "min-executors": "2"}, settings=settings, wanted=2)
    h.cycle()  # valid once: these are the last good settings
    h.annotate(min_executors="abc")
    for _ in range(3):
        h.cycle()
    assert h.events.of(Reason.INVALID_ANNOTATION)
    [event] = h.events.of(Reason.WEIGHTS_UPDATED)
    assert parse_message(event.message)["applied"] == "true"
    h.cycle()  # the fast loop decides on the new weights
    assert tuple(h.policy.observations[-1][6:9]) == pytest.approx((0.9, 0.05, 0.05), abs=1e-3)
    h.meta.out = PRESETS["latency-first"]
    for _ in range(3):
        h.cycle()
    updates = [parse_message(e.message)["weights"] for e in h.events.of(Reason.WEIGHTS_UPDATED)]
    assert updates == [
        "0.333/0.333/0.333->0.900/0.050/0.050",
        "0.900/0.050/0.050->0.050/0.900/0.050",
    ]


def test_weights_that_could_not_be_written_are_a_warning_not_an_update() -> None:
    h = make(settings=load_operator_settings(meta_interval_s=60.0), wanted=2)
    h.cluster.fail_with = "HTTP 500: etcd timeout"
    for _ in range(4):
        h.cycle()
    assert h.events.of(Reason.WEIGHTS_UPDATED) == []
    [warning] = h.events.of(Reason.WEIGHTS_NOT_APPLIED)
    fields = parse_message(warning.message)
    assert warning.type == "Warning"
    assert fields["applied"] == "false"
    assert fields["in_force"] == "0.333/0.333/0.333"
    assert fields["wanted"] == "0.900/0.050/0.050"
    assert "etcd timeout" in fields["detail"]


def test_weights_written_but_not_in_force_are_a_warning_not_an_update() -> None:
    """Whatever keeps the written weights from taking effect (here the API server answers with
    an object whose weights differ, as a competing writer or a webhook would), no event says
    they were applied."""
    h = make(settings=load_operator_settings(meta_interval_s=60.0), wanted=2)
    patch = h.cluster.patch

    def overwritten(key: AppKey, body: dict[str, Any], precondition: Precondition) -> Any:
        result = patch(key, body, precondition)
        h.cluster.edit(key, lambda b: b["metadata"]["annotations"].update({PREFIX + "alpha": "5"}))
        return ActuationResult(result.applied, result.detail, h.cluster.snapshot(key))

    h.cluster.patch = overwritten  # type: ignore[method-assign]
    for _ in range(4):
        h.cycle()
    assert h.events.of(Reason.WEIGHTS_UPDATED) == []
    [warning] = h.events.of(Reason.WEIGHTS_NOT_APPLIED)
    assert parse_message(warning.message)["wanted"] == "0.900/0.050/0.050"


# -- health (issue 17.1, 17.4) -------------------------------------------------------------------


class _Autoscaler:
    def __init__(self) -> None:
        self.error: Exception | None = RuntimeError("weights normalise to 0")
        self.prometheus_error: str | None = None

    def run_cycle(self) -> CycleSummary:
        if self.error is not None:
            raise self.error
        return CycleSummary(1, 1, 0, 0, 1, 10, 0.01, prometheus_error=self.prometheus_error)

    def reload_state(self) -> None:
        return None


def _loop(autoscaler: _Autoscaler) -> tuple[DecisionLoop, list[str]]:
    failed: list[str] = []
    metrics = SimpleNamespace(leader=SimpleNamespace(set=lambda _: None), step_failed=failed.append)
    settings = load_operator_settings(decision_interval_s=0.01)
    op = SimpleNamespace(settings=settings, autoscaler=autoscaler, metrics=metrics, peering=None)
    return DecisionLoop(op), failed  # type: ignore[arg-type]


def _run(loop: DecisionLoop, seconds: float) -> None:
    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(loop.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task

    asyncio.run(go())


def test_health_fails_while_ticks_keep_failing_and_recovers() -> None:
    autoscaler = _Autoscaler()
    loop, failed = _loop(autoscaler)
    _run(loop, 0.2)
    ok, why = loop.healthy()
    assert not ok
    assert "decision ticks failed in a row: RuntimeError: weights normalise to 0" in why
    assert loop.failed_ticks >= FAILED_TICKS_UNHEALTHY
    assert set(failed) == {"cycle"}
    assert loop.ready() == (False, "first tick failed: RuntimeError: weights normalise to 0")
    autoscaler.error = None
    _run(loop, 0.05)
    assert loop.healthy()[0]
    assert loop.ready()[0]


def test_health_fails_when_no_tick_completes_in_time() -> None:
    loop, _ = _loop(_Autoscaler())
    assert loop.healthy() == (True, "starting")
    loop.started -= loop.stall_limit_s + 1  # a first cycle hung since start
    ok, why = loop.healthy()
    assert not ok
    assert why.startswith("no decision tick completed for")


def test_a_prometheus_outage_is_said_by_health_but_keeps_it_live() -> None:
    autoscaler = _Autoscaler()
    autoscaler.error = None
    autoscaler.prometheus_error = "no answer within the cycle's deadline of 5 s"
    loop, _ = _loop(autoscaler)
    _run(loop, 0.1)
    ok, why = loop.healthy()
    assert ok
    assert "degraded: every application holding: Prometheus unavailable for" in why
    assert "deadline of 5 s" in why
