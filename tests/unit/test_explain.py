"""``hrl-autoscaler explain``: the provenance of each setting, the history read from the state
and the Events, the budget share, the table and the JSON shape, and the CLI's errors.

Everything here runs on plain dicts (what the API server returns); the e2e test
(tests/e2e/test_explain.py) runs the command against a live operator.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from rich.console import Console

from hrl_autoscaler.cli import build_parser, main
from hrl_autoscaler.cli import explain as explain_cli
from hrl_autoscaler.runtime.core.annotations import (
    ACCEPTED,
    ENABLED_LABEL,
    OPERATOR_ANNOTATIONS,
    PREFIX,
)
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.reporting import Reason, decision_event, simple_event
from hrl_autoscaler.runtime.core.weights import PRESETS, Weights
from hrl_autoscaler.tools.explain import gather as gather_module
from hrl_autoscaler.tools.explain import opconfig
from hrl_autoscaler.tools.explain.assemble import explain
from hrl_autoscaler.tools.explain.gather import ExplainError, Gathered, read_app
from hrl_autoscaler.tools.explain.history import event_row
from hrl_autoscaler.tools.explain.model import Explanation
from hrl_autoscaler.tools.explain.render import render, to_json

NS, NAME, UID = "team", "iot", "uid-1"
NOW = 1_800_000_000.0


def app(annotations: dict[str, str] | None = None, enabled: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": NS,
            "name": NAME,
            "uid": UID,
            "labels": {ENABLED_LABEL: "true" if enabled else "false"},
            "annotations": {PREFIX + k: v for k, v in (annotations or {}).items()},
        },
        "spec": {"executor": {"instances": 3}},
        "status": {"applicationState": {"state": "RUNNING"}},
    }


METRICS = SystemMetrics(4000.0, 3900.0, 120.0, 0.81, 0.4, 950.0, 3, 3)


def state(**kwargs: Any) -> AppState:
    s = AppState(app_uid=UID, **kwargs)
    for i, (before, after) in enumerate(((2, 3), (3, 4))):
        event = decision_event(
            Reason.SCALING_DECISION,
            before,
            after,
            after,
            "ppo",
            "auto",
            "restart",
            PRESETS["balanced"],
            METRICS,
            ("cooldown passed",) if i else (),
        )
        s.remember(
            "decisions",
            {"at": NOW - 100 + i * 10, "reason": event.reason.value, **dict(event.fields)},
            20,
        )
    return s


def k8s_event(event_reason: Reason, at: str, uid: str = UID, **fields: str) -> dict[str, Any]:
    event = simple_event(event_reason, **fields)
    return {
        "metadata": {"namespace": NS, "name": f"{NAME}.x"},
        "involvedObject": {"name": NAME, "uid": uid},
        "reason": event.reason.value,
        "type": event.type,
        "message": event.message,
        "count": 2,
        "lastTimestamp": at,
        "source": {"component": "hrl-autoscaler"},
    }


def explained(
    annotations: dict[str, str] | None = None,
    stored: AppState | None = None,
    events: list[dict[str, Any]] | None = None,
    operator: opconfig.OperatorDefaults | None = None,
    budgets: list[dict[str, Any]] | None = None,
) -> Explanation:
    found = Gathered(
        app=app(annotations),
        state_json=stored.to_json() if stored is not None else None,
        events=events or [],
        budgets=budgets or [],
    )
    return explain(found, operator or opconfig.built_in())


# -- provenance -----------------------------------------------------------------------------


def test_an_annotation_is_marked_annotation_and_the_rest_default() -> None:
    e = explained({"min-executors": "2", "mode": "recommend"})
    assert (e.setting("min_executors").value, e.setting("min_executors").origin) == (
        2,
        "annotation",
    )
    assert e.setting("min_executors").source == PREFIX + "min-executors"
    assert e.setting("mode").origin == "annotation"
    assert (e.setting("max_executors").value, e.setting("max_executors").origin) == (20, "default")
    assert e.setting("actuation").origin == "default"
    assert e.rejected == ()
    # every user annotation has a row, the operator's own have none
    own = set(OPERATOR_ANNOTATIONS)
    assert {r.annotation for r in e.settings} == set(ACCEPTED) - own
    assert "target-executors" not in {r.annotation.split("/")[1] for r in e.settings}


def test_config_file_and_environment_origins(tmp_path: Path) -> None:
    config = tmp_path / "operator.yaml"
    config.write_text("defaults:\n  mode: recommend\n  max_executors: 20\n  actuation: in-place\n")
    env = {"HRL_AUTOSCALER_DEFAULTS__ACTUATION": "in-place"}
    operator = opconfig.from_file(config, environ=env)
    assert "file" in operator.source
    assert "environment" in operator.source
    e = explained({"min-executors": "2"}, operator=operator)
    mode = e.setting("mode")
    assert (mode.value, mode.origin, mode.source) == ("recommend", "config", str(config))
    assert e.setting("max_executors").note == "same as built-in"
    assert e.setting("actuation").origin == "environment"
    assert e.setting("actuation").source == "HRL_AUTOSCALER_DEFAULTS__ACTUATION"
    assert e.setting("min_executors").origin == "annotation"
    assert e.setting("objective").origin == "default"


def test_the_charts_configmap_is_an_origin_and_its_errors_are_clear() -> None:
    operator = opconfig.from_configmap(
        "prometheus_url: http://p:9090\ndefaults:\n  weight_policy: balanced\n",
        "ConfigMap ops/hrl-autoscaler-config",
    )
    e = explained(operator=operator)
    policy = e.setting("weight_policy")
    assert (policy.value, policy.origin) == ("balanced", "config")
    assert policy.source == "ConfigMap ops/hrl-autoscaler-config"
    assert e.operator_config == "ConfigMap ops/hrl-autoscaler-config"
    with pytest.raises(ValueError, match="not YAML"):
        opconfig.from_configmap("a: [", "ConfigMap x/y")
    with pytest.raises(ValueError, match="min_executors"):
        opconfig.from_configmap("defaults:\n  min_executors: 0\n", "ConfigMap x/y")


def test_a_rejected_annotation_shows_the_accepted_values_and_the_default_in_force() -> None:
    e = explained({"mode": "fast", "min-executors": "2"})
    [rejected] = e.rejected
    assert (rejected.annotation, rejected.value) == (PREFIX + "mode", "fast")
    assert rejected.accepted == "one of auto, recommend, paused"
    assert rejected.kept == "default"
    mode = e.setting("mode")
    assert (mode.value, mode.origin) == ("auto", "default")
    assert "'fast' rejected" in mode.note
    assert e.setting("min_executors").origin == "annotation"  # the others still apply


def test_a_rejected_annotation_keeps_the_last_good_value_from_the_state() -> None:
    good = explained({"mode": "recommend"}).setting("mode")
    assert good.origin == "annotation"
    last_good = {
        "weight_policy": "meta",
        "objective": "slo",
        "min_executors": 1,
        "max_executors": 20,
        "mode": "recommend",
        "actuation": "restart",
        "latency_slo_ms": 2000.0,
        "cost_per_executor_hour": 0.49,
    }
    e = explained({"mode": "fast"}, stored=state(last_good_settings=last_good))
    mode = e.setting("mode")
    assert (mode.value, mode.origin) == ("recommend", "last-good")
    assert e.rejected[0].kept == "last-good"


def test_an_unknown_annotation_is_flagged_with_the_closest_known_one() -> None:
    e = explained({"min-executor": "3", "max-executors": "8"})
    [unknown] = e.rejected
    assert (unknown.annotation, unknown.value, unknown.kept) == (
        PREFIX + "min-executor",
        "3",
        "ignored",
    )
    assert unknown.accepted.startswith(f"did you mean {PREFIX}min-executors?")
    assert e.setting("min_executors").origin == "default"
    assert e.setting("max_executors").origin == "annotation"
    # the operator's own annotations are known; other prefixes are not ours to judge
    own = explained({"target-executors": "4", "last-scale": "1.0/4"})
    assert own.rejected == ()
    assert explained().rejected == ()


def test_min_above_max_rejects_both_together() -> None:
    e = explained({"min-executors": "10", "max-executors": "5"})
    assert e.rejected
    assert e.rejected[0].annotation == PREFIX + "min-executors"
    assert "at most" in e.rejected[0].accepted
    assert (e.setting("min_executors").value, e.setting("max_executors").value) == (1, 20)
    assert e.setting("max_executors").origin == "default"


def test_weights_written_by_the_meta_controller_and_ignored_by_a_preset() -> None:
    weights = {"alpha": "0.200", "beta": "0.500", "gamma": "0.300"}
    meta = {
        "at": NOW,
        "weights": "0.333/0.333/0.333->0.200/0.500/0.300",
        "objective": "slo",
        "score": "0.9",
        "applied": "true",
        "steps": "20",
        "slo_violation": "0.010",
    }
    stored = state(meta=[meta])
    e = explained(weights, stored=stored)
    assert e.setting("alpha").origin == "meta-controller"
    assert (e.weights.origin, round(e.weights.beta, 3)) == ("meta-controller", 0.5)
    [update] = e.weights_history
    assert (update.weights, update.applied, update.details["slo_violation"]) == (
        meta["weights"],
        "true",
        "0.010",
    )
    fixed = explained({**weights, "weight-policy": "fixed"}, stored=stored)
    assert fixed.setting("alpha").origin == "annotation"
    assert fixed.weights.origin == "annotation"
    preset = explained({**weights, "weight-policy": "cost-first"})
    assert "ignored" in preset.setting("alpha").note
    assert (preset.weights.origin, preset.weights.source) == ("preset", "cost-first")
    assert preset.weights.alpha == PRESETS["cost-first"].alpha
    assert "slo-class standard gives 1" in preset.setting("priority").note
    unset = explained({})
    assert (unset.weights.origin, unset.weights.alpha) == ("default", Weights.of(1, 1, 1).alpha)


def test_recommend_mode_meta_weights_come_from_the_state() -> None:
    stored = state(weights=(0.1, 0.6, 0.3))
    e = explained({"mode": "recommend"}, stored=stored)
    assert (e.weights.origin, e.weights.source) == ("meta-controller", "state ConfigMap")
    assert round(e.weights.beta, 3) == 0.6


# -- history --------------------------------------------------------------------------------


def test_decisions_come_from_the_state_newest_first_with_metrics_and_notes() -> None:
    e = explained(stored=state(last_change_at=NOW - 90, last_target=4, executor_rate_eps=1300))
    first, second = e.decisions
    assert (first.executors, first.direction, first.controller) == ("3->4", "up", "ppo")
    assert first.notes == "cooldown passed"
    assert first.metrics["input_eps"] == "4000"
    assert first.metrics["latency_ms"] == "950"
    assert first.source == "state"
    assert first.at == NOW - 90
    assert second.executors == "2->3"
    assert (e.app.last_target, e.app.executor_rate_eps) == (4, 1300)


def test_a_decision_of_the_calm_rule_says_so_instead_of_the_weights() -> None:
    stored = AppState(app_uid=UID)
    event = decision_event(
        Reason.SCALING_DECISION, 5, 4, 4, "rule+floor", "auto", "in-place",
        PRESETS["balanced"], METRICS, (),
    )  # fmt: skip
    row = {"at": NOW - 30, "reason": event.reason.value, **dict(event.fields)}
    stored.remember("decisions", row, 20)
    console = Console(record=True, width=220, force_terminal=False)
    render(explained(stored=stored), console, now=NOW)
    text = console.export_text()
    assert "the calm rule decided" in text
    assert "rule+floor decided; weights" not in text


def test_the_input_memory_shows_its_size_age_peak_and_calm_stretch() -> None:
    stored = state(
        inputs=[1000.0, 8000.0, 1200.0],
        inputs_at=NOW - 240,
        input_peaks=[(NOW - 270, 8000.0), (NOW - 240, 1200.0)],
        calm_since=NOW - 5 * 3600,
    )
    e = explained(stored=stored)
    assert (e.app.input_history, e.app.input_saved_at, e.app.input_peak_eps) == (
        3,
        NOW - 240,
        8000.0,
    )
    assert e.app.calm_since == NOW - 5 * 3600
    console = Console(record=True, width=220, force_terminal=False)
    render(e, console, now=NOW)
    text = console.export_text()
    assert "3 decisions of input, saved" in text
    assert "(4m ago); peak 8,000 events/s; input calm (no jump) since" in text
    assert "(5h ago)" in text
    bare = Console(record=True, width=220, force_terminal=False)
    render(explained(stored=state()), bare, now=NOW)
    assert "input memory" not in bare.export_text()  # nothing saved yet: no row


def test_events_split_into_holds_fallbacks_and_newer_decisions() -> None:
    events = [
        k8s_event(
            Reason.METRICS_UNAVAILABLE,
            "2027-01-15T08:00:00Z",
            executors="3",
            action="hold",
            reason="stale: 95 s old",
        ),
        k8s_event(
            Reason.FALLBACK,
            "2027-01-15T08:01:00Z",
            controller="ds2",
            fields="cpu",
            detail="out of range",
        ),
        k8s_event(
            Reason.SCALING_DECISION,
            "2027-01-15T08:02:00Z",
            executors="4->6",
            direction="up",
            controller="ds2",
        ),
        k8s_event(
            Reason.SCALING_FAILED,
            "2020-01-01T00:00:00Z",  # older than the state's decisions, yet never in the state
            executors="3->5",
            controller="ppo",
            error="409 Conflict",
        ),
        k8s_event(Reason.INVALID_ANNOTATION, "2027-01-15T08:03:00Z", annotation="x"),
        k8s_event(Reason.FALLBACK, "2027-01-15T08:04:00Z", uid="old-uid", controller="ds2"),
    ]
    events[4]["source"] = {"component": "someone-else"}  # not the operator's: not shown
    found = Gathered(app=app(), state_json=state().to_json())
    found.events = [e for e in events if gather_module.is_operators(e, UID)]
    e = explain(found, opconfig.built_in())
    [hold] = e.holds
    assert (hold.fields["reason"], hold.count, hold.type) == ("stale: 95 s old", 2, "Warning")
    [fallback] = e.fallbacks
    assert fallback.fields["controller"] == "ds2"
    assert e.other_events == ()
    newest = e.decisions[0]
    assert (newest.executors, newest.source, newest.controller) == ("4->6", "event", "ds2")
    assert len(e.decisions) == 4
    failed = e.decisions[-1]
    assert (failed.reason, failed.notes) == ("ScalingFailed", "error: 409 Conflict")


def test_events_in_one_second_keep_their_order_by_event_time() -> None:
    """Whole-second lastTimestamps tie; the operator's eventTime orders them, and an
    aggregated event's later lastTimestamp still counts as its time."""

    def at(event: dict[str, Any]) -> float:
        found = event_row(event).at
        assert found is not None
        return found

    def stamped(last: str, event_time: str) -> dict[str, Any]:
        return {**k8s_event(Reason.SCALING_DECISION, last), "eventTime": event_time}

    up = stamped("2027-01-15T08:02:00Z", "2027-01-15T08:02:00.100000Z")
    down = stamped("2027-01-15T08:02:00Z", "2027-01-15T08:02:00.700000Z")
    assert at(down) - at(up) == pytest.approx(0.6)
    aggregated = stamped("2027-01-15T09:00:00Z", "2027-01-15T08:02:00.100000Z")
    assert at(aggregated) == at(k8s_event(Reason.FALLBACK, "2027-01-15T09:00:00Z"))


