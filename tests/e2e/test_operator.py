"""The operator as a process on the real control plane, driving the emulated Spark data plane.

One emulator (30x real time: a 30 s decision is 1 s, a 90 s restart 3 s) and one operator
(``hrl-autoscaler run --config``) serve the module; each test creates its own applications in
the operator's namespace. Every object and patch is validated by the API server against the
upstream SparkApplication CRD (installed by the session fixture), and the operator patches with
``fieldValidation=Strict``, so a write the CRD would not accept shows up as a ScalingFailed
event or a "rejected" log line, which every test checks for.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.runtime.core.annotations import PREFIX
from hrl_autoscaler.runtime.core.application import GROUP, PLURAL, VERSION
from hrl_autoscaler.runtime.core.reporting import parse_message
from hrl_autoscaler.runtime.k8s.actuator import FIELD_MANAGER
from hrl_autoscaler.tools.devenv.components import Emulator, OperatorProcess
from hrl_autoscaler.tools.devenv.crds import load_crds, project_crd_dir
from hrl_autoscaler.tools.devenv.sparkapps import (
    Cluster,
    SeenEvent,
    annotations_of,
    app_state,
    current_executors,
    spark_application,
    wait_for,
    written_by,
)
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e

NAMESPACE = "op-e2e"
CRD_NAMESPACE = "op-e2e-crd"
CRD_NAME = f"{PLURAL}.{GROUP}"
SPEED = 30.0
COOLDOWN_S = 8.0
META_INTERVAL_S = 4.0


@dataclass
class OperatorStack:
    """The module's cluster view, emulator and operator, with what the tests ask of them."""

    cluster: Cluster
    emulator: Emulator
    operator: OperatorProcess
    namespace: str

    def create(self, name: str, executors: int = 2, rate: float = 1000.0, **settings: str) -> None:
        body = spark_application(
            name, executors, {k.replace("_", "-"): v for k, v in settings.items()}, rate
        )
        self.cluster.create(self.namespace, body)

    def get(self, name: str) -> dict[str, Any]:
        return self.cluster.get(self.namespace, name)

    def events(self, name: str, reason: str | None = None) -> list[SeenEvent]:
        return [
            e
            for e in self.cluster.events(self.namespace, name)
            if reason is None or e.reason == reason
        ]

    def decisions(self, name: str) -> int:
        """How many decisions the operator has made for ``name`` (from its /metrics)."""
        pattern = re.compile(
            r'^hrl_autoscaler_decisions_total\{[^}]*application="'
            + re.escape(name)
            + r'"[^}]*\} ([0-9.e+]+)$',
            re.MULTILINE,
        )
        return int(sum(float(v) for v in pattern.findall(self.operator.metrics())))

    def running(self, name: str, timeout_s: float = 20.0) -> dict[str, Any]:
        return wait_for(
            f"{name} RUNNING",
            lambda: o if app_state(o := self.get(name)) == "RUNNING" else None,
            timeout_s,
        )

    def decided(self, name: str, count: int = 3, timeout_s: float = 20.0) -> int:
        """Wait until ``count`` decisions were made; return the executors in force then."""
        wait_for(f"{count} decisions for {name}", lambda: self.decisions(name) >= count, timeout_s)
        return current_executors(self.get(name))

    def assert_writes_accepted(self) -> None:
        """No write of the operator was rejected (by the CRD schema or anything else)."""
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
        work_dir=tmp_path_factory.mktemp("operator-e2e"),
        env=devenv.env,
        namespaces=(NAMESPACE,),
        speed=SPEED,
        emulator_tick_s=0.2,
        operator_overrides={
            "meta_interval_s": META_INTERVAL_S,
            # a 4-decision restart hold: the restart test's scale-down comes within its wait
            "guardrails": {
                "restart_cooldown_s": COOLDOWN_S,
                "scale_down_confirmations": 3,
                "restart_hold": {"window": 4},
            },
        },
    )
    with LocalStack(options) as local:  # exit fails unless the operator exits 0 on SIGTERM
        assert local.emulator is not None
        assert local.operator is not None
        yield OperatorStack(Cluster(devenv.api_client), local.emulator, local.operator, NAMESPACE)


def _spec_fields(crd: dict[str, Any]) -> set[str]:
    """The typed fields under ``spec`` and ``spec.executor`` of the v1beta2 schema."""
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    return set(spec) | {f"executor.{f}" for f in spec["executor"]["properties"]}


