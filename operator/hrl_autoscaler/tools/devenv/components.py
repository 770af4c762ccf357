"""The emulated Spark data plane and the operator as their own processes (parts of a LocalStack).

As in production, the operator runs as a separate process (``hrl-autoscaler run`` with a YAML
config file), so the demo, the e2e tests and the benchmark exercise its real start-up, signal
handling and configuration path. Children are tied to the starting process (SIGTERM when it
dies) and run in their own process group, so nothing outlives a killed demo or test run.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from hrl_autoscaler.tools.devenv.processes import ManagedProcess, ProcessExitedError
from hrl_autoscaler.tools.devenv.prometheus import ScrapeTarget

EMULATOR_PATHS = {
    "emulator-executors": "/metrics/executors/prometheus",
    "emulator-streaming": "/metrics/prometheus",
    "emulator-lag": "/metrics",
}


def _wait_for_file(path: Path, process: ManagedProcess, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        process.ensure_running()
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise TimeoutError(
        f"{process.name} did not write {path} within {timeout_s:.0f} s; log {process.record.log}:"
        f"\n{process.log_tail()}"
    )


class Emulator:
    """``python -m hrl_autoscaler.tools.devenv.emulator`` on a free port."""

    def __init__(
        self,
        kubeconfig: Path,
        work_dir: Path,
        speed: float,
        tick_s: float,
        *,
        spark_submit: bool = False,
    ) -> None:
        """``spark_submit``: also submit the applications annotated for it with spark-submit
        (the Spark Operator's role for real, on a cluster with a node; see ``sparkop``)."""
        work_dir.mkdir(parents=True, exist_ok=True)
        port_file = work_dir / "emulator.port"
        port_file.unlink(missing_ok=True)
        argv = [
            sys.executable,
            "-m",
            "hrl_autoscaler.tools.devenv.emulator",
            "--kubeconfig",
            str(kubeconfig),
            "--speed",
            str(speed),
            "--tick",
            str(tick_s),
            "--port-file",
            str(port_file),
        ]
        if spark_submit:
            argv += ["--spark-submit", "--submit-log-dir", str(work_dir / "spark-submit")]
        self.process = ManagedProcess.start("emulator", argv, work_dir / "emulator.log")
        self.port = int(_wait_for_file(port_file, self.process, 30.0))
        self.speed = speed

    def scrape_targets(self, interval: str = "1s") -> list[ScrapeTarget]:
        return [
            ScrapeTarget(job, [f"127.0.0.1:{self.port}"], path, interval)
            for job, path in EMULATOR_PATHS.items()
        ]

    def stop(self) -> None:
        self.process.stop()


def operator_config(
    prometheus_url: str,
    kubeconfig: Path,
    speed: float = 1.0,
    **overrides: Any,
) -> dict[str, Any]:
    """A config for an operator driving an emulator ``speed`` times faster than real time:
    every duration of the production defaults divided by ``speed``."""
    config: dict[str, Any] = {
        "kubeconfig": str(kubeconfig),
        "prometheus_url": prometheus_url,
        "decision_interval_s": 30.0 / speed,
        "meta_interval_s": 600.0 / speed,
        "max_metric_age_s": max(120.0 / speed, 5.0),
        "first_batch_grace_s": 180.0 / speed,
        "metrics_window_s": max(30.0 / speed, 2.0),
        "prometheus_timeout_s": 5.0,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "guardrails": {"restart_cooldown_s": 300.0 / speed},
    }
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


class OperatorProcess:
    """``hrl-autoscaler run --config FILE`` (the production entry point)."""

    def __init__(self, config: Mapping[str, Any], work_dir: Path, name: str = "operator") -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = work_dir / f"{name}.yaml"
        self.config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
        port_file = work_dir / f"{name}.port"
        port_file.unlink(missing_ok=True)
        argv = [
            sys.executable,
            "-m",
            "hrl_autoscaler.cli",
            "run",
            "--config",
            str(self.config_path),
            "--port-file",
            str(port_file),
        ]
        self.log = work_dir / f"{name}.log"
        self.process = ManagedProcess.start(name, argv, self.log)
        self.port = int(_wait_for_file(port_file, self.process, 60.0))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.process.ensure_running()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"operator not ready in {timeout_s:.0f} s:\n{self.process.log_tail()}")

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5.0).text

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as when a node dies: no clean shutdown."""
        os.kill(self.process.record.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.process.alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM and wait; the exit code (None if it had to be killed)."""
        self.process.stop()
        return self.process.exit_code()


__all__ = ["Emulator", "OperatorProcess", "ProcessExitedError", "operator_config"]
