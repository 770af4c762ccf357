"""Faults injected into a running local stack at a chosen moment, for tests and the soak bench.

Each fault is what production does to an operator, made with the real parts: a component
process stopped and started again with the same command line and data (a kube-apiserver
rollout, an etcd member restart, a Prometheus upgrade), and a competing writer that keeps
bumping an object's resourceVersion so every optimistic write of the operator meets a 409
(another controller, or a person with ``kubectl edit``, on the same SparkApplication).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from hrl_autoscaler.tools.devenv import datadir
from hrl_autoscaler.tools.devenv.processes import ManagedProcess, ProcessRecord, process_start_time

GROUP, VERSION, PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"


class FaultError(RuntimeError):
    """A fault could not be injected (no such process, a restart that did not come back)."""


def restart_process(
    processes: list[ManagedProcess],
    name: str,
    *,
    down_s: float = 0.0,
    ready: Callable[[], bool] | None = None,
    ready_timeout_s: float = 60.0,
    data_dir: Path | None = None,
    while_down: Callable[[], object] | None = None,
) -> ManagedProcess:
    """Stop the process called ``name``, keep it down ``down_s``, start it again with the same
    argv and log, and replace it in ``processes`` (so the owner's stop() stops the new one).

    ``ready``, when given, is polled until it is true (e.g. the API server's /readyz).
    ``data_dir``: the DevEnv data directory this process owns (etcd's). It is claimed for this
    Python process while the component is down and for the new process after, or another
    DevEnv starting meanwhile would sweep it as the leftover of a dead run. ``while_down`` runs
    once the process is stopped (e.g. :func:`compact_etcd` behind a stopped API server).
    """
    found = [p for p in processes if p.name == name]
    if not found:
        raise FaultError(f"no process named {name!r}; running: {[p.name for p in processes]}")
    old = found[0]
    if data_dir is not None:
        pid = os.getpid()
        datadir.claim(data_dir, ProcessRecord("devenv", pid, process_start_time(pid) or 0, [], ""))
    old.stop()
    if while_down is not None:
        while_down()
    time.sleep(down_s)
    new = ManagedProcess.start(name, old.record.argv, Path(old.record.log))
    processes[processes.index(old)] = new
    if data_dir is not None:
        datadir.claim(data_dir, new.record)
    if ready is not None:
        deadline = time.monotonic() + ready_timeout_s
        while not ready():
            new.ensure_running()
            if time.monotonic() > deadline:
                raise FaultError(
                    f"{name} not ready {ready_timeout_s:.0f} s after restart:\n{new.log_tail()}"
                )
            time.sleep(0.2)
    return new


def compact_etcd(client_url: str, timeout_s: float = 10.0) -> int:
    """Compact etcd's history up to its current revision, through etcd's JSON gateway; returns
    the revision.

    The API server compacts every five minutes; doing it now, behind an API server restart
    (whose new watch cache starts at the current revision), makes every watch that resumes from
    an older resourceVersion end with 410 Gone, as a watch idle past the compaction does in
    production.
    """
    with httpx.Client(timeout=timeout_s) as http:
        answer = http.post(f"{client_url}/v3/kv/range", json={"key": "Lw=="})  # "/"
        answer.raise_for_status()
        revision = int(answer.json()["header"]["revision"])
        done = http.post(
            f"{client_url}/v3/kv/compaction", json={"revision": str(revision), "physical": True}
        )
        if done.status_code != 200:
            raise FaultError(f"etcd refused the compaction at {revision}: {done.text.strip()}")
    return revision


@dataclass
class ConflictStorm:
    """A competing writer: patches one annotation of a SparkApplication as fast as it can, so
    the object's resourceVersion moves under every write of the operator.

    Use as a context manager; ``writes`` counts the patches it made.
    """

    api: k8s_client.ApiClient
    namespace: str
    name: str
    annotation: str = "example.com/competing-writer"
    pause_s: float = 0.0
    writes: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ConflictStorm:
        self._thread = threading.Thread(target=self._run, name="conflict-storm", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        objects = k8s_client.CustomObjectsApi(self.api)
        while not self._stop.is_set():
            patch = {"metadata": {"annotations": {self.annotation: str(self.writes)}}}
            try:
                objects.patch_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, self.name, patch
                )
                self.writes += 1
            except ApiException as exc:  # the API may be restarting too; keep going
                self.errors.append(f"{exc.status} {exc.reason}")
                time.sleep(0.1)
            if self.pause_s:
                time.sleep(self.pause_s)