def _operator_patch(devenv: DevEnvHandle, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    """A merge patch sent as the operator's actuator sends it: its field manager, Strict
    field validation (an unknown or mistyped field is an error, not silently dropped)."""
    objects: Any = k8s_client.CustomObjectsApi(devenv.api_client)
    response = objects.patch_namespaced_custom_object(
        GROUP, VERSION, CRD_NAMESPACE, PLURAL, name, patch,
        field_manager=FIELD_MANAGER, field_validation="Strict",
        _content_type="application/merge-patch+json", _preload_content=False,
    )  # fmt: skip
    patched: dict[str, Any] = json.loads(response.data)
    return patched


def test_the_upstream_crd_validates_every_write(
    devenv: DevEnvHandle, upstream_crd: Path | None
) -> None:
    """Every write of these tests meets the schema real clusters run: the session's API server
    serves the upstream CRD from ../shared/crds (a --kubeconfig cluster: its Spark Operator's),
    which accepts the operator's writes and rejects what our permissive CRD would let through.

    Without ../shared/crds the writes are checked against our own CRD only: skipped locally,
    a failure in CI (the ``upstream_crd`` fixture)."""
    if upstream_crd is not None:
        assert devenv.crd_source == "upstream"
        extensions: Any = k8s_client.ApiextensionsV1Api(devenv.api_client)
        served_crd = json.loads(
            extensions.read_custom_resource_definition(CRD_NAME, _preload_content=False).data
        )
        [shipped] = load_crds([upstream_crd])
        own_dir = project_crd_dir()
        assert own_dir is not None
        [own] = load_crds([own_dir / "sparkapplications.yaml"])
        served = _spec_fields(served_crd)
        assert served == _spec_fields(shipped)  # the upstream schema is the one served
        assert served > _spec_fields(own), "the session serves our own CRD, not upstream's"
    cluster = Cluster(devenv.api_client)
    cluster.ensure_namespace(CRD_NAMESPACE)
    name = "crd-writes"
    try:
        cluster.create(CRD_NAMESPACE, spark_application(name, 2, {"actuation": "in-place"}))
        # what the operator writes: the in-place target annotation, the restart's instances
        target = _operator_patch(
            devenv, name, {"metadata": {"annotations": {PREFIX + "target-executors": "4"}}}
        )
        assert annotations_of(target)[PREFIX + "target-executors"] == "4"
        restarted = _operator_patch(devenv, name, {"spec": {"executor": {"instances": 5}}})
        assert restarted["spec"]["executor"]["instances"] == 5
        # what the schema must refuse: a mistyped count, and a field upstream does not know
        # (our CRD preserves unknown fields; upstream's does not, so Strict rejects it)
        for bad, where in (
            ({"spec": {"executor": {"instances": "five"}}}, "spec.executor.instances"),
            ({"spec": {"executor": {"replicas": 5}}}, "replicas"),
        ):
            with pytest.raises(ApiException) as refused:
                _operator_patch(devenv, name, bad)
            assert refused.value.status in (400, 422), refused.value.body
            assert where in str(refused.value.body), refused.value.body
        assert cluster.get(CRD_NAMESPACE, name)["spec"]["executor"]["instances"] == 5
    finally:
        cluster.delete_all(CRD_NAMESPACE)


def test_load_increase_raises_executors_and_a_drop_lowers_them(stack: OperatorStack) -> None:
    name = "load-step"
    stack.create(name, 2, 1000.0, actuation="in-place", weight_policy="balanced")
    stack.running(name)
    before = stack.decided(name, count=4)
    stack.cluster.set_rate(NAMESPACE, name, 9000.0)
    high = wait_for(
        "more executors after the load step",
        lambda: (n := current_executors(stack.get(name))) >= before + 3 and n,
        timeout_s=12.0,
    )
    stack.cluster.set_rate(NAMESPACE, name, 400.0)
    wait_for(
        "fewer executors after the load drop",
        lambda: (n := current_executors(stack.get(name))) < high and n,
        timeout_s=25.0,
    )

    # the event is written after the patch it reports: poll for it briefly
    def decisions_seen() -> list[dict[str, str]]:
        return [parse_message(e.message) for e in stack.events(name, "ScalingDecision")]

    with contextlib.suppress(TimeoutError):
        wait_for(
            "the scale-down's event",
            lambda: any(d["direction"] == "down" for d in decisions_seen()),
            timeout_s=10.0,
        )
    decisions = decisions_seen()
    directions = [d["direction"] for d in decisions]
    assert "up" in directions, decisions
    assert "down" in directions, decisions
    up = next(d for d in decisions if d["direction"] == "up" and int(d["input_eps"]) > 5000)
    # the policy decided, not the DS2 fallback; a default stage (the SLO guard's rescue, the
    # raise cap) may have changed its count under the step, labelled on top of it
    assert up["controller"].split("+")[0] == "ppo", up
    assert up["actuation"] == "in-place"
    # in-place actuation never touches the spec: no restart, the same application id
    app = stack.get(name)
    assert app["spec"]["executor"]["instances"] == 2
    assert app["metadata"]["generation"] == 1
    assert app["status"]["submissionAttempts"] == 1
    stack.assert_writes_accepted()


def test_meta_mode_retunes_the_weights_and_fixed_weights_stay(stack: OperatorStack) -> None:
    fixed = {"alpha": "0.2", "beta": "0.5", "gamma": "0.3"}
    stack.create("meta-app", 3, 3000.0, actuation="in-place")
    stack.create("fixed-app", 3, 3000.0, actuation="in-place", weight_policy="fixed", **fixed)
    updated = wait_for(
        "a WeightsUpdated event",
        lambda: stack.events("meta-app", "WeightsUpdated"),
        timeout_s=META_INTERVAL_S * 3 + 10,
    )
    fields = parse_message(updated[0].message)
    assert fields["applied"] == "true"
    assert fields["objective"] == "slo"
    written = annotations_of(stack.get("meta-app"))
    after = fields["weights"].split("->")[1].split("/")
    assert [written[PREFIX + w] for w in ("alpha", "beta", "gamma")] == after
    assert abs(sum(float(w) for w in after) - 1.0) < 0.01
    # a whole further meta interval later, the fixed weights are still as the user wrote them
    time.sleep(META_INTERVAL_S + 1)
    kept = annotations_of(stack.get("fixed-app"))
    assert {w: kept[PREFIX + w] for w in fixed} == fixed
    assert stack.events("fixed-app", "WeightsUpdated") == []
    stack.assert_writes_accepted()


def test_recommend_reports_without_patching_and_paused_does_nothing(
    stack: OperatorStack,
) -> None:
    stack.create("recommend-app", 2, 9000.0, mode="recommend", weight_policy="latency-first")
    stack.create("paused-app", 2, 9000.0, mode="paused", weight_policy="latency-first")
    # one per change of the recommended count; a slow poll may already see a second one
    [recommendation, *_] = wait_for(
        "a ScalingRecommendation",
        lambda: stack.events("recommend-app", "ScalingRecommendation"),
        timeout_s=25.0,
    )
    fields = parse_message(recommendation.message)
    assert fields["mode"] == "recommend"
    assert fields["direction"] == "up"
    time.sleep(3.0)  # several more cycles
    for name in ("recommend-app", "paused-app"):
        app = stack.get(name)
        assert written_by(app, FIELD_MANAGER) == [], f"{name} was written to"
        # nor did kopf write its own bookkeeping: no finalizer, no kopf annotations
        assert not app["metadata"].get("finalizers")
        assert not [a for a in annotations_of(app) if "kopf" in a]
        assert app["spec"]["executor"]["instances"] == 2
        assert PREFIX + "target-executors" not in annotations_of(app)
    assert stack.events("paused-app") == []
    assert stack.decisions("paused-app") == 0
    stack.assert_writes_accepted()


def test_restart_actuation_respects_the_cooldown(stack: OperatorStack) -> None:
    name = "restart-app"
    stack.create(name, 2, 9000.0, actuation="restart", weight_policy="latency-first")
    first_id = stack.running(name)["status"]["sparkApplicationId"]
    changes: list[tuple[float, int]] = []
    seen = 2
    deadline = time.monotonic() + COOLDOWN_S + 30
    while len(changes) < 2 and time.monotonic() < deadline:
        instances = int(stack.get(name)["spec"]["executor"]["instances"])
        if instances != seen:
            changes.append((time.monotonic(), instances))
            seen = instances
            if len(changes) == 1:  # now make it want the opposite at once
                stack.cluster.set_rate(NAMESPACE, name, 300.0)
        time.sleep(0.1)
    assert len(changes) == 2, f"expected two changes, saw {changes}"
    (t1, up), (t2, down) = changes
    assert up > 2
    assert down < up
    assert t2 - t1 >= COOLDOWN_S - 0.5, f"second change {t2 - t1:.1f} s after the first"
    app = stack.running(name)
    assert app["status"]["sparkApplicationId"] != first_id  # restart actuation restarts
    decisions = [parse_message(e.message) for e in stack.events(name, "ScalingDecision")]
    assert [d["actuation"] for d in decisions] == ["restart", "restart"]
    stack.assert_writes_accepted()


def test_a_malformed_annotation_warns_and_keeps_its_last_good_value(
    stack: OperatorStack,
) -> None:
    name = "typo-app"
    stack.create(name, 2, 9000.0, mode="recommend", weight_policy="latency-first")
    wait_for(
        "a recommendation", lambda: stack.events(name, "ScalingRecommendation"), timeout_s=25.0
    )
    stack.cluster.annotate(NAMESPACE, name, {PREFIX + "mode": "fast"})
    [warning] = wait_for(
        "an InvalidAnnotation warning",
        lambda: stack.events(name, "InvalidAnnotation"),
        timeout_s=10.0,
    )
    assert warning.type == "Warning"
    fields = parse_message(warning.message)
    assert fields["annotation"] == "hrl-autoscaler.io/mode"
    assert fields["value"] == "fast"
    assert fields["accepted"] == "one of auto, recommend, paused"
    assert fields["action"] == "keeping its last good value; the other annotations apply"
    time.sleep(3.0)  # still recommend (the default would be auto and would patch)
    assert written_by(stack.get(name), FIELD_MANAGER) == []
    stack.cluster.annotate(NAMESPACE, name, {PREFIX + "mode": "auto"})
    wait_for(
        "the fixed annotation to take effect",
        lambda: stack.get(name)["spec"]["executor"]["instances"] != 2,
        timeout_s=10.0,
    )
    stack.assert_writes_accepted()
