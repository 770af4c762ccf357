"""One ExecutorBudget over six emulated applications that want far more than it allows.

The operator runs as its own process on the real control plane (30x real time: a decision
every second), the ExecutorBudget CRD installed by the session, the applications on the
emulated data plane at a constant load several times what their share of the budget can
serve. A watch on the SparkApplications checks, at every event for the whole module, that the
executor targets of the covered applications never sum above ``maxExecutors`` (the target is
the in-place annotation for in-place applications, else ``spec.executor.instances``).

The tests run in order and build on each other: the contention (a latency-critical application
is served first), the status and ``kubectl get``, an operator restart, and bad budgets that
must each be reported by a Warning event and change nothing.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.application import GROUP, PLURAL, VERSION
from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.budgets import Budgets, executor_budget
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    annotations_of,
    current_executors,
    spark_application,
    wait_for,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

NAMESPACE = "budget-e2e"
SPEED = 30.0
BUDGET = "shared"
LIMIT = 14
INTERVAL_S = 10.0
TEAM = {"team": "shared"}
#: events/s per application: about 9 executors' worth each (1000 events/s per executor at
#: 70%), six of them against a budget of 14.
RATE_EPS = 6000.0
CRITICAL = "payments"
APPS = {
    CRITICAL: {"slo-class": "latency-critical", "actuation": "in-place"},
    "clicks": {"actuation": "in-place"},
    "metrics": {"actuation": "in-place"},
    "audit": {"actuation": "in-place", "slo-class": "best-effort"},
    "search": {"actuation": "in-place"},
    "billing": {"actuation": "restart"},
}
WAIT_S = 60.0


@dataclass
class Invariant:
    """Sums the covered applications' targets at every watch event on SparkApplications."""

    api: k8s_client.ApiClient
    targets: dict[str, int] = field(default_factory=dict)
    events: int = 0
    peak: int = 0
    violations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        objects = k8s_client.CustomObjectsApi(self.api)
        version = ""
        while not self.stop.is_set():
            stream = k8s_watch.Watch()
            try:
                for event in stream.stream(
                    objects.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    NAMESPACE,
                    PLURAL,
                    resource_version=version or None,
                    timeout_seconds=5,
                ):
                    obj = event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    self.seen(event["type"], obj)
                    if self.stop.is_set():
                        break
            except ApiException as exc:
                if exc.status == 410:  # expired: start over from a fresh list
                    version = ""
                else:
                    self.errors.append(f"watch: {exc.status} {exc.reason}")
                    time.sleep(0.5)
            finally:
                stream.stop()

    def seen(self, kind: str, obj: dict[str, Any]) -> None:
        labels = obj["metadata"].get("labels") or {}
        name = obj["metadata"]["name"]
        if kind == "DELETED" or labels.get("team") != TEAM["team"]:
            self.targets.pop(name, None)
        else:
            self.targets[name] = current_executors(obj)
        self.events += 1
        total = sum(self.targets.values())
        self.peak = max(self.peak, total)
        if total > LIMIT:
            self.violations.append(f"{total} > {LIMIT} at event {self.events}: {self.targets}")

    def check(self) -> None:
        assert not self.violations, self.violations[:5]
        assert not self.errors, self.errors[:5]


