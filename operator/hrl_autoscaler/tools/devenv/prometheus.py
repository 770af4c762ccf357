"""A throwaway Prometheus server with a generated scrape configuration.

Tests and the demo need the real query engine (rates, label matching, staleness) between the
emulated Spark data plane and the operator, so this starts Debian's Prometheus on a free
loopback port with storage in a temporary directory. Targets can change while it runs: the
config file is rewritten and reloaded through ``/-/reload`` (``--web.enable-lifecycle``), with
SIGHUP as the fallback, so tests add exporters without restarting it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from hrl_autoscaler.tools.devenv.processes import ManagedProcess, check_port_free

READY_TIMEOUT_SECONDS = 30.0


class PrometheusError(RuntimeError):
    """Prometheus did not start, reload or answer a query; the message says why."""


@dataclass(frozen=True)
class ScrapeTarget:
    """One scrape job: where to scrape, which path, how often, extra labels."""

    job: str
    targets: Sequence[str]
    metrics_path: str = "/metrics"
    scrape_interval: str = "1s"
    labels: dict[str, str] = field(default_factory=dict)

    def to_config(self) -> dict[str, Any]:
        static: dict[str, Any] = {"targets": list(self.targets)}
        if self.labels:
            static["labels"] = dict(self.labels)
        return {
            "job_name": self.job,
            "metrics_path": self.metrics_path,
            "scrape_interval": self.scrape_interval,
            "scrape_timeout": self.scrape_interval,
            "static_configs": [static],
        }


def render_config(
    targets: Sequence[ScrapeTarget],
    scrape_interval: str = "1s",
    raw_jobs: Sequence[dict[str, Any]] = (),
) -> str:
    """The prometheus.yml text for ``targets`` and ``raw_jobs`` (job names must be unique).

    ``raw_jobs`` are scrape_configs entries taken as written, for what static targets cannot
    say: the shipped ``kubernetes_sd_configs`` jobs on the real node.
    """
    jobs = [t.job for t in targets] + [str(j.get("job_name")) for j in raw_jobs]
    duplicates = sorted({j for j in jobs if jobs.count(j) > 1})
    if duplicates:
        raise PrometheusError(f"duplicate scrape job names: {', '.join(duplicates)}")
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [t.to_config() for t in targets] + [dict(j) for j in raw_jobs],
    }
    text: str = yaml.safe_dump(config, sort_keys=False)
    return text


class Prometheus:
    """One Prometheus process; ``url`` is valid after :meth:`start`."""

    def __init__(
        self,
        binary: Path,
        config_dir: Path,
        data_dir: Path,
        port: int,
        *,
        targets: Sequence[ScrapeTarget] = (),
        scrape_interval: str = "1s",
        listen_host: str = "127.0.0.1",
    ) -> None:
        """``listen_host``: loopback by default; the node's host address when pods must reach
        it (the operator pod on the local node), through a selectorless Service."""
        self.binary = binary
        self.listen_host = listen_host
        self.config_path = config_dir / "prometheus.yml"
        self.data_dir = data_dir
        self.port = port
        self.scrape_interval = scrape_interval
        self.targets: list[ScrapeTarget] = list(targets)
        self.raw_jobs: list[dict[str, Any]] = []
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.listen_host}:{self.port}"

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address={self.listen_host}:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=info",
        ]

    def start(self, log: Path, *, tie_to_parent: bool = True) -> ManagedProcess:
        """Write the config and start the process (returns at once; see :meth:`wait_ready`)."""
        check_port_free(self.port, "prometheus", "--web.listen-address", self.listen_host)
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self.process = ManagedProcess.start(
            "prometheus", self.argv(), log, tie_to_parent=tie_to_parent
        )
        return self.process

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Block until ``/-/ready`` answers 200, or raise with the log tail."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.process is not None:
                    self.process.ensure_running()
                try:
                    if client.get(f"{self.url}/-/ready").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    tail = self.process.log_tail() if self.process else ""
                    raise PrometheusError(f"prometheus not ready after {timeout:.0f}s:\n{tail}")
                time.sleep(0.1)

    def _write_config(self) -> None:
        text = render_config(self.targets, self.scrape_interval, self.raw_jobs)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    def set_targets(self, targets: Sequence[ScrapeTarget]) -> None:
        """Replace every scrape job and reload the running server."""
        self.targets = list(targets)
        self._write_config()
        if self.process is not None:
            self.reload()

    def set_raw_jobs(self, jobs: Sequence[dict[str, Any]]) -> None:
        """Replace the raw scrape_configs entries (see :func:`render_config`) and reload."""
        self.raw_jobs = [dict(j) for j in jobs]
        self._write_config()
        if self.process is not None:
            self.reload()

    def add_target(self, target: ScrapeTarget) -> None:
        """Add (or replace, by job name) one scrape job and reload."""
        kept = [t for t in self.targets if t.job != target.job]
        self.set_targets([*kept, target])

    def remove_target(self, job: str) -> None:
        """Drop one scrape job and reload."""
        self.set_targets([t for t in self.targets if t.job != job])

    def reload(self) -> None:
        """Make the server re-read its config; raise when it rejects the file."""
        try:
            response = httpx.post(f"{self.url}/-/reload", timeout=10.0)
        except httpx.HTTPError:
            if self.process is None:
                raise
            os.kill(self.process.record.pid, signal.SIGHUP)
            return
        if response.status_code != 200:
            raise PrometheusError(
                f"prometheus rejected the new config {self.config_path}: {response.text.strip()}"
            )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def query(url: str, promql: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Run an instant query and return the result list (``metric`` and ``value`` per series)."""
    response = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=timeout)
    body: dict[str, Any] = response.json()
    if body.get("status") != "success":
        raise PrometheusError(f"query {promql!r} failed: {body.get('error', response.text)}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def query_value(url: str, promql: str) -> float | None:
    """The value of a single-series instant query, or None when it returns no series."""
    result = query(url, promql)
    if not result:
        return None
    if len(result) > 1:
        raise PrometheusError(f"query {promql!r} returned {len(result)} series, expected one")
    return float(result[0]["value"][1])


def wait_for_value(
    url: str,
    promql: str,
    predicate: Callable[[float], bool],
    timeout: float = 30.0,
) -> float:
    """Poll ``promql`` until its single value satisfies ``predicate``; return that value."""
    deadline = time.monotonic() + timeout
    last: float | None = None
    while time.monotonic() < deadline:
        last = query_value(url, promql)
        if last is not None and predicate(last):
            return last
        time.sleep(0.2)
    raise PrometheusError(
        f"{promql!r} did not reach the expected value in {timeout:.0f}s (last value {last})"
    )
