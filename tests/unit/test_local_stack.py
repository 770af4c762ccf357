"""LocalStack's ordering and teardown, with recording stand-ins for the processes it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hrl_autoscaler.tools.devenv import stack as stack_module
from hrl_autoscaler.tools.devenv.prometheus import ScrapeTarget
from hrl_autoscaler.tools.devenv.stack import LocalStack, StackOptions


class FakeEnv:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.kubeconfig = Path("/nonexistent/kubeconfig")
        self.prometheus_url = "http://127.0.0.1:9"

    def api_client(self) -> object:
        self.log.append("api")
        return object()

    def add_scrape_target(self, target: ScrapeTarget) -> None:
        self.log.append(f"scrape {target.job}")

    def remove_scrape_target(self, job: str) -> None:
        self.log.append(f"unscrape {job}")


class FakeCluster:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def ensure_namespace(self, name: str) -> None:
        self.log.append(f"namespace {name}")

    def delete_all(self, name: str) -> None:
        self.log.append(f"delete {name}")


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    class FakeEmulator:
        def __init__(self, kubeconfig: Path, work_dir: Path, speed: float, tick_s: float) -> None:
            seen.append(f"emulator x{speed:g}")
            self.port = 1

        def scrape_targets(self, interval: str = "1s") -> list[ScrapeTarget]:
            return [ScrapeTarget("emulator-lag", ["127.0.0.1:1"], "/metrics", interval)]

        def stop(self) -> None:
            seen.append("stop emulator")

    class FakeProcess:
        def __init__(self, name: str) -> None:
            self.name = name
            self.running = True
            self.code = 0

        def alive(self) -> bool:
            return self.running

        def log_tail(self) -> str:
            return "(log)"

    class FakeOperator:
        fail_ready = False
        exit_code = 0

        def __init__(self, config: dict[str, Any], work_dir: Path, name: str = "operator") -> None:
            seen.append(f"operator {name} {config['namespaces']} {config['decision_interval_s']}")
            self.config = config
            self.process = FakeProcess(name)
            self.port = 2
            self.log = work_dir / f"{name}.log"

        def wait_ready(self) -> None:
            if FakeOperator.fail_ready:
                raise TimeoutError("operator not ready")

        def stop(self) -> int:
            if self.process.running:
                seen.append(f"stop {self.process.name}")
                self.process.running = False
            return FakeOperator.exit_code

    monkeypatch.setattr(stack_module, "Emulator", FakeEmulator)
    monkeypatch.setattr(stack_module, "OperatorProcess", FakeOperator)
    monkeypatch.setattr(stack_module, "Cluster", lambda api: FakeCluster(seen))
    monkeypatch.setattr(stack_module, "close_api_client", lambda api: seen.append("close api"))
    return seen


def _options(log: list[str], tmp_path: Path, **kwargs: Any) -> StackOptions:
    env: Any = FakeEnv(log)
    return StackOptions(
        work_dir=tmp_path, env=env, namespaces=("ns",), speed=30.0, job_prefix="t-", **kwargs
    )


def test_parts_start_in_order_and_stop_in_reverse(log: list[str], tmp_path: Path) -> None:
    with LocalStack(_options(log, tmp_path, operator_scrape_job="operator")) as stack:
        extra = stack.start_operator("second", namespaces=["other"])
        assert stack.operators == [stack.operator, extra]
    assert log == [
        "api",
        "namespace ns",
        "emulator x30",
        "scrape t-emulator-lag",
        "operator operator ['ns'] 1.0",
        "scrape t-operator",
        "operator second ['other'] 1.0",
        "stop second",
        "unscrape t-operator",
        "stop operator",
        "unscrape t-emulator-lag",
        "stop emulator",
        "delete ns",
        "close api",
    ]


def test_a_failed_start_stops_what_had_started(log: list[str], tmp_path: Path) -> None:
    stack_module.OperatorProcess.fail_ready = True  # type: ignore[attr-defined]  # the fake
    with pytest.raises(TimeoutError), LocalStack(_options(log, tmp_path)):
        pytest.fail("the body must not run")
    assert log[-5:] == [
        "stop operator",
        "unscrape t-emulator-lag",
        "stop emulator",
        "delete ns",
        "close api",
    ]


def test_an_operator_that_exits_uncleanly_fails_the_exit(log: list[str], tmp_path: Path) -> None:
    stack_module.OperatorProcess.exit_code = 1  # type: ignore[attr-defined]  # the fake
    with (
        pytest.raises(RuntimeError, match="did not exit cleanly"),
        LocalStack(_options(log, tmp_path)),
    ):
        pass
    assert log[-1] == "close api"  # everything was still stopped first


def test_restart_starts_the_same_config_again(log: list[str], tmp_path: Path) -> None:
    options = _options(log, tmp_path, operator_overrides={"meta_interval_s": 4.0})
    with LocalStack(options) as stack:
        first = stack.operator
        assert first is not None
        first.config_path = tmp_path / "operator.yaml"  # type: ignore[misc]
        first.config_path.write_text("namespaces: [ns]\ndecision_interval_s: 1.0\n")
        second = stack.restart_operator()
        assert stack.operator is second
        assert second is not first
    assert "stop operator" in log
    assert log.count("operator operator ['ns'] 1.0") == 2
