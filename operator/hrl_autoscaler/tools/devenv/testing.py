"""Helpers for tests that run against the local control plane (used by tests/e2e).

They live in the package, not in a conftest, so test modules can import them by a stable name
and other projects' tests could reuse them the way envtest is reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubernetes import client as k8s_client

from hrl_autoscaler.tools.devenv.processes import ManagedProcess, command_lines
from hrl_autoscaler.tools.devenv.prometheus import ScrapeTarget
from hrl_autoscaler.tools.devenv.session import DevEnv


@dataclass
class DevEnvHandle:
    """What e2e tests get: endpoints, an admin API client and scrape-target helpers."""

    env: DevEnv
    kubeconfig: Path
    api_client: k8s_client.ApiClient
    prometheus_url: str
    crd_source: str  # "upstream", "project" or "cluster" (a --kubeconfig cluster's own CRD)

    def add_scrape_target(
        self,
        job: str,
        targets: list[str],
        *,
        metrics_path: str = "/metrics",
        scrape_interval: str = "1s",
        labels: dict[str, str] | None = None,
    ) -> ScrapeTarget:
        """Scrape ``targets`` (``host:port``) as ``job``; Prometheus reloads at once."""
        target = ScrapeTarget(job, targets, metrics_path, scrape_interval, labels or {})
        self.env.add_scrape_target(target)
        return target

    def remove_scrape_target(self, job: str) -> None:
        self.env.remove_scrape_target(job)


def pid_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent or a zombie awaiting its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def processes_mentioning(text: str) -> list[int]:
    """Live pids whose command line contains ``text`` (used to find strays by data dir)."""
    return [pid for pid, cmdline in command_lines() if text in cmdline and not pid_gone(pid)]


def assert_stopped(processes: list[ManagedProcess], data_dir: Path | None) -> None:
    """Every recorded process is gone, nothing else runs on the data dir, and it is deleted."""
    alive = [f"{p.name} (pid {p.record.pid})" for p in processes if not pid_gone(p.record.pid)]
    assert not alive, f"still running after stop: {alive}"
    if data_dir is not None:
        strays = processes_mentioning(str(data_dir))
        assert not strays, f"stray processes using {data_dir}: {strays}"
        assert not data_dir.exists(), f"data dir {data_dir} not removed"