def test_no_state_is_a_note_and_a_namesakes_state_is_ignored() -> None:
    e = explained()
    assert e.decisions == ()
    assert any("no state ConfigMap" in n for n in e.notes)
    namesake = AppState(app_uid="other", last_target=9)
    e = explained(stored=namesake)
    assert e.app.last_target is None
    assert any("deleted namesake" in n for n in e.notes)


def test_the_budget_share_is_found_by_its_allocation_row() -> None:
    budget = {
        "metadata": {"namespace": NS, "name": "shared"},
        "spec": {"maxExecutors": 10},
        "status": {
            "policy": "whittle",
            "limitExecutors": 10,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Allocated"}],
            "allocations": [
                {"application": f"{NS}/other", "cap": 6, "executors": 6, "wanted": 6},
                {
                    "application": f"{NS}/{NAME}",
                    "cap": 4,
                    "executors": 4,
                    "wanted": 7,
                    "index": 0.0123,
                },
            ],
        },
    }
    share = explained(budgets=[budget]).budget
    assert share is not None
    assert (share.budget, share.policy, share.cap, share.wanted) == (
        f"{NS}/shared",
        "whittle",
        4,
        7,
    )
    assert (share.limit_executors, share.ready) == (10, "True (Allocated)")
    assert explained(budgets=[{"metadata": {}, "status": {}}]).budget is None


