"""Learned restart times and ineffective-scaling detection on the real control plane.

One emulator (30x real time) and one operator serve the module, as in
:mod:`tests.e2e.test_operator`. The emulator's per-application parameters make one
application's restarts slower than the operator assumes and another's added executors useless
(``contention: 1``: its capacity is flat in the executor count), which the operator must find
out by itself: a RestartTimeLearned event, the restart time in its state ConfigMap and in
/metrics; an IneffectiveScaling Warning, scale-ups held, and released when the load changes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hrl_autoscaler.runtime.core.annotations import PREFIX, TARGET_ANNOTATION
from hrl_autoscaler.runtime.core.appstate import AppState
from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.runtime.k8s.statestore import STATE_KEY, configmap_name
from hrl_autoscaler.tools.devenv.components import Emulator, OperatorProcess
from hrl_autoscaler.tools.devenv.emulator.app import EMULATOR_PREFIX
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    SeenEvent,
    annotations_of,
    app_state,
    spark_application,
    wait_for,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

NAMESPACE = "adaptive-e2e"
SPEED = 30.0
COOLDOWN_S = 8.0
IN_PLACE_COOLDOWN_S = 6.0


@dataclass
class OperatorStack:
    """The module's cluster view, emulator and operator (as in test_operator.py)."""

    cluster: Cluster
    emulator: Emulator
    operator: OperatorProcess
    namespace: str

    def get(self, name: str) -> dict[str, Any]:
        return self.cluster.get(self.namespace, name)

    def events(self, name: str, reason: str) -> list[SeenEvent]:
        return [e for e in self.cluster.events(self.namespace, name) if e.reason == reason]

    def running(self, name: str, timeout_s: float = 20.0) -> None:
        wait_for(f"{name} RUNNING", lambda: app_state(self.get(name)) == "RUNNING", timeout_s)

    def decided(self, name: str, count: int, timeout_s: float = 20.0) -> None:
        """Wait until the operator has made ``count`` decisions for ``name`` (its /metrics)."""
        pattern = re.compile(
            r'^hrl_autoscaler_decisions_total\{[^}]*application="'
            + re.escape(name)
            + r'"[^}]*\} ([0-9.e+]+)$',
            re.MULTILINE,
        )

        def made() -> bool:
            return sum(float(v) for v in pattern.findall(self.operator.metrics())) >= count

        wait_for(f"{count} decisions for {name}", made, timeout_s)

    def assert_writes_accepted(self) -> None:
        failed = [e for e in self.cluster.events(self.namespace) if e.reason == "ScalingFailed"]
        assert not failed, failed
        log = self.operator.log_text()
        assert "patch rejected" not in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def stack(
    devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorStack]:
    options = StackOptions(
        work_dir=tmp_path_factory.mktemp("adaptive-e2e"),
        env=devenv.env,
        namespaces=(NAMESPACE,),
        speed=SPEED,
        emulator_tick_s=0.2,
        operator_overrides={
            "guardrails": {
                "restart_cooldown_s": COOLDOWN_S,
                # a few decisions at each count in place too: a capacity measured before the
                # next scale-up is what it is judged against
                "in_place_cooldown_s": IN_PLACE_COOLDOWN_S,
                "scale_down_confirmations": 3,
            },
        },
    )
    with LocalStack(options) as local:
        assert local.emulator is not None
        assert local.operator is not None
        yield OperatorStack(Cluster(devenv.api_client), local.emulator, local.operator, NAMESPACE)


def _create(
    stack: OperatorStack,
    name: str,
    executors: int,
    rate: float,
    emulator: dict[str, str],
    **kw: str,
) -> None:
    body = spark_application(name, executors, {k.replace("_", "-"): v for k, v in kw.items()}, rate)
    body["metadata"]["annotations"].update({EMULATOR_PREFIX + k: v for k, v in emulator.items()})
    stack.cluster.create(NAMESPACE, body)