@dataclass
class BudgetStack:
    local: LocalStack
    cluster: Cluster
    budgets: Budgets
    invariant: Invariant
    kubectl: Path
    kubeconfig: Path

    def status(self, name: str = BUDGET) -> dict[str, Any]:
        return self.budgets.status(NAMESPACE, name)

    def caps(self) -> dict[str, int]:
        rows = self.status().get("allocations") or []
        return {r["application"].split("/", 1)[1]: int(r["cap"]) for r in rows}

    def targets(self) -> dict[str, int]:
        return {a: current_executors(self.cluster.get(NAMESPACE, a)) for a in APPS}

    def log(self) -> str:
        operator = self.local.operator
        return operator.log_text()[-4000:] if operator is not None else ""

    def warnings(self, name: str, reason: str) -> list[dict[str, str]]:
        return [
            parse_message(e.message)
            for e in self.budgets.events(NAMESPACE, name)
            if e.reason == reason and e.type == "Warning"
        ]

    def run_kubectl(self, *args: str) -> str:
        result = subprocess.run(
            [str(self.kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={"HOME": str(self.kubeconfig.parent), "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def stack(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BudgetStack]:
    work = tmp_path_factory.mktemp("budget-e2e")
    options = StackOptions(
        work_dir=work,
        env=devenv.env,
        namespaces=(NAMESPACE,),
        speed=SPEED,
        emulator_tick_s=0.2,
        job_prefix="budget-",
        operator_overrides={"defaults": {"weight_policy": "balanced"}},
    )
    budgets = Budgets(devenv.api_client)
    watch_api = k8s_config.new_client_from_config(config_file=str(devenv.kubeconfig))
    invariant = Invariant(watch_api)
    watcher = threading.Thread(target=invariant.run, name="budget-invariant", daemon=True)
    watcher.start()
    kubectl = ensure_binaries(print, require_prometheus=False).kubectl
    try:
        with LocalStack(options) as local:
            cluster = Cluster(devenv.api_client)
            yield BudgetStack(local, cluster, budgets, invariant, kubectl, devenv.kubeconfig)
            budgets.delete_all(NAMESPACE)
    finally:
        invariant.stop.set()
        watcher.join(timeout=10)
        with contextlib.suppress(Exception):
            budgets.delete_all(NAMESPACE)
        watch_api.close()


def test_the_budget_caps_six_contending_applications(stack: BudgetStack) -> None:
    """(a) and (b): the sum of targets stays within maxExecutors at every watch event while
    every application wants more, and the latency-critical one is served first."""
    body = executor_budget(
        BUDGET, LIMIT, policy="whittle", interval_s=INTERVAL_S, match_labels=TEAM
    )
    stack.budgets.create(NAMESPACE, body)
    # the operator has seen the budget (status written) before any application exists
    wait_for("the budget's first status", lambda: stack.status().get("observedGeneration"), 20)
    for name, settings in APPS.items():
        app = spark_application(name, 2, settings, RATE_EPS)
        app["metadata"]["labels"].update(TEAM, app=name)
        stack.cluster.create(NAMESPACE, app)
    try:
        wait_for(
            "the budget full: targets summing to (about) the limit, every application allocated",
            lambda: len(stack.caps()) == len(APPS) and sum(stack.targets().values()) >= LIMIT - 1,
            WAIT_S,
            every_s=0.5,
        )
        time.sleep(INTERVAL_S + 2)  # one more allocation, on the forecasts of a full budget
        caps = wait_for("caps of all six", lambda: stack.caps() or None, 10)
        targets = stack.targets()
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{stack.log()}") from None
    assert sum(caps.values()) <= LIMIT, caps
    assert all(targets[a] <= caps[a] for a in APPS), (targets, caps)
    others = [a for a in APPS if a != CRITICAL]
    assert caps[CRITICAL] >= max(caps[a] for a in others), caps
    assert caps[CRITICAL] > caps["audit"], caps  # latency-critical over best-effort
    limited = [e for e in stack.cluster.events(NAMESPACE) if e.reason == "BudgetLimited"]
    assert limited, "no application was told the budget limited it"
    assert parse_message(limited[-1].message)
    stack.invariant.check()
    assert stack.invariant.events >= len(APPS)


def test_status_and_printer_columns(stack: BudgetStack) -> None:
    """(c): the status says what is in force; ``kubectl get executorbudgets`` reads it."""
    status = stack.status()
    assert status["policy"] == "whittle"
    assert status["limitExecutors"] == LIMIT
    assert status["applications"] == len(APPS)
    assert 0 < status["usedExecutors"] <= LIMIT
    assert status["allocatedExecutors"] <= LIMIT
    [ready] = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready["status"] == "True", ready
    rows = {r["application"]: r for r in status["allocations"]}
    assert set(rows) == {f"{NAMESPACE}/{a}" for a in APPS}
    assert all(r["wanted"] >= r["cap"] for r in rows.values()), rows
    assert "lastAllocationTime" in status
    assert any(e.reason == "BudgetAllocated" for e in stack.budgets.events(NAMESPACE, BUDGET))

    table = stack.run_kubectl("get", "executorbudgets", "-n", NAMESPACE, BUDGET)
    header, row = table.splitlines()[:2]
    assert header.split() == [
        "NAME", "POLICY", "LIMIT", "USED", "UTILISATION", "APPS", "READY", "AGE",
    ]  # fmt: skip
    cells = row.split()
    assert cells[:3] == [BUDGET, "whittle", str(LIMIT)]
    assert 0 < int(cells[3]) <= LIMIT
    assert 0 < float(cells[4]) <= 1.0
    assert cells[5:7] == [str(len(APPS)), "True"]
    short = stack.run_kubectl("get", "eb", "-n", NAMESPACE, "-o", "name")
    assert short.split() == [f"executorbudget.hrl-autoscaler.io/{BUDGET}"]
    metrics = stack.local.operator.metrics() if stack.local.operator else ""
    assert f'hrl_autoscaler_budget_limit_executors{{budget="{NAMESPACE}/{BUDGET}"}} 14.0' in metrics
    assert "hrl_autoscaler_budget_exceedances_total" in metrics
    stack.invariant.check()


def test_an_operator_restart_loses_nothing(stack: BudgetStack) -> None:
    """(d): the status survives, the new operator resumes the stored caps, the invariant holds."""
    before = stack.status()
    caps = stack.caps()
    operator = stack.local.restart_operator()
    # what the stopped operator wrote is still there for the new one to resume from
    assert set(stack.caps()) == set(caps)
    wait_for(
        "the new operator resuming the stored allocation",
        lambda: "resuming from its stored allocation" in operator.log_text(),
        20,
    )
    try:
        wait_for(
            "a new allocation by the restarted operator",
            lambda: stack.status().get("lastAllocationTime") != before["lastAllocationTime"],
            INTERVAL_S + 20,
            every_s=0.5,
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{stack.log()}") from None
    after = stack.caps()
    assert set(after) == set(caps)
    assert sum(after.values()) <= LIMIT
    assert after[CRITICAL] >= max(after[a] for a in APPS if a != CRITICAL), after
    assert stack.status()["conditions"][0]["status"] == "True"
    assert "Traceback" not in operator.log_text()
    stack.invariant.check()


BAD = {
    "negative": (executor_budget("bad-negative", -3, match_labels=TEAM), "BudgetInvalid"),
    "no-limit": (executor_budget("bad-no-limit", policy="whittle"), "BudgetInvalid"),
    "empty": (executor_budget("bad-empty", 4, match_labels={"team": "nobody"}), "BudgetEmpty"),
    "overlap": (
        executor_budget("bad-overlap", 3, match_labels={"app": "clicks"}, interval_s=10),
        "BudgetOverlap",
    ),
}


def test_bad_budgets_are_reported_and_change_nothing(stack: BudgetStack) -> None:
    """(e): each bad object gets a Warning naming the problem; the first budget's caps and the
    applications' targets stay as they were."""
    # right after an allocation, so the next one (intervalSeconds later) is not in the window
    last = stack.status()["lastAllocationTime"]
    wait_for(
        "a fresh allocation",
        lambda: stack.status().get("lastAllocationTime") != last,
        INTERVAL_S + 10,
        every_s=0.2,
    )
    started = time.monotonic()
    status, targets = stack.status(), stack.targets()
    for body, _ in BAD.values():
        stack.budgets.create(NAMESPACE, body)
    warnings = {
        kind: wait_for(
            f"a {reason} Warning on {body['metadata']['name']}",
            lambda b=body, r=reason: stack.warnings(b["metadata"]["name"], r),
            INTERVAL_S / 2,
            every_s=0.2,
        )[0]
        for kind, (body, reason) in BAD.items()
    }
    assert time.monotonic() - started < INTERVAL_S - 1, "too slow to tell the caps unchanged"
    assert warnings["negative"]["field"] == "spec.maxExecutors"
    assert warnings["negative"]["value"] == "-3"
    assert "1 to 100000" in warnings["negative"]["accepted"]
    assert warnings["no-limit"]["field"] == "spec"
    assert "maxExecutors" in warnings["no-limit"]["accepted"]
    assert warnings["empty"]["selector"] == "team=nobody"
    assert warnings["overlap"]["covered_by"] == f"{NAMESPACE}/{BUDGET}"
    # nothing changed: the same allocation, the same caps, the same targets
    now = stack.status()
    assert now["lastAllocationTime"] == status["lastAllocationTime"]
    assert now["allocations"] == status["allocations"] or _same_caps(now, status)
    assert stack.targets() == targets
    for kind in ("negative", "no-limit", "overlap"):
        name = BAD[kind][0]["metadata"]["name"]
        bad = stack.status(name)
        assert "allocations" not in bad, (name, bad)
        ready = [c for c in bad.get("conditions", []) if c["type"] == "Ready"]
        assert not ready or ready[0]["status"] == "False", (name, ready)

    # a bad edit of the good budget: reported, and its last good spec stays in force
    stack.budgets.patch_spec(NAMESPACE, BUDGET, {"maxExecutors": -1})
    wait_for(
        "a BudgetInvalid Warning on the edited budget",
        lambda: [w for w in stack.warnings(BUDGET, "BudgetInvalid") if w.get("value") == "-1"],
        INTERVAL_S,
    )
    assert stack.status()["limitExecutors"] == LIMIT
    time.sleep(2.0)
    assert sum(stack.targets().values()) <= LIMIT
    stack.budgets.patch_spec(NAMESPACE, BUDGET, {"maxExecutors": LIMIT})
    for body, _ in BAD.values():
        stack.budgets.delete(NAMESPACE, body["metadata"]["name"])
    stack.invariant.check()


def _same_caps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def caps(s: dict[str, Any]) -> dict[str, int]:
        return {r["application"]: r["cap"] for r in s.get("allocations") or []}

    return caps(a) == caps(b)


def test_the_invariant_held_for_the_whole_module(stack: BudgetStack) -> None:
    time.sleep(1.0)
    stack.invariant.check()
    assert stack.invariant.events > 3 * len(APPS), stack.invariant.events
    assert stack.invariant.peak <= LIMIT
    assert annotations_of(stack.cluster.get(NAMESPACE, CRITICAL))
