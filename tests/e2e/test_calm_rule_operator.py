"""The calm rule in the operator process on the real control plane, driving the emulated Spark
data plane (30x real time: a 30 s decision is 1 s).

The production window (4 h of input without a jump) is shortened to a few decisions here; what
is checked is the path, not the setting: after the window the ScalingDecision events say the
rule decided, a jump of the input hands the decision back to the policy, and every write is
accepted by the API server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.runtime.k8s.statestore import configmap_name
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    current_executors,
    spark_application,
    wait_for,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

NAMESPACE = "calm-e2e"
NAME = "calm-app"
WINDOW_S = 6.0
"""Six decisions without a jump: calm."""


@pytest.fixture(scope="module")
def stack(
    devenv: DevEnvHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cluster, LocalStack]]:
    options = StackOptions(
        work_dir=tmp_path_factory.mktemp("calm-e2e"),
        env=devenv.env,
        namespaces=(NAMESPACE,),
        speed=30.0,
        emulator_tick_s=0.2,
        operator_overrides={"guardrails": {"calm_rule": {"window_s": WINDOW_S}}},
    )
    with LocalStack(options) as local:
        yield Cluster(devenv.api_client), local


def _decisions(cluster: Cluster) -> list[dict[str, str]]:
    return [
        parse_message(e.message)
        for e in cluster.events(NAMESPACE, NAME)
        if e.reason == "ScalingDecision"
    ]


def test_on_calm_load_the_rule_decides_and_a_jump_hands_back_to_the_policy(
    stack: tuple[Cluster, LocalStack],
) -> None:
    cluster, local = stack
    # 10 executors for 1,000 events/s: far more than the load needs, held by nothing but the
    # policy's own habit and the scale-down confirmations
    body: dict[str, Any] = spark_application(NAME, 10, {"actuation": "in-place"}, 1000.0)
    cluster.create(NAMESPACE, body)
    ruled = wait_for(
        "a scale-down the calm rule decided",
        lambda: next(
            (
                d
                for d in _decisions(cluster)
                if d["controller"].startswith("rule") and d["direction"] == "down"
            ),
            None,
        ),
        timeout_s=60.0,
    )
    assert int(ruled["executors"].split("->")[1]) < 10, ruled
    low = current_executors(cluster.get(NAMESPACE, NAME))
    assert low < 10
    # the calm stretch is in the state ConfigMap (checkpointed from the first decision on), so
    # a restarted operator would not give the decision back to the policy for a whole window
    stored = cluster.configmap(NAMESPACE, configmap_name(NAME))
    assert stored is not None
    state = json.loads(stored["data"]["state.json"])
    assert isinstance(state["calm_since"], float), state

    cluster.set_rate(NAMESPACE, NAME, 9000.0)
    up = wait_for(
        "a scale-up under the new load",
        lambda: next(
            (
                d
                for d in _decisions(cluster)
                if d["direction"] == "up" and int(d["input_eps"]) > 5000
            ),
            None,
        ),
        timeout_s=30.0,
    )
    # the input jumped: the policy decides again (a stage may have changed its count on top)
    assert up["controller"].split("+")[0] == "ppo", up
    assert local.operator is not None
    log = local.operator.log_text()
    assert "Traceback" not in log, log[-3000:]
    failed = [e for e in cluster.events(NAMESPACE) if e.reason == "ScalingFailed"]
    assert not failed, failed
