"""SIGKILL the operator at random points across scaling cycles, on the real control plane.

The emulator runs one application in ``restart`` actuation under a load that swings between
high and low, so the operator keeps scaling it up and down. The operator is killed (SIGKILL, no
goodbye) again and again - during start-up, at a random moment while it runs, and right after
one of its scaling patches landed (before it could save its state ConfigMap: the window the
scale record closes) - and started again each time. A watch on the SparkApplication sees every
version of the object; from it the test counts:

- actions: distinct scale records (``hrl-autoscaler.io/last-scale``) that came with a change of
  ``spec.executor.instances``;
- extra restarts: resubmissions (``status.submissionAttempts``) beyond one per action;
- duplicate actions: a record written twice, a spec change without a new record, or an action
  decided from a count that was no longer in force (``from`` is not the previous ``to``);
- lost cooldowns: consecutive actions closer than the application's cooldown (by the records'
  decision times, and by when the watch saw them, less one cycle of slack);
- inconsistent restarts: a started operator whose state ConfigMap did not, within a few cycles,
  agree with the object's last scale record (time, target, the decision in the history) and
  hold the decision the killed operator left on the object (its history entry, lost when the
  kill came between the patch and the state save, must be restored).

Every bad count must be 0.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.application import GROUP, PLURAL, VERSION
from hrl_autoscaler.runtime.core.records import ScaleRecord, parse_scale_record
from hrl_autoscaler.runtime.k8s.statestore import STATE_KEY, configmap_name
from hrl_autoscaler.tools.devenv.components import OperatorProcess
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    app_state,
    spark_application,
    wait_for,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

SPEED = 30.0
KILLS = 55
COOLDOWN_S = 4.0
"""The application's ``cooldown-seconds``: short, so a few minutes hold many scaling cycles."""
LOAD_PERIOD_S = 6.0
"""The load swings between high and low this often (real seconds)."""
HIGH_EPS, LOW_EPS = 9000.0, 300.0
CONSISTENT_WITHIN_S = 10.0
"""How long a started operator may take to bring its state in line with the object."""
NAME = "crash-app"


@dataclass
class Seen:
    """One version of the SparkApplication, as the watch delivered it."""

    at: float
    resource_version: int
    instances: int
    attempts: int
    record: ScaleRecord | None


@dataclass
class Watcher:
    """Every version of one SparkApplication, in order (a watch, resumed after a 410)."""

    api: k8s_client.ApiClient
    namespace: str
    name: str
    seen: list[Seen] = field(default_factory=list)
    new_record: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True, name="crash-watch")
        thread.start()
        return thread

    def _add(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        rv = int(meta.get("resourceVersion") or 0)
        if self.seen and rv <= self.seen[-1].resource_version:
            return
        record = parse_scale_record(meta.get("annotations") or {})
        status = obj.get("status") or {}
        seen = Seen(
            time.time(),
            rv,
            int(((obj.get("spec") or {}).get("executor") or {}).get("instances") or 1),
            int(status.get("submissionAttempts") or 0),
            record,
        )
        if self.seen and record is not None and record != self.seen[-1].record:
            self.new_record.set()
        self.seen.append(seen)

    def _run(self) -> None:
        objects = k8s_client.CustomObjectsApi(self.api)
        rv = ""
        while not self.stop.is_set():
            try:
                if not rv:
                    obj = objects.get_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, PLURAL, self.name
                    )
                    self._add(obj)
                    rv = str(obj["metadata"]["resourceVersion"])
                stream = k8s_watch.Watch().stream(
                    objects.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    field_selector=f"metadata.name={self.name}",
                    resource_version=rv,
                    timeout_seconds=5,
                )
                for event in stream:
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        rv = ""  # 410 Gone: read the object again, then watch from there
                        break
                    self._add(obj)
                    rv = str(obj["metadata"]["resourceVersion"])
                    if self.stop.is_set():
                        break
            except ApiException as exc:
                if exc.status != 410:
                    self.errors.append(f"{exc.status} {exc.reason}")
                rv = ""
            except Exception as exc:  # a dropped connection: resume from the last version
                self.errors.append(repr(exc))
                time.sleep(0.2)


@dataclass
class Counts:
    kills: int = 0
    kills_by_point: dict[str, int] = field(default_factory=dict)
    starts: int = 0
    consistency_checks: int = 0
    inconsistent: list[str] = field(default_factory=list)
    actions: int = 0
    restarts: int = 0
    extra_restarts: int = 0
    duplicates: list[str] = field(default_factory=list)
    lost_cooldowns: list[str] = field(default_factory=list)
    min_gap_records_s: float = float("inf")
    min_gap_seen_s: float = float("inf")