# -- rendering ------------------------------------------------------------------------------


def full() -> Explanation:
    events = [
        k8s_event(
            Reason.METRICS_UNAVAILABLE,
            "2027-01-15T08:00:00Z",
            executors="3",
            action="hold",
            reason="prometheus unreachable",
        ),
    ]
    return explained({"mode": "fast", "min-executors": "2"}, stored=state(), events=events)


def test_json_has_a_stable_shape() -> None:
    data = json.loads(to_json(full()))
    assert data["schema"] == 1
    assert set(data) >= {
        "app",
        "operator_config",
        "settings",
        "rejected",
        "weights",
        "decisions",
        "weights_history",
        "holds",
        "fallbacks",
        "other_events",
        "budget",
        "notes",
    }
    by_name = {row["name"]: row for row in data["settings"]}
    assert by_name["min_executors"]["origin"] == "annotation"
    assert by_name["max_executors"]["origin"] == "default"
    assert set(by_name["mode"]) == {"name", "annotation", "value", "origin", "source", "note"}
    assert data["rejected"][0]["accepted"] == "one of auto, recommend, paused"
    assert data["decisions"][0]["reason"] == "ScalingDecision"
    assert data["decisions"][0]["metrics"]["cpu"] == "0.81"
    assert data["holds"][0]["fields"]["reason"] == "prometheus unreachable"
    assert data["app"] == {
        "namespace": NS,
        "name": NAME,
        "uid": UID,
        "state": "RUNNING",
        "spec_executors": 3,
        "target_executors": None,
        "last_change_at": None,
        "last_target": None,
        "executor_rate_eps": None,
        "input_history": 0,
        "input_saved_at": None,
        "input_peak_eps": None,
        "calm_since": None,
    }


