"""The in-place executor agent's logic, with a fake SparkContext (no JVM).

What Spark does with the calls (executors starting and leaving for real) is checked on a
standalone cluster by tests/unit/test_spark_cluster.py and tests/e2e/test_spark_inplace.py;
here: which target is accepted, what is requested when, which executors are killed, and that
the agent refuses to run next to dynamic allocation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from hrl_autoscaler.config import ExecutorAgentSettings
from hrl_autoscaler.tools.spark import AgentConfigurationError, ExecutorTargetAgent
from hrl_autoscaler.tools.spark.agent_spark import ExecutorState, executors_to_kill, refusal
from hrl_autoscaler.tools.spark.agent_targets import (
    APP_NAME_LABEL_CONF,
    FileTargetSource,
    parse_target,
    resolve_application,
)

# -- target parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("3", 3), (" 4\n", 4), ("1", 1), ("20", 20)])
def test_valid_targets_are_accepted(raw: str, value: int) -> None:
    assert parse_target(raw, 1, 20).value == value
    assert parse_target(raw, 1, 20).problem is None


def test_no_target_is_neither_a_value_nor_a_problem() -> None:
    reading = parse_target(None, 1, 20)
    assert reading.value is None
    assert reading.problem is None


@pytest.mark.parametrize("raw", ["abc", "3.5", "+3", "-1", "3_0", "0x3", "", "  ", "3 4"])
def test_malformed_targets_are_refused_with_a_reason(raw: str) -> None:
    reading = parse_target(raw, 1, 20)
    assert reading.value is None
    assert reading.problem


@pytest.mark.parametrize("raw", ["0", "21", "500"])
def test_out_of_bounds_targets_are_refused_naming_the_bounds(raw: str) -> None:
    reading = parse_target(raw, 1, 20)
    assert reading.value is None
    assert reading.problem is not None
    assert "[1, 20]" in reading.problem


# -- refusal -------------------------------------------------------------------------------


def _conf(**settings: str) -> Any:
    return lambda key: settings.get(key)


@pytest.mark.parametrize(
    "key", ["spark.dynamicAllocation.enabled", "spark.streaming.dynamicAllocation.enabled"]
)
@pytest.mark.parametrize("value", ["true", "TRUE", " True "])
def test_dynamic_allocation_is_refused_naming_the_setting(key: str, value: str) -> None:
    reason = refusal(lambda k: value if k == key else None)
    assert reason is not None
    assert f"{key}=true" in reason
    assert f"{key}=false" in reason


def test_local_mode_is_refused() -> None:
    reason = refusal(_conf(**{"spark.master": "local[2]"}))
    assert reason is not None
    assert "local" in reason


def test_a_cluster_without_dynamic_allocation_is_accepted() -> None:
    conf = {"spark.master": "spark://127.0.0.1:7077", "spark.dynamicAllocation.enabled": "false"}
    assert refusal(lambda k: conf.get(k)) is None


# -- which executors leave -----------------------------------------------------------------


def _executors(*busy: int) -> list[ExecutorState]:
    """Executors "0", "1", ... with these running-task counts."""
    return [ExecutorState(str(i), tasks) for i, tasks in enumerate(busy)]


def test_idle_executors_leave_first_newest_first() -> None:
    executors = _executors(0, 2, 0, 1, 0)
    assert executors_to_kill(executors, target=3) == ["4", "2"]


def test_busy_executors_stay_unless_allowed() -> None:
    executors = _executors(1, 0, 3, 2)
    assert executors_to_kill(executors, target=1) == ["1"]
    # allowed: idle first, then the least busy
    assert executors_to_kill(executors, target=1, allow_busy=True) == ["1", "0", "3"]


def test_nothing_leaves_without_a_surplus() -> None:
    assert executors_to_kill(_executors(0, 0), target=2) == []
    assert executors_to_kill(_executors(0, 0), target=5) == []


def test_ids_sort_numerically_not_as_text() -> None:
    executors = [ExecutorState(i, 0) for i in ("9", "10", "2")]
    assert executors_to_kill(executors, target=1) == ["10", "9"]


# -- the agent with a fake SparkContext ----------------------------------------------------


class FakeBridge:
    """A SparkContext as the agent sees it: executors register when requested."""

    def __init__(self, conf: dict[str, str] | None = None, running: Sequence[int] = ()) -> None:
        self._conf = {"spark.master": "spark://127.0.0.1:7077", **(conf or {})}
        self.registered: dict[str, int] = {str(i): t for i, t in enumerate(running)}
        self.requests: list[int] = []
        self.kills: list[tuple[list[str], bool]] = []
        self.accept_requests = True
        self.is_stopped = False
        self._next_id = len(self.registered)

    def application_id(self) -> str:
        return "app-test-0001"

    def conf(self, key: str) -> str | None:
        return self._conf.get(key)

    def executors(self) -> list[ExecutorState]:
        return [ExecutorState(i, t) for i, t in self.registered.items()]

    def request_total(self, count: int) -> bool:
        self.requests.append(count)
        return self.accept_requests

    def kill(self, executor_ids: Sequence[str], force: bool) -> list[str]:
        self.kills.append((list(executor_ids), force))
        # as Spark does without force: a busy executor is not killed
        return [i for i in executor_ids if force or self.registered.get(i, 0) == 0]

    def stopped(self) -> bool:
        return self.is_stopped

    # what the cluster manager does afterwards
    def launch(self, count: int = 1) -> None:
        for _ in range(count):
            self.registered[str(self._next_id)] = 0
            self._next_id += 1

    def remove(self, executor_ids: Sequence[str]) -> None:
        for i in executor_ids:
            self.registered.pop(i, None)


class FakeSource:
    description = "fake source"

    def __init__(self, value: str | None = None) -> None:
        self.value = value
        self.error: Exception | None = None

    def read(self) -> str | None:
        if self.error is not None:
            raise self.error
        return self.value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _agent(
    bridge: FakeBridge, source: FakeSource, clock: Clock | None = None, **settings: Any
) -> ExecutorTargetAgent:
    return ExecutorTargetAgent(bridge, ExecutorAgentSettings(**settings), source, clock or Clock())


def test_a_new_target_is_requested_once() -> None:
    bridge, source = FakeBridge(running=[0, 0]), FakeSource("3")
    agent = _agent(bridge, source)
    agent.step()
    agent.step()
    assert bridge.requests == [3]
    assert agent.applied == 3
    source.value = "4"
    agent.step()
    assert bridge.requests == [3, 4]


def test_scale_in_requests_the_total_first_then_kills_only_idle_surplus() -> None:
    bridge, source = FakeBridge(running=[1, 0, 0, 2]), FakeSource("2")
    agent = _agent(bridge, source)
    agent.step()
    assert bridge.requests == [2]
    assert bridge.kills == [(["2", "1"], False)]
    assert agent.leaving == ["1", "2"]
    # while they leave, nothing else is killed
    agent.step()
    assert len(bridge.kills) == 1
    bridge.remove(["1", "2"])
    agent.step()
    assert agent.leaving == []
    assert len(bridge.kills) == 1


def test_busy_surplus_waits_for_the_grace_period_then_is_forced() -> None:
    clock = Clock()
    bridge, source = FakeBridge(running=[1, 1, 1]), FakeSource("1")
    agent = _agent(bridge, source, clock, scale_in_grace_s=30.0)
    agent.step()
    assert bridge.kills == []  # every executor is busy: nothing idle to remove
    clock.now += 29.0
    agent.step()
    assert bridge.kills == []
    clock.now += 1.0
    agent.step()
    assert bridge.kills == [(["2", "1"], True)]  # equally busy: the newest go
    assert agent.leaving == ["1", "2"]


def test_an_executor_that_turns_idle_is_removed_without_force() -> None:
    clock = Clock()
    bridge, source = FakeBridge(running=[1, 1]), FakeSource("1")
    agent = _agent(bridge, source, clock)
    agent.step()
    bridge.registered["1"] = 0
    clock.now += 2
    agent.step()
    assert bridge.kills == [(["1"], False)]


def test_an_invalid_target_keeps_the_last_good_one_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bridge, source = FakeBridge(running=[0, 0]), FakeSource("2")
    agent = _agent(bridge, source)
    agent.step()
    caplog.set_level(logging.WARNING, logger="hrl_autoscaler.tools.spark.agent")
    for bad in ("three", "three", "25"):
        source.value = bad
        agent.step()
    assert agent.target == 2
    assert bridge.requests == [2]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings  # one per distinct bad value
    assert "'three'" in warnings[0]
    assert "keeping target 2" in warnings[0]
    assert "outside [1, 20]" in warnings[1]
    invalid = agent.metrics.registry.get_sample_value(
        "hrl_autoscaler_agent_invalid_targets_total", {"application_id": "app-test-0001"}
    )
    assert invalid == 2.0
    # a good value again is applied
    source.value = "3"
    agent.step()
    assert bridge.requests == [2, 3]


def test_a_source_error_keeps_the_target(caplog: pytest.LogCaptureFixture) -> None:
    bridge, source = FakeBridge(running=[0, 0]), FakeSource("2")
    agent = _agent(bridge, source)
    agent.step()
    source.error = ConnectionError("api server down")
    caplog.set_level(logging.WARNING, logger="hrl_autoscaler.tools.spark.agent")
    agent.step()
    agent.step()
    assert agent.target == 2
    assert bridge.requests == [2]
    assert [r.getMessage() for r in caplog.records] == [
        "cannot read fake source: api server down; keeping target 2"
    ]


def test_without_a_target_the_initial_one_applies_and_none_means_hands_off() -> None:
    bridge = FakeBridge(running=[0, 0, 0, 0])
    agent = _agent(bridge, FakeSource(None), initial_executors=2)
    agent.step()
    assert bridge.requests == [2]
    assert bridge.kills == [(["3", "2"], False)]
    hands_off = FakeBridge(running=[0, 0, 0])
    _agent(hands_off, FakeSource(None)).step()
    assert hands_off.requests == []
    assert hands_off.kills == []


def test_a_refused_request_is_retried_and_nothing_is_killed_meanwhile() -> None:
    bridge, source = FakeBridge(running=[0, 0, 0]), FakeSource("1")
    bridge.accept_requests = False
    agent = _agent(bridge, source)
    agent.step()
    assert (agent.applied, bridge.kills) == (None, [])
    bridge.accept_requests = True
    agent.step()
    assert bridge.requests == [1, 1]
    assert agent.applied == 1
    assert bridge.kills == [(["2", "1"], False)]


def test_convergence_is_measured_from_the_change(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    bridge, source = FakeBridge(running=[0]), FakeSource("3")
    agent = _agent(bridge, source, clock)
    caplog.set_level(logging.INFO, logger="hrl_autoscaler.tools.spark.agent")
    agent.step()
    clock.now += 4.0
    bridge.launch(2)
    agent.step()
    seconds = agent.metrics.registry.get_sample_value(
        "hrl_autoscaler_agent_last_convergence_seconds", {"application_id": "app-test-0001"}
    )
    assert seconds == 4.0
    assert any("3 executors registered" in r.getMessage() for r in caplog.records)


def test_the_agent_refuses_dynamic_allocation_before_touching_spark() -> None:
    bridge = FakeBridge(conf={"spark.dynamicAllocation.enabled": "true"}, running=[0, 0])
    agent = _agent(bridge, FakeSource("1"))
    with pytest.raises(AgentConfigurationError, match=r"spark\.dynamicAllocation\.enabled"):
        agent.start()
    assert bridge.requests == []
    assert bridge.kills == []


class FakeConf:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)


class FakeSparkContext:
    """Just what ``from_spark_context`` reads before it would call into the JVM."""

    def __init__(self, conf: dict[str, str]) -> None:
        self._conf = FakeConf(conf)
        self.applicationId = "app-fake"
        self._jvm = None
        self._jsc = self

    def sc(self) -> FakeSparkContext:
        return self

    def getConf(self) -> FakeConf:  # noqa: N802 (PySpark's name)
        return self._conf


def test_from_spark_context_refuses_dynamic_allocation(tmp_path: Path) -> None:
    sc = FakeSparkContext(
        {"spark.master": "spark://127.0.0.1:7077", "spark.dynamicAllocation.enabled": "true"}
    )
    settings = ExecutorAgentSettings(source="file", target_file=tmp_path / "target")
    with pytest.raises(AgentConfigurationError) as info:
        ExecutorTargetAgent.from_spark_context(sc, settings)
    assert "spark.dynamicAllocation.enabled=true" in str(info.value)


def test_the_thread_applies_targets_and_serves_gauges(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("2")
    bridge = FakeBridge(running=[0, 0, 0])
    settings = ExecutorAgentSettings(
        source="file",
        target_file=target,
        poll_interval_s=0.05,
        metrics_port=0,
        metrics_host="127.0.0.1",
    )
    agent = ExecutorTargetAgent(bridge, settings, FileTargetSource(target)).start()
    try:
        deadline = time.monotonic() + 5
        while not bridge.kills and time.monotonic() < deadline:
            time.sleep(0.02)
        assert bridge.requests == [2]
        assert bridge.kills == [(["2"], False)]
        assert agent.metrics.port
        text = httpx.get(f"http://127.0.0.1:{agent.metrics.port}/metrics", timeout=5).text
        assert 'hrl_autoscaler_agent_applied_executors{application_id="app-test-0001"} 2.0' in text
        assert 'hrl_autoscaler_agent_registered_executors{application_id="app-test-0001"}' in text
        bridge.is_stopped = True  # the SparkContext stops: the thread ends on its own
        assert agent._thread is not None
        agent._thread.join(5)
        assert not agent._thread.is_alive()
    finally:
        agent.stop()


# -- where the target comes from -----------------------------------------------------------


def test_file_source_reads_the_content_and_a_missing_file_means_no_target(
    tmp_path: Path,
) -> None:
    source = FileTargetSource(tmp_path / "target")
    assert source.read() is None
    (tmp_path / "target").write_text("5\n")
    assert source.read() == "5\n"


def test_the_application_is_found_from_what_the_spark_operator_passes() -> None:
    conf = {"spark.kubernetes.namespace": "streaming", APP_NAME_LABEL_CONF: "iot"}
    namespace, name = resolve_application(ExecutorAgentSettings(), lambda k: conf.get(k))
    assert (namespace, name) == ("streaming", "iot")
    given = ExecutorAgentSettings(namespace="other", name="mine")
    assert resolve_application(given, lambda k: conf.get(k)) == ("other", "mine")


def test_an_unknown_application_is_an_error_naming_the_flags(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        "hrl_autoscaler.tools.spark.agent_targets.SERVICE_ACCOUNT_NAMESPACE",
        tmp_path / "no-such-file",
    )
    with pytest.raises(AgentConfigurationError, match="--agent-name"):
        resolve_application(ExecutorAgentSettings(namespace="ns"), lambda k: None)


def test_settings_reject_inconsistent_bounds(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="min_executors"):
        ExecutorAgentSettings(min_executors=5, max_executors=2)
    with pytest.raises(ValueError, match="target_file"):
        ExecutorAgentSettings(source="file")
    with pytest.raises(ValueError, match="initial_executors"):
        ExecutorAgentSettings(initial_executors=30, max_executors=20)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HRL_AUTOSCALER_AGENT_NAME", "iot")
    monkeypatch.setenv("HRL_AUTOSCALER_AGENT_MAX_EXECUTORS", "8")
    settings = ExecutorAgentSettings()
    assert settings.name == "iot"
    assert settings.max_executors == 8
