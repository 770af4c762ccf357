"""A throwaway Spark standalone cluster (one master, one worker) from the pip ``pyspark`` package.

Tests, calibration and the in-place agent's checks need real executors that come and go, which
``local[*]`` mode cannot give (it has no executor-allocation API). The pip package has no
``sbin/start-*.sh`` scripts, so the master and the worker are started directly with
``bin/spark-class``, each in its own process group tied to this Python process (the devenv's
:class:`~hrl_autoscaler.tools.devenv.processes.ManagedProcess`): a killed test run leaves no JVMs,
and stopping the worker's group takes its executor JVMs (children of the worker) with it.

Everything binds to 127.0.0.1 (``SPARK_LOCAL_IP``), so the advertised addresses are loopback
ones and nothing is reachable from outside. The worker's work directory (executor logs) and
local directories (shuffle and block files) live under the cluster's own directory instead of
inside the pyspark package.

Usage::

    with StandaloneCluster(tmp_path, cores=4, memory="3g") as cluster:
        spark = SparkSession.builder.config(map=cluster.spark_conf()).getOrCreate()
        ...
        cluster.executors(spark.sparkContext.applicationId)
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hrl_autoscaler.tools.devenv.processes import (
    ManagedProcess,
    ProcessExitedError,
    check_port_free,
    free_port,
)
from hrl_autoscaler.tools.lifecycle import StartStop
from hrl_autoscaler.tools.spark.spark_setup import check_java, find_spark_home

HOST = "127.0.0.1"
READY_TIMEOUT_S = 90.0
"""JVM start-up on a loaded 2-core machine takes 5-20 s per daemon; 90 s is a hang, not slowness."""
DAEMON_MEMORY = "256m"
"""Heap of the master and worker daemons (Spark's default is 1g): they only do bookkeeping."""


class ClusterNotReadyError(TimeoutError):
    """The master or the worker did not become ready; the message carries their log tails."""


@dataclass(frozen=True)
class StandaloneExecutor:
    """One executor the standalone cluster runs, as its worker reports it."""

    app_id: str
    executor_id: str
    """The id the driver uses (``"0"``, ``"1"``, ...), a string as in ``getExecutorIds``."""
    worker_id: str
    memory_mb: int


def _memory_mb(memory: str) -> int:
    """``512m`` / ``4g`` / ``2048`` (MB) as megabytes, as Spark's worker parses ``--memory``."""
    match = re.fullmatch(r"(\d+)([mMgG]?)", memory.strip())
    if match is None:
        raise ValueError(f"memory {memory!r} is not like 512m or 4g")
    value, unit = int(match.group(1)), match.group(2).lower()
    return value * 1024 if unit == "g" else value


class StandaloneCluster(StartStop):
    """A Spark standalone master and one worker on 127.0.0.1, as a context manager.

    ``cores`` is what the worker offers, not what the machine has: the standalone scheduler
    places executors by these numbers only, so a 2-core machine can run four 1-core executors
    (they share the CPUs, as pods share a node's). ``memory`` is the worker's total for
    executors (each 1-core executor in this project asks for 512m).
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        cores: int = 4,
        memory: str = "3g",
        master_port: int | None = None,
        master_webui_port: int | None = None,
        worker_webui_port: int | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
        spark_home: Path | None = None,
        tie_to_parent: bool = True,
    ) -> None:
        if cores < 1:
            raise ValueError(f"cores must be >= 1, got {cores}")
        self.memory_mb = _memory_mb(memory)
        self.work_dir = Path(work_dir)
        self.cores = cores
        self.memory = memory
        self.ready_timeout_s = ready_timeout_s
        self._spark_home = spark_home
        self._tie_to_parent = tie_to_parent
        self._ports = {
            "master": (master_port, "--port"),
            "master web UI": (master_webui_port, "--webui-port"),
            "worker web UI": (worker_webui_port, "--webui-port"),
        }
        self.master_port = master_port or 0
        self.master_webui_port = master_webui_port or 0
        self.worker_webui_port = worker_webui_port or 0
        self.master: ManagedProcess | None = None
        self.worker: ManagedProcess | None = None
        self.spark_home: Path | None = None
        self._http = httpx.Client(timeout=5.0)

    # -- addresses ---------------------------------------------------------------------------
    @property
    def master_url(self) -> str:
        """What drivers pass as ``--master`` / ``spark.master``."""
        return f"spark://{HOST}:{self.master_port}"

    @property
    def web_ui_url(self) -> str:
        """The master's web UI (``/json/`` is its machine-readable state)."""
        return f"http://{HOST}:{self.master_webui_port}"

    @property
    def worker_ui_url(self) -> str:
        return f"http://{HOST}:{self.worker_webui_port}"

    def spark_conf(self, executor_memory: str = "512m", executor_cores: int = 1) -> dict[str, str]:
        """The Spark settings a driver needs to run on this cluster from this machine.

        The driver binds to loopback as the daemons do; without it the driver advertises the
        host's first interface and executors connect through it (slow, and wrong in sandboxes).
        """
        return {
            "spark.master": self.master_url,
            "spark.driver.host": HOST,
            "spark.driver.bindAddress": HOST,
            "spark.executor.cores": str(executor_cores),
            "spark.executor.memory": executor_memory,
        }

    def environment(self) -> dict[str, str]:
        """Environment for Spark processes of this cluster (daemons and drivers)."""
        assert self.spark_home is not None, "start() first"
        return {
            "SPARK_HOME": str(self.spark_home),
            "SPARK_LOCAL_IP": HOST,
            "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
            # executors inherit the worker's environment: shuffle/block files stay in work_dir
            "SPARK_LOCAL_DIRS": str(self.work_dir / "local"),
            "SPARK_WORKER_DIR": str(self.work_dir / "worker"),
            "SPARK_LOG_DIR": str(self.work_dir / "logs"),
            "SPARK_NO_DAEMONIZE": "1",
        }

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> StandaloneCluster:
        """Start the master, then the worker; return when the worker's cores are registered.

        Raises :class:`SparkSetupError` (no usable Java or Spark), ``PortInUseError`` (a given
        port is taken), :class:`ClusterNotReadyError` or ``ProcessExitedError`` (with the log
        tails) when a daemon does not come up. On any failure what was started is stopped.
        """
        check_java()
        self.spark_home = self._spark_home or find_spark_home()
        for name, (port, flag) in self._ports.items():
            if port:
                check_port_free(port, f"Spark {name}", flag)
        self.master_port = self.master_port or free_port()
        self.master_webui_port = self.master_webui_port or free_port()
        self.worker_webui_port = self.worker_webui_port or free_port()
        for sub in ("local", "worker", "logs"):
            (self.work_dir / sub).mkdir(parents=True, exist_ok=True)
        try:
            self.master = self._start_daemon(
                "spark-master",
                "org.apache.spark.deploy.master.Master",
                [
                    *("--host", HOST, "--port", str(self.master_port)),
                    *("--webui-port", str(self.master_webui_port)),
                ],
            )
            self._wait("the master to accept workers", self._master_alive)
            self.worker = self._start_daemon(
                "spark-worker",
                "org.apache.spark.deploy.worker.Worker",
                [
                    *("--host", HOST, "--cores", str(self.cores), "--memory", self.memory),
                    *("--webui-port", str(self.worker_webui_port)),
                    *("--work-dir", str(self.work_dir / "worker"), self.master_url),
                ],
            )
            self._wait(
                f"the worker ({self.cores} cores, {self.memory}) to register", self._worker_alive
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the worker (and with its process group, every executor), then the master."""
        for process in (self.worker, self.master):
            if process is not None:
                process.stop()
        self._http.close()
        self._http = httpx.Client(timeout=5.0)

    def running(self) -> bool:
        return all(p is not None and p.alive() for p in (self.master, self.worker))

    def _start_daemon(self, name: str, main_class: str, args: Sequence[str]) -> ManagedProcess:
        assert self.spark_home is not None
        env_binary = shutil.which("env") or "/usr/bin/env"
        assignments = [f"{k}={v}" for k, v in self.environment().items()]
        argv = [
            env_binary,
            *assignments,
            str(self.spark_home / "bin" / "spark-class"),
            main_class,
            *args,
        ]
        return ManagedProcess.start(
            name, argv, self.work_dir / "logs" / f"{name}.log", tie_to_parent=self._tie_to_parent
        )

    def _wait(self, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            for process in (self.master, self.worker):
                if process is not None:
                    process.ensure_running()
            if ready():
                return
            time.sleep(0.25)
        raise ClusterNotReadyError(
            f"timed out after {self.ready_timeout_s:.0f} s waiting for {what}.\n{self.log_tails()}"
        )

    def log_tails(self, lines: int = 20) -> str:
        parts = []
        for process in (self.master, self.worker):
            if process is not None:
                tail = process.log_tail(lines)
                parts.append(f"--- {process.name} ({process.record.log}):\n{tail}")
        return "\n".join(parts) or "(nothing started)"

    # -- state -------------------------------------------------------------------------------
    def _get_json(self, url: str) -> Any:
        response = self._http.get(url)
        response.raise_for_status()
        return response.json()

    def status(self) -> dict[str, Any]:
        """The master's ``/json/``: workers, cores, active and completed applications."""
        state: dict[str, Any] = self._get_json(f"{self.web_ui_url}/json/")
        return state

    def _master_alive(self) -> bool:
        try:
            return self.status().get("status") == "ALIVE"
        except httpx.HTTPError:
            return False

    def _worker_alive(self) -> bool:
        try:
            state = self.status()
        except httpx.HTTPError:
            return False
        return int(state.get("aliveworkers", 0)) >= 1 and int(state.get("cores", 0)) >= self.cores

    def applications(self) -> list[dict[str, Any]]:
        """Running applications as the master lists them (``id``, ``name``, ``cores``, ...)."""
        return list(self.status().get("activeapps", []))

    def application_id(self, name: str) -> str | None:
        """The id of the running application called ``name`` (None if none or several)."""
        ids = [a["id"] for a in self.applications() if a.get("name") == name]
        return ids[0] if len(ids) == 1 else None

    def executors(self, app_id: str | None = None) -> list[StandaloneExecutor]:
        """Executors the workers run now (of ``app_id`` only, when given).

        The master's ``/json/`` has no per-application executor list; each worker's ``/json/``
        has, and it is the ground truth of which executor JVMs exist. An executor appears here
        when the worker launches it, a few seconds before it registers with the driver.
        """
        out = []
        for worker in self.status().get("workers", []):
            if worker.get("state") != "ALIVE":
                continue
            try:
                state = self._get_json(f"{worker['webuiaddress']}/json/")
            except httpx.HTTPError:
                continue
            for executor in state.get("executors", []):
                if app_id is not None and executor.get("appid") != app_id:
                    continue
                out.append(
                    StandaloneExecutor(
                        app_id=str(executor.get("appid")),
                        executor_id=str(executor.get("id")),
                        worker_id=str(state.get("id")),
                        memory_mb=int(executor.get("memory", 0)),
                    )
                )
        return out

    def wait_for_executors(
        self,
        app_id: str,
        predicate: Callable[[int], bool] | int,
        timeout_s: float = 60.0,
        every_s: float = 0.25,
    ) -> float:
        """Wait until the number of ``app_id``'s executors satisfies ``predicate`` (or equals
        it, given an int); return the seconds it took. Raises TimeoutError with the count."""
        check = (lambda n: n == predicate) if isinstance(predicate, int) else predicate
        start = time.monotonic()
        count = -1
        while time.monotonic() - start < timeout_s:
            count = len(self.executors(app_id))
            if check(count):
                return time.monotonic() - start
            time.sleep(every_s)
        raise TimeoutError(
            f"{app_id}: {count} executors after {timeout_s:.0f} s, expected {predicate}"
        )


def spark_submit_argv(
    spark_home: Path,
    app: Path,
    app_args: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
) -> list[str]:
    """``spark-submit`` of a Python ``app`` with ``--conf`` settings (client mode)."""
    argv = [str(spark_home / "bin" / "spark-submit")]
    for key, value in (conf or {}).items():
        argv += ["--conf", f"{key}={value}"]
    return [*argv, str(app), *app_args]


__all__ = [
    "ClusterNotReadyError",
    "ProcessExitedError",
    "StandaloneCluster",
    "StandaloneExecutor",
    "spark_submit_argv",
]