def _gauge(stack: OperatorStack, metric: str, name: str) -> float | None:
    pattern = re.compile(
        rf'^{metric}\{{[^}}]*application="{re.escape(name)}"[^}}]*\}} ([0-9.e+-]+)$', re.MULTILINE
    )
    found = pattern.findall(stack.operator.metrics())
    return float(found[0]) if found else None


def _stored_state_with_restart(stack: OperatorStack, name: str) -> AppState | None:
    configmap = stack.cluster.configmap(NAMESPACE, configmap_name(name))
    if configmap is None:
        return None
    state = AppState.from_json(configmap["data"][STATE_KEY])
    return state if state.restart_s else None


def test_a_slow_restart_is_learned_and_planned_with(stack: OperatorStack) -> None:
    """Restarts of 240 simulated seconds (8 s here): measured, stored, reported."""
    name = "slow-restart"
    _create(
        stack,
        name,
        2,
        9000.0,
        {"restart-downtime-s": "240"},
        actuation="restart",
        weight_policy="latency-first",
    )
    stack.running(name)
    [learned, *_] = wait_for(
        "a RestartTimeLearned event",
        lambda: stack.events(name, "RestartTimeLearned"),
        timeout_s=60.0,
    )
    fields = parse_message(learned.message)
    assert fields["kind"] == "restart"
    # 240 simulated s = 8 s; seen at the first cycle (1 s) after the run is back with executors
    assert 7.0 <= float(fields["seconds"]) <= 14.0, fields
    # the event is sent within the cycle, the state is stored at its end: wait for the store
    state = wait_for(
        "the learned restart time in the state ConfigMap",
        lambda: _stored_state_with_restart(stack, name),
        timeout_s=20.0,
    )
    assert 7.0 <= state.restart_s[0] <= 14.0
    seconds = wait_for(
        "hrl_autoscaler_restart_seconds",
        lambda: _gauge(stack, "hrl_autoscaler_restart_seconds", name),
        timeout_s=10.0,
    )
    assert seconds == pytest.approx(max(state.restart_s), abs=0.1)
    stack.assert_writes_accepted()


def test_executors_that_add_nothing_are_detected_and_scale_ups_held(
    stack: OperatorStack,
) -> None:
    """Capacity flat at one executor's: the first judged scale-up is ineffective; the operator
    warns, stops adding executors, and adds again once the input rate changes materially."""
    name = "futile"
    _create(
        stack,
        name,
        2,
        500.0,
        {"contention": "1"},
        actuation="in-place",
        weight_policy="latency-first",
    )
    stack.running(name)
    stack.decided(name, count=9)  # a first scale-up, then its capacity measured
    stack.cluster.set_rate(NAMESPACE, name, 3000.0)  # 3x what any count can process
    [warning, *_] = wait_for(
        "an IneffectiveScaling event",
        lambda: stack.events(name, "IneffectiveScaling"),
        timeout_s=60.0,
    )
    assert warning.type == "Warning"
    fields = parse_message(warning.message)
    before, after = (int(n) for n in fields["executors"].split("->"))
    assert after > before
    assert float(fields["observed_eps"]) < 0.1 * float(fields["expected_eps"])
    wait_for(
        "hrl_autoscaler_scale_up_blocked 1",
        lambda: _gauge(stack, "hrl_autoscaler_scale_up_blocked", name) == 1.0,
        timeout_s=10.0,
    )

    def target() -> int:
        return int(annotations_of(stack.get(name)).get(TARGET_ANNOTATION, "2"))

    held = target()
    assert held <= after
    time.sleep(6.0)  # six more decisions under an unmet load: no executor added
    assert target() <= after
    assert stack.events(name, "IneffectiveScalingCleared") == []
    stack.cluster.set_rate(NAMESPACE, name, 6000.0)  # +100%: a materially different load
    wait_for(
        "an IneffectiveScalingCleared event",
        lambda: stack.events(name, "IneffectiveScalingCleared"),
        timeout_s=20.0,
    )
    assert PREFIX + "ineffective-scaling-detection" not in annotations_of(stack.get(name))
    stack.assert_writes_accepted()