@pytest.fixture(scope="module")
def stack(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(
        work_dir=tmp_path_factory.mktemp("crash-emulator"),
        env=devenv.env,
        speed=SPEED,
        emulator_tick_s=0.2,
        operator=False,
    )
    with LocalStack(options) as local:
        yield local


@pytest.fixture
def namespace(devenv: DevEnvHandle) -> Iterator[str]:
    cluster = Cluster(devenv.api_client)
    cluster.ensure_namespace("crash-consistency")
    try:
        yield "crash-consistency"
    finally:
        cluster.delete_all("crash-consistency")


def _state(cluster: Cluster, namespace: str) -> dict[str, Any] | None:
    cm = cluster.configmap(namespace, configmap_name(NAME))
    if cm is None:
        return None
    return dict(json.loads((cm.get("data") or {}).get(STATE_KEY) or "{}"))


def _record(cluster: Cluster, namespace: str) -> ScaleRecord | None:
    return parse_scale_record(cluster.get(namespace, NAME)["metadata"].get("annotations") or {})


def _consistent(
    cluster: Cluster, namespace: str, inherited: ScaleRecord | None = None
) -> str | None:
    """None when the state ConfigMap agrees with the object's last scale record and holds the
    decision ``inherited`` (the last action when the operator was started), else why."""
    record = _record(cluster, namespace)
    if record is None:
        return None  # nothing scaled yet: nothing to agree on
    state = _state(cluster, namespace)
    if state is None:
        return "no state ConfigMap"
    if inherited is not None and inherited.decision_id not in [
        d.get("id") for d in state.get("decisions") or []
    ]:
        return f"the inherited decision {inherited.decision_id} is not in the history"
    if state.get("last_change_at") is None or abs(state["last_change_at"] - record.at) > 1e-3:
        return f"last_change_at {state.get('last_change_at')} != record {record.at}"
    if state.get("last_target") != record.target:
        return f"last_target {state.get('last_target')} != record {record.target}"
    ids = [d.get("id") for d in state.get("decisions") or []]
    if record.decision_id not in ids:
        return f"decision {record.decision_id} not in the history {ids[-3:]}"
    return None


def _swing_load(cluster: Cluster, namespace: str, stop: threading.Event) -> None:
    high = False
    while not stop.wait(LOAD_PERIOD_S):
        high = not high
        # a conflict with the emulator's status write: the next swing goes through
        with contextlib.suppress(ApiException):
            cluster.set_rate(namespace, NAME, HIGH_EPS if high else LOW_EPS)


def _analyse(seen: list[Seen], counts: Counts, decision_interval_s: float) -> None:
    """Actions, restarts, duplicates and cooldowns from every version the watch saw."""
    actions: list[tuple[Seen, ScaleRecord]] = []
    ids: set[str] = set()
    for before, after in itertools.pairwise(seen):
        record = after.record
        new_record = record is not None and record != before.record
        if after.instances != before.instances and not new_record:
            counts.duplicates.append(
                f"rv {after.resource_version}: spec {before.instances} -> {after.instances} "
                "without a new scale record"
            )
        if not new_record or record is None:
            continue
        if record.decision_id in ids:
            counts.duplicates.append(f"decision {record.decision_id} written again")
        ids.add(str(record.decision_id))
        if after.instances != record.target:
            counts.duplicates.append(f"record to {record.target} but spec {after.instances}")
        if record.previous != before.instances:
            counts.duplicates.append(
                f"decision {record.decision_id} from {record.previous} while "
                f"{before.instances} were in force"
            )
        if actions:
            last_seen, last = actions[-1]
            gap = record.at - last.at
            seen_gap = after.at - last_seen.at
            counts.min_gap_records_s = min(counts.min_gap_records_s, gap)
            counts.min_gap_seen_s = min(counts.min_gap_seen_s, seen_gap)
            if gap < COOLDOWN_S - 1e-3 or seen_gap < COOLDOWN_S - decision_interval_s:
                counts.lost_cooldowns.append(
                    f"{last.previous}->{last.target} then {record.previous}->{record.target}: "
                    f"{gap:.2f} s apart by the records, {seen_gap:.2f} s as seen"
                )
        actions.append((after, record))
    counts.actions = len(actions)
    counts.restarts = seen[-1].attempts - seen[0].attempts
    counts.extra_restarts = max(0, counts.restarts - counts.actions)


def _kill_after_a_scale(watcher: Watcher, timeout_s: float) -> bool:
    """Wait for the next scaling patch (True) or give up after ``timeout_s``."""
    watcher.new_record.clear()
    return watcher.new_record.wait(timeout_s)


def test_sigkill_at_random_points_loses_no_cooldown_and_repeats_no_action(
    devenv: DevEnvHandle, stack: LocalStack, namespace: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    rng = random.Random(16)  # noqa: S311 - a reproducible kill schedule, not a secret
    cluster = Cluster(devenv.api_client)
    settings = {
        "actuation": "restart",
        "weight-policy": "latency-first",
        "cooldown-seconds": f"{COOLDOWN_S:g}",
        "ineffective-scaling-detection": "false",
        "max-executors": "10",
    }
    cluster.create(namespace, spark_application(NAME, 2, settings, rate_eps=HIGH_EPS))
    wait_for(
        "the application to run",
        lambda: app_state(cluster.get(namespace, NAME)) == "RUNNING",
        timeout_s=20.0,
    )
    config = stack.operator_config(
        namespaces=[namespace],
        # the restart hold off: it holds the swings' changes as not worth a restart (on, with a
        # 1- or 4-decision window: one action in 55 kills), and this test needs many restarts
        guardrails={"scale_down_confirmations": 1, "restart_hold": {"enabled": False}},
    )
    decision_interval_s = float(config["decision_interval_s"])
    watcher = Watcher(devenv.api_client, namespace, NAME)
    watch_thread = watcher.start()
    stop_load = threading.Event()
    load = threading.Thread(target=_swing_load, args=(cluster, namespace, stop_load), daemon=True)
    load.start()
    counts = Counts()
    operator: OperatorProcess | None = None
    try:
        for i in range(KILLS):
            inherited = _record(cluster, namespace)  # what the killed operator left
            operator = stack.start_operator(f"op-{i}", config=config, work_dir=tmp_path, wait=False)
            counts.starts += 1
            point = rng.choice(("start-up", "running", "running", "after-scale", "after-scale"))
            if point == "start-up":
                time.sleep(rng.uniform(0.0, 1.5))
            else:
                operator.wait_ready()
                deadline = time.monotonic() + CONSISTENT_WITHIN_S
                why = _consistent(cluster, namespace, inherited)
                while why is not None and time.monotonic() < deadline:
                    time.sleep(0.1)
                    why = _consistent(cluster, namespace, inherited)
                counts.consistency_checks += 1
                if why is not None:
                    counts.inconsistent.append(f"start {i}: {why}")
                if point == "running":
                    time.sleep(rng.uniform(0.0, 2.5))
                elif not _kill_after_a_scale(watcher, 3 * COOLDOWN_S):
                    point = "after-scale (none came)"
            operator.kill()
            operator.stop()
            counts.kills += 1
            counts.kills_by_point[point] = counts.kills_by_point.get(point, 0) + 1
        # a last operator that lives: it must agree with the object too
        operator = stack.start_operator("op-last", config=config, work_dir=tmp_path)
        time.sleep(2 * COOLDOWN_S)
        why = _consistent(cluster, namespace)
        deadline = time.monotonic() + CONSISTENT_WITHIN_S
        while why is not None and time.monotonic() < deadline:
            time.sleep(0.1)
            why = _consistent(cluster, namespace)
        counts.consistency_checks += 1
        if why is not None:
            counts.inconsistent.append(f"last start: {why}")
    finally:
        stop_load.set()
        if operator is not None:
            operator.stop()
        time.sleep(1.0)  # the last versions reach the watch
        watcher.stop.set()
        watch_thread.join(timeout=10)
    _analyse(watcher.seen, counts, decision_interval_s)
    wall_s = time.monotonic() - started
    print(
        f"\ncrash test: {counts.kills} SIGKILLs {counts.kills_by_point}, {counts.starts + 1} "
        f"operator starts, {counts.actions} scaling actions, {counts.restarts} application "
        f"restarts ({counts.extra_restarts} extra), {len(counts.duplicates)} duplicate actions, "
        f"{len(counts.lost_cooldowns)} lost cooldowns (closest actions "
        f"{counts.min_gap_records_s:.2f} s apart by the records, {counts.min_gap_seen_s:.2f} s "
        f"as seen; cooldown {COOLDOWN_S:g} s), {len(counts.inconsistent)} of "
        f"{counts.consistency_checks} restarts inconsistent, {len(watcher.seen)} versions "
        f"watched, wall time {wall_s:.0f} s"
    )
    assert counts.kills >= 50
    assert counts.actions >= 10, "too few scaling cycles to say anything"
    assert counts.kills_by_point.get("after-scale", 0) >= 5, counts.kills_by_point
    assert counts.extra_restarts == 0
    assert counts.duplicates == []
    assert counts.lost_cooldowns == []
    assert counts.inconsistent == []
