"""Excluded periods, pauses and scale-down damping on the real control plane (issue 15).

One emulator (30x real time) and one operator serve the module, as in ``test_operator.py``;
the operator's clock is the wall clock, so the periods here are chosen to hold whatever the
time of the run: ``00:00-24:00`` (always inside) and ``* * 31 2 *`` (February 31st: never).

- inside an excluded period an ``auto`` application gets ScalingRecommendation events only,
  nothing is written to it, and ``hrl_autoscaler_excluded`` is 1; when the period no longer
  covers the clock, ExcludedPeriodEnded is posted and the operator acts;
- ``paused-scale-out`` holds an overloaded application where it is (one ScalingPaused event);
- ``paused-executors`` moves the application to N, then holds it there under the same load;
- ``scale-down-max-step: 1`` takes an idle application down one executor per change, where its
  undamped twin drops further at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.runtime.k8s.actuator import FIELD_MANAGER
from hrl_autoscaler.tools.devenv.components import Emulator, OperatorProcess
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    SeenEvent,
    app_state,
    current_executors,
    spark_application,
    wait_for,
    written_by,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

NAMESPACE = "mod-e2e"
SPEED = 30.0
ALWAYS = "00:00-24:00 UTC"
NEVER = "* * 31 2 *"


@dataclass
class Stack:
    cluster: Cluster
    emulator: Emulator
    operator: OperatorProcess

    def create(self, name: str, executors: int, rate: float, **settings: str) -> None:
        annotations = {"actuation": "in-place", **settings}
        body = spark_application(
            name, executors, {k.replace("_", "-"): v for k, v in annotations.items()}, rate
        )
        self.cluster.create(NAMESPACE, body)
        wait_for(f"{name} RUNNING", lambda: app_state(self.get(name)) == "RUNNING", 20.0)

    def get(self, name: str) -> dict[str, Any]:
        return self.cluster.get(NAMESPACE, name)

    def executors(self, name: str) -> int:
        return current_executors(self.get(name))

    def events(self, name: str, reason: str) -> list[SeenEvent]:
        return [e for e in self.cluster.events(NAMESPACE, name) if e.reason == reason]

    def fields(self, name: str, reason: str) -> list[dict[str, str]]:
        return [parse_message(e.message) for e in self.events(name, reason)]

    def gauge(self, metric: str, name: str, **labels: str) -> float | None:
        """A per-application series of the operator's /metrics (None when absent)."""
        pattern = re.compile(
            rf"^{metric}\{{([^}}]*)\}} ([0-9.e+-]+)$",
            re.MULTILINE,
        )
        wanted = {"application": name, "namespace": NAMESPACE, **labels}
        for label_text, value in pattern.findall(self.operator.metrics()):
            found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
            if all(found.get(k) == v for k, v in wanted.items()):
                return float(value)
        return None

    def assert_writes_accepted(self) -> None:
        failed = [e for e in self.cluster.events(NAMESPACE) if e.reason == "ScalingFailed"]
        assert not failed, failed
        log = self.operator.log_text()
        assert "Traceback" not in log, log[-3000:]
        assert "InvalidAnnotation" not in [e.reason for e in self.cluster.events(NAMESPACE)]


