"""Event messages, the state record, peering, and the bodies written to Kubernetes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot, snapshot_from_body
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.peering import may_act, parse_peers
from hrl_autoscaler.runtime.core.reporting import (
    Reason,
    decision_event,
    format_message,
    parse_message,
    simple_event,
)
from hrl_autoscaler.runtime.core.weights import PRESETS
from hrl_autoscaler.runtime.k8s.events import event_body, post_event
from hrl_autoscaler.runtime.k8s.statestore import configmap_body, configmap_name

APP = AppSnapshot(AppKey("iot", "hospital"), "uid-1", "42")
METRICS = SystemMetrics(5123.4, 4000.2, 1200.0, 0.98, 0.4, 2300.0, 4, 4)


def test_messages_round_trip_including_quotes_and_spaces() -> None:
    fields = (("a", "1"), ("note", 'cooldown (300 s) "since" x=1'), ("empty", ""))
    assert parse_message(format_message(fields)) == dict(fields)


def test_decision_message_is_stable() -> None:
    event = decision_event(
        Reason.SCALING_DECISION,
        4,
        6,
        7,
        "ppo",
        "auto",
        "in-place",
        PRESETS["latency-first"],
        METRICS,
        ["step limited to 2"],
    )
    assert event.type == "Normal"
    assert event.message == (
        "executors=4->6 direction=up proposed=7 controller=ppo mode=auto actuation=in-place "
        "weights=0.050/0.900/0.050 input_eps=5123 processing_eps=4000 backlog=1200 cpu=0.98 "
        'memory=0.40 latency_ms=2300 running=4 notes="step limited to 2"'
    )


def test_warning_reasons() -> None:
    assert simple_event(Reason.METRICS_UNAVAILABLE, reason="x").type == "Warning"
    assert simple_event(Reason.INVALID_ANNOTATION).type == "Warning"
    assert simple_event(Reason.FALLBACK).type == "Warning"
    assert simple_event(Reason.FIRST_BATCH_OVERDUE).type == "Warning"
    assert simple_event(Reason.WEIGHTS_UPDATED).type == "Normal"
    assert simple_event(Reason.SCALING_RECOMMENDATION).type == "Normal"


def test_state_round_trip_and_bounded_history() -> None:
    state = AppState(last_change_at=12.5, last_target=6, weights=(0.2, 0.3, 0.5))
    for i in range(30):
        state.remember("decisions", {"i": i}, keep=20)
    state.set_rate(1043.7)
    again = AppState.from_json(state.to_json())
    assert again == state
    assert [d["i"] for d in again.decisions] == list(range(10, 30))
    assert again.executor_rate_eps == 1000.0
    with pytest.raises(ValueError, match="schema"):
        AppState.from_json('{"schema": 99}')
    with pytest.raises(ValueError, match="not JSON"):
        AppState.from_json("{")


def _status(now: datetime, **peers: tuple[int, float]) -> dict[str, object]:
    return {
        ident: {
            "priority": p,
            "lifetime": 60,
            "lastseen": (now - timedelta(seconds=age)).isoformat(),
        }
        for ident, (p, age) in peers.items()
    }


def test_peering_rule_is_kopfs() -> None:
    now = datetime.now(UTC)
    peers = parse_peers(_status(now, me=(10, 1), other=(5, 1)))
    assert may_act(peers, "me", 10, now)[0]
    peers = parse_peers(_status(now, me=(10, 1), other=(20, 1)))
    allowed, why = may_act(peers, "me", 10, now)
    assert not allowed
    assert "standing by for other (priority 20)" in why
    peers = parse_peers(_status(now, me=(10, 1), twin=(10, 1)))
    allowed, why = may_act(peers, "me", 10, now)
    assert not allowed
    assert "same priority" in why
    peers = parse_peers(_status(now, me=(10, 1), dead=(20, 120)))
    assert may_act(peers, "me", 10, now)[0]  # a silent peer is presumed dead after its lifetime
    assert not may_act(parse_peers(_status(now, other=(1, 1))), "me", 10, now)[0]
    assert parse_peers({"broken": {"priority": "x"}, "junk": 3}) == []


def test_snapshot_from_a_body_with_defaults() -> None:
    snap = snapshot_from_body({"metadata": {"name": "a", "namespace": "n"}, "spec": {}})
    assert (snap.spec_executors, snap.state, snap.app_id, snap.enabled) == (1, "", None, False)
    assert snap.current_executors(in_place=True) == 1


def test_event_body_names_the_application_and_the_reporter() -> None:
    event = simple_event(Reason.FALLBACK, detail="x" * 2000)
    body = event_body(APP, event, "replica-1", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert body["involvedObject"] == {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "name": "hospital",
        "namespace": "iot",
        "uid": "uid-1",
        "resourceVersion": "42",
    }
    assert (body["type"], body["reason"], body["reportingInstance"]) == (
        "Warning",
        "Fallback",
        "replica-1",
    )
    assert body["firstTimestamp"] == "2026-01-02T03:04:05Z"
    assert len(body["message"]) == 1024


def test_event_body_orders_events_within_one_second() -> None:
    """Whole-second timestamps tie; eventTime keeps microseconds, and with it the API server
    requires an action and a reporting instance of at most 128 characters."""
    event = simple_event(Reason.FALLBACK, detail="x")
    first, second = (
        event_body(APP, event, "r" * 300, datetime(2026, 1, 2, 3, 4, 5, us, tzinfo=UTC))
        for us in (900_000, 900_001)
    )
    assert first["lastTimestamp"] == second["lastTimestamp"]
    assert (first["eventTime"], second["eventTime"]) == (
        "2026-01-02T03:04:05.900000Z",
        "2026-01-02T03:04:05.900001Z",
    )
    assert first["action"] == "Fallback"
    assert len(first["reportingInstance"]) == 128


class _Recorder(BaseHTTPRequestHandler):
    """Records each POST's path and JSON body; answers with the server's ``status``."""

    posted: ClassVar[list[tuple[str, dict[str, object]]]] = []
    status: ClassVar[int] = 201

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.posted.append((self.path, json.loads(self.rfile.read(length))))
        reply = json.dumps({"kind": "Status", "message": "refused"} if self.status >= 400 else {})
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(reply.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[type[_Recorder], k8s_client.ApiClient]]:
    handler = type("Handler", (_Recorder,), {"posted": [], "status": 201})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    config = k8s_client.Configuration(host=f"http://127.0.0.1:{server.server_port}")
    api = k8s_client.ApiClient(config)
    yield handler, api
    api.close()
    server.shutdown()


def test_an_event_at_a_whole_second_keeps_its_six_digit_event_time(
    recorder: tuple[type[_Recorder], k8s_client.ApiClient],
) -> None:
    """The client's own create call re-parses the body and writes ``eventTime`` back without
    the fraction at zero microseconds, which the API server refuses (CI saw it once)."""
    handler, api = recorder
    event = simple_event(Reason.FALLBACK, detail="x")
    body = event_body(APP, event, "replica-1", datetime(2026, 1, 2, 3, 4, 5, 0, tzinfo=UTC))
    post_event(api, "iot", body, timeout_s=5.0)
    assert handler.posted == [("/api/v1/namespaces/iot/events", body)]
    assert handler.posted[0][1]["eventTime"] == "2026-01-02T03:04:05.000000Z"


def test_a_refused_event_raises_the_servers_status(
    recorder: tuple[type[_Recorder], k8s_client.ApiClient],
) -> None:
    handler, api = recorder
    handler.status = 400
    body = event_body(APP, simple_event(Reason.FALLBACK, detail="x"), "r", datetime.now(UTC))
    with pytest.raises(ApiException) as raised:
        post_event(api, "iot", body, timeout_s=5.0)
    assert (raised.value.status, json.loads(raised.value.body)["message"]) == (400, "refused")


def test_state_configmap_is_owned_by_the_application() -> None:
    body = configmap_body(APP, AppState())
    assert body["metadata"]["name"] == "hrl-autoscaler-state-hospital"
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert AppState.from_json(body["data"]["state.json"]) == AppState()
    long = configmap_name("x" * 300)
    assert len(long) <= 253
    assert long != configmap_name("x" * 299)