def test_the_table_shows_origins_rejections_decisions_and_holds() -> None:
    console = Console(record=True, width=220, force_terminal=False)
    render(full(), console, now=NOW)
    text = console.export_text()
    assert f"{NS}/{NAME}" in text
    settings = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ ")}
    assert "annotation" in settings["min-executors"]
    assert "default" in settings["max-executors"]
    assert "Rejected annotations" in text
    assert "one of auto, recommend, paused" in text
    assert "ScalingDecision" in text
    assert "cooldown passed" in text
    assert "3->4" in text
    assert "prometheus unreachable" in text
    assert "no state ConfigMap" not in text
    empty = Console(record=True, width=220)
    render(explained(), empty, now=NOW)
    assert "No decisions recorded yet." in empty.export_text()


# -- the command ----------------------------------------------------------------------------


class _Objects:
    """A CustomObjectsApi whose get returns ``body`` or raises ``error``."""

    def __init__(self, body: dict[str, Any] | None = None, error: Exception | None = None):
        self.body, self.error = body, error

    def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        if self.error is not None:
            raise self.error
        return argparse.Namespace(data=json.dumps(self.body).encode())


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        (_Objects(error=ApiException(status=404, reason="Not Found")), "not found"),
        (_Objects(body=app(enabled=False)), "not managed"),
        (_Objects(error=ConnectionRefusedError("refused")), "unreachable"),
    ],
)
def test_read_app_refuses_clearly(
    monkeypatch: pytest.MonkeyPatch, objects: _Objects, message: str
) -> None:
    monkeypatch.setattr(gather_module.k8s_client, "CustomObjectsApi", lambda api: objects)
    with pytest.raises(ExplainError, match=message):
        read_app(object(), NS, NAME)  # type: ignore[arg-type]


def test_an_unreachable_api_server_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: ns1}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    assert gather_module.default_namespace(kubeconfig, None) == "ns1"
    assert main(["explain", "app", "--kubeconfig", str(kubeconfig)]) == 2
    assert "unreachable" in capsys.readouterr().err


def test_arguments_and_the_kubectl_plugin_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser("explain").parse_args(["explain", "ns/app", "-o", "json", "--context", "x"])
    assert (args.app, args.output, args.context) == ("ns/app", "json", "x")
    assert explain_cli._split("ns/app", None) == ("ns", "app")
    assert explain_cli._split("app", "n2") == ("n2", "app")
    for bad in ("a/b/c", "/app", "ns/"):
        with pytest.raises(ValueError, match="NAMESPACE/"):
            explain_cli._split(bad, None)
    monkeypatch.setattr(sys, "argv", ["kubectl-hrl_autoscaler", "explain", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        explain_cli.kubectl_main()
    assert exit_info.value.code == 0
    assert "ExecutorBudget" in capsys.readouterr().out
