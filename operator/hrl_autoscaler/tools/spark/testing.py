"""Helpers to run the IoT job for real: an event writer and the job as its own process.

Used by the ``spark`` tests and usable by anything else that needs the job running on a
:class:`~hrl_autoscaler.tools.spark.standalone.StandaloneCluster` (calibration, demos). The writer
produces the agreed input format (one atomically renamed ``part-<epoch_ms>-<seq>.jsonl`` file
per tick) at a rate that can change while it runs, without depending on the load generator's
own machinery, so the job's tests do not move when the load generator does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hrl_autoscaler.tools.devenv.processes import ManagedProcess
from hrl_autoscaler.tools.lifecycle import StartStop
from hrl_autoscaler.tools.spark import iot_job
from hrl_autoscaler.tools.spark.iot_options import IotJobOptions


def fixed_weight_settings(max_executors: int) -> dict[str, str]:
    """The ``hrl-autoscaler.io/*`` settings the real-Spark tests opt in with: in-place, weights
    fixed at alpha=0.4, beta=0, gamma=0.6 (at a few executors and low utilisation the frozen
    policy then answers utilisation, so a load step moves it), 1..``max_executors``."""
    return {
        "actuation": "in-place",
        "weight-policy": "fixed",
        "alpha": "0.4",
        "beta": "0.0",
        "gamma": "0.6",
        "min-executors": "1",
        "max-executors": str(max_executors),
    }


#: (device type, normal low, normal high); a reading outside the band is an anomaly.
DEVICE_TYPES: tuple[tuple[str, float, float], ...] = (
    ("heart-monitor", 45.0, 120.0),
    ("thermometer", 10.0, 35.0),
    ("water-meter", 0.0, 40.0),
)


class EventFileWriter(StartStop):
    """Writes ``rate_eps`` events per second into ``directory``, one file per ``tick_s``.

    A daemon thread; :meth:`set_rate` changes the rate from the next tick. Event times are the
    wall clock (the job's watermark follows them). One reading in ``anomaly_every`` is far
    outside its band, so anomaly flags appear at every rate.
    """

    def __init__(
        self,
        directory: Path,
        rate_eps: float = 0.0,
        tick_s: float = 1.0,
        devices: int = 200,
        anomaly_every: int = 500,
        seed: int = 0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tick_s = tick_s
        self.devices = devices
        self.anomaly_every = anomaly_every
        self._rate = rate_eps
        self._rng = random.Random(seed)
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.events_written = 0
        self.files_written = 0

    @property
    def rate_eps(self) -> float:
        return self._rate

    def set_rate(self, rate_eps: float) -> None:
        if rate_eps < 0:
            raise ValueError(f"rate must be >= 0, got {rate_eps}")
        self._rate = rate_eps

    def start(self) -> EventFileWriter:
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        next_tick = time.monotonic()
        carry = 0.0
        while not self._stop.is_set():
            wanted = self._rate * self.tick_s + carry
            count = int(wanted)
            carry = wanted - count
            if count:
                self.write_file(count)
            next_tick += self.tick_s
            self._stop.wait(max(0.0, next_tick - time.monotonic()))

    def lines(self, count: int, now_s: float | None = None) -> list[str]:
        now_s = time.time() if now_s is None else now_s
        rng = self._rng
        out = []
        for _ in range(count):
            device = rng.randrange(self.devices)
            kind, low, high = DEVICE_TYPES[device % len(DEVICE_TYPES)]
            self.events_written += 1
            if self.events_written % self.anomaly_every == 0:
                reading = high * 3.0
            else:
                reading = rng.uniform(low, high)
            at = now_s - rng.uniform(0.0, self.tick_s)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
            millis = int((at % 1) * 1000)
            out.append(
                f'{{"device_id": "dev-{device:05d}", "device_type": "{kind}", '
                f'"event_time": "{stamp}.{millis:03d}Z", "reading": {reading:.1f}}}'
            )
        return out

    def write_file(self, count: int) -> Path:
        """One tick's file, written under a hidden name and renamed into place."""
        self._seq += 1
        name = f"part-{int(time.time() * 1000):013d}-{self._seq:06d}.jsonl"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_text("\n".join(self.lines(count)) + "\n")
        final = self.directory / name
        tmp.rename(final)
        self.files_written += 1
        return final


class IotJobProcess:
    """The IoT job as its own process (``python iot_job.py ...``), as a driver pod runs it.

    Running the driver in a child process keeps the test process free of a JVM and lets a test
    check that the application id never changes while the same driver process lives.
    """

    def __init__(
        self,
        options: IotJobOptions,
        work_dir: Path,
        env: Mapping[str, str] | None = None,
        name: str = "iot-job",
    ) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.status_file = options.status_file or work_dir / f"{name}.status.json"
        self.options = dataclasses.replace(options, status_file=self.status_file)
        self.status_file.unlink(missing_ok=True)
        environment = {
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        argv = [
            shutil.which("env") or "/usr/bin/env",
            *(f"{k}={v}" for k, v in environment.items()),
            sys.executable,
            str(Path(iot_job.__file__).resolve()),
            *self.options.to_argv(),
        ]
        self.log = work_dir / f"{name}.log"
        self.process = ManagedProcess.start(name, argv, self.log)
        self._status: dict[str, Any] | None = None

    def wait_running(self, timeout_s: float = 120.0) -> dict[str, Any]:
        """Wait for the status file (the query runs); its content (``application_id``,
        ``ui_url``, ...)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.process.ensure_running()
            if self.status_file.exists():
                self._status = json.loads(self.status_file.read_text())
                return self._status
            time.sleep(0.2)
        raise TimeoutError(
            f"the IoT job did not start its query within {timeout_s:.0f} s; log {self.log}:\n"
            f"{self.process.log_tail(40)}"
        )

    @property
    def status(self) -> dict[str, Any]:
        return self._status or self.wait_running()

    @property
    def application_id(self) -> str:
        return str(self.status["application_id"])

    @property
    def ui_url(self) -> str:
        return str(self.status["ui_url"])

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (the job stops its query and Spark), then the whole group; the exit code."""
        if self.process.alive():
            os.kill(self.process.record.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self.process.alive() and time.monotonic() < deadline:
                time.sleep(0.2)
        code = self.process.exit_code()
        self.process.stop()
        return code


def driver_executor_ids(ui_url: str, app_id: str) -> list[str]:
    """Executors registered with the driver now (its REST API; the driver excluded)."""
    response = httpx.get(f"{ui_url}/api/v1/applications/{app_id}/executors", timeout=15.0)
    response.raise_for_status()
    return sorted(str(e["id"]) for e in response.json() if e.get("id") != "driver")


@dataclass(frozen=True)
class ScalingTiming:
    """How long one in-place change took to show: where executors are launched (JVMs on the
    standalone workers, or executor pods Running on Kubernetes) and at the driver (executors
    registered or removed)."""

    before: int
    after: int
    launched_s: float
    driver_s: float


def time_scaling(
    launched: Callable[[], int],
    app_id: str,
    ui_url: str,
    set_target: Callable[[int], None],
    target: int,
    timeout_s: float = 120.0,
) -> ScalingTiming:
    """Write ``target`` through ``set_target`` and time both views until they show it.

    ``launched``: the executors running where they are launched (the master's view on a
    standalone cluster, Running executor pods on Kubernetes)."""
    before = launched()
    start = time.monotonic()
    set_target(target)
    launched_s: float | None = None
    driver_s: float | None = None
    while time.monotonic() - start < timeout_s:
        elapsed = time.monotonic() - start
        if launched_s is None and launched() == target:
            launched_s = elapsed
        if driver_s is None and _driver_count(ui_url, app_id) == target:
            driver_s = elapsed
        if launched_s is not None and driver_s is not None:
            return ScalingTiming(before, target, launched_s, driver_s)
        time.sleep(0.1)
    raise TimeoutError(
        f"{app_id}: {before} -> {target} executors not reached in {timeout_s:.0f} s "
        f"(launched {launched()}, driver {_driver_count(ui_url, app_id)})"
    )


def _driver_count(ui_url: str, app_id: str) -> int | None:
    """The driver's executor count; None when its UI does not answer in time (a busy JVM)."""
    try:
        return len(driver_executor_ids(ui_url, app_id))
    except httpx.HTTPError:
        return None


__all__ = [
    "DEVICE_TYPES",
    "EventFileWriter",
    "IotJobProcess",
    "ScalingTiming",
    "driver_executor_ids",
    "time_scaling",
]
