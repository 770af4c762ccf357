"""A recorded dev environment seen from another process: ``dev status`` and ``dev down``.

A :class:`~hrl_autoscaler.tools.devenv.session.DevEnv` started with ``dev up`` runs on after the
command exits; its ``state.json`` records every process. These read it back: which processes
still run and answer their readiness endpoint, and how to stop them all.
"""

from __future__ import annotations

import shutil
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from hrl_autoscaler.tools.devenv.processes import ManagedProcess
from hrl_autoscaler.tools.devenv.session import STATE_FILE, DevEnvState, load_state


@dataclass(frozen=True)
class ComponentStatus:
    """Whether one recorded process still runs and answers its readiness endpoint."""

    name: str
    pid: int
    alive: bool
    ready: bool
    ready_url: str
    log: str


def _ssl_context(state: DevEnvState) -> ssl.SSLContext:
    pki = Path(state.state_dir) / "pki"
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return context


def _accepts(address: str) -> bool:
    """A component without an HTTP health endpoint (Kafka): ready when ``HOST:PORT`` accepts."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2.0):
            return True
    except (OSError, ValueError):
        return False


def component_status(state: DevEnvState) -> list[ComponentStatus]:
    """Liveness (by pid and start time) and readiness (by HTTP) of each recorded process."""
    statuses = []
    try:
        context: ssl.SSLContext | bool = _ssl_context(state)
    except (OSError, ssl.SSLError):
        context = False
    with httpx.Client(verify=context, timeout=2.0) as http:
        for record in state.processes:
            url = state.ready_urls.get(record.name, "")
            alive = record.alive()
            ready = False
            if alive and url.startswith("tcp://"):
                ready = _accepts(url.removeprefix("tcp://"))
            elif alive and url:
                try:
                    ready = http.get(url).status_code == 200
                except httpx.HTTPError:
                    ready = False
            statuses.append(ComponentStatus(record.name, record.pid, alive, ready, url, record.log))
    return statuses


def stop_recorded(state_dir: Path) -> list[str]:
    """Stop the processes a DevEnv recorded in ``state_dir``; return what was done."""
    state = load_state(state_dir)
    if state is None:
        return []
    done = []
    # Reverse start order: prometheus, kube-apiserver, etcd.
    for record in reversed(state.processes):
        if record.alive():
            ManagedProcess.attach(record).stop()
            done.append(f"stopped {record.name} (pid {record.pid})")
        else:
            done.append(f"{record.name} (pid {record.pid}) was not running")
    shutil.rmtree(state.data_dir, ignore_errors=True)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return done