@pytest.fixture(scope="module")
def stack(devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    options = StackOptions(
        work_dir=tmp_path_factory.mktemp("modifiers-e2e"),
        env=devenv.env,
        namespaces=(NAMESPACE,),
        speed=SPEED,
        emulator_tick_s=0.2,
        operator_overrides={"guardrails": {"scale_down_confirmations": 2}},
    )
    with LocalStack(options) as local:
        assert local.emulator is not None
        assert local.operator is not None
        yield Stack(Cluster(devenv.api_client), local.emulator, local.operator)


def test_an_excluded_period_only_recommends_until_it_no_longer_applies(stack: Stack) -> None:
    name = "excluded-app"
    stack.create(name, 2, 9000.0, weight_policy="latency-first", excluded_periods=ALWAYS)
    [started] = wait_for(
        "ExcludedPeriodStarted", lambda: stack.fields(name, "ExcludedPeriodStarted"), 20.0
    )
    assert started["period"] == ALWAYS
    assert started["mode"] == "recommend"
    assert started["until"] == "not within 8 days"
    [recommendation, *_] = wait_for(
        "a ScalingRecommendation", lambda: stack.fields(name, "ScalingRecommendation"), 20.0
    )
    assert recommendation["direction"] == "up"
    assert f"excluded: {ALWAYS}" in recommendation["notes"]
    time.sleep(3.0)  # several more decisions
    assert written_by(stack.get(name), FIELD_MANAGER) == []
    assert stack.events(name, "ScalingDecision") == []
    assert stack.gauge("hrl_autoscaler_excluded", name) == 1.0
    # the period no longer covers the clock: the operator acts at once
    stack.cluster.annotate(NAMESPACE, name, {PREFIX + "excluded-periods": NEVER})
    [ended] = wait_for(
        "ExcludedPeriodEnded", lambda: stack.fields(name, "ExcludedPeriodEnded"), 10.0
    )
    assert ended == {"period": ALWAYS, "mode": "auto"}
    wait_for("a scale-up after the period", lambda: stack.executors(name) > 2, 10.0)
    assert stack.gauge("hrl_autoscaler_excluded", name) == 0.0
    stack.assert_writes_accepted()


def test_paused_scale_out_holds_and_paused_executors_moves_then_holds(stack: Stack) -> None:
    stack.create("pause-out", 2, 9000.0, weight_policy="latency-first", paused_scale_out="true")
    stack.create("pause-n", 2, 9000.0, weight_policy="latency-first", paused_executors="3")
    [paused] = wait_for(
        "ScalingPaused (scale-out)", lambda: stack.fields("pause-out", "ScalingPaused"), 20.0
    )
    assert paused["pause"] == "paused-scale-out"
    assert paused["reason"].startswith("paused-scale-out: scale-up to ")
    wait_for("pause-n at 3 executors", lambda: stack.executors("pause-n") == 3, 20.0)
    [moved] = wait_for(  # the event is written after the patch it reports
        "the move's event", lambda: stack.fields("pause-n", "ScalingDecision"), 10.0
    )
    assert (moved["executors"], moved["notes"]) == ("2->3", "paused-executors: moving to 3")
    [held] = wait_for(
        "ScalingPaused (executors)", lambda: stack.fields("pause-n", "ScalingPaused"), 20.0
    )
    assert held["reason"].startswith("paused-executors: held at 3 (wanted ")
    time.sleep(3.0)  # still overloaded, still held
    assert stack.executors("pause-out") == 2
    assert written_by(stack.get("pause-out"), FIELD_MANAGER) == []
    assert stack.executors("pause-n") == 3
    assert len(stack.events("pause-n", "ScalingDecision")) == 1
    assert len(stack.events("pause-out", "ScalingPaused")) == 1  # once per pause
    assert stack.gauge("hrl_autoscaler_paused", "pause-out", pause="paused-scale-out") == 1.0
    assert stack.gauge("hrl_autoscaler_paused", "pause-out", pause="paused-scale-in") == 0.0
    assert stack.gauge("hrl_autoscaler_paused_executors", "pause-n") == 3.0
    # lifting the pause lets the policy scale up
    stack.cluster.annotate(NAMESPACE, "pause-out", {PREFIX + "paused-scale-out": "false"})
    wait_for("pause-out scaled up", lambda: stack.executors("pause-out") > 2, 10.0)
    stack.assert_writes_accepted()


def test_a_scale_down_max_step_override_slows_the_descent(stack: Stack) -> None:
    stack.create("damped", 10, 200.0, weight_policy="cost-first", scale_down_max_step="1")
    stack.create("undamped", 10, 200.0, weight_policy="cost-first")

    def downs(name: str) -> list[int]:
        steps = []
        for d in stack.fields(name, "ScalingDecision"):
            before, after = (int(n) for n in d["executors"].split("->"))
            if after < before:
                steps.append(before - after)
        return steps

    wait_for("two scale-downs of the damped app", lambda: len(downs("damped")) >= 2, 30.0)
    wait_for("a scale-down of its twin", lambda: downs("undamped"), 10.0)
    assert set(downs("damped")) == {1}, downs("damped")
    assert downs("undamped")[0] > 1, downs("undamped")
    stack.assert_writes_accepted()
