"""DevEnv: the whole local control plane (etcd, kube-apiserver, Prometheus; optionally a node
and Kafka) as one unit.

Used two ways. In tests, as a context manager: everything starts, and everything stops at the
end, processes tied to the test process so a killed run leaves no strays. From the command line
(``hrl-autoscaler dev up``), the processes are daemonised and outlive the command; the state
file (``state.json`` in the state directory) records their pids, start times, ports and paths so
that ``dev status`` and ``dev down`` in later processes find and stop exactly those processes.

Logs, certificates and the kubeconfig stay in the state directory for debugging; etcd and
Prometheus data live in a temporary directory that is deleted at stop.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client

from hrl_autoscaler.tools.devenv import binaries as bins
from hrl_autoscaler.tools.devenv import datadir
from hrl_autoscaler.tools.devenv.controlplane import (
    ControlPlane,
    Ports,
    api_client_from,
    close_api_client,
)
from hrl_autoscaler.tools.devenv.crds import apply_crds, apply_missing_crds
from hrl_autoscaler.tools.devenv.kafka.broker import KafkaBroker, KafkaSettings
from hrl_autoscaler.tools.devenv.node.localnode import LocalNode, node_host_ip, start_local_node
from hrl_autoscaler.tools.devenv.processes import ManagedProcess, ProcessRecord, free_port
from hrl_autoscaler.tools.devenv.prometheus import Prometheus, ScrapeTarget
from hrl_autoscaler.tools.lifecycle import StartStop

STATE_FILE = "state.json"
STATE_SCHEMA = 1
READY_TIMEOUT_SECONDS = 60.0

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class DevEnvState:
    """What a running DevEnv writes to ``state.json`` for other processes."""

    state_dir: str
    data_dir: str
    kubeconfig: str
    api_url: str
    prometheus_url: str | None
    prometheus_config: str | None
    processes: list[ProcessRecord]
    ready_urls: dict[str, str]
    crds: list[str] = field(default_factory=list)
    started_at: float = 0.0
    ready_seconds: float = 0.0
    #: ``dev up --node``: what :func:`.node.localnode.teardown_recorded` needs at ``dev down``.
    node: dict[str, Any] | None = None
    #: ``dev up --kafka``: the broker's ``HOST:PORT`` for clients.
    kafka_bootstrap: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "processes"}
        data["processes"] = [p.to_json() for p in self.processes]
        data["schema"] = STATE_SCHEMA
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DevEnvState:
        return cls(
            state_dir=str(data["state_dir"]),
            data_dir=str(data["data_dir"]),
            kubeconfig=str(data["kubeconfig"]),
            api_url=str(data["api_url"]),
            prometheus_url=data.get("prometheus_url"),
            prometheus_config=data.get("prometheus_config"),
            processes=[ProcessRecord.from_json(p) for p in data["processes"]],
            ready_urls={str(k): str(v) for k, v in data.get("ready_urls", {}).items()},
            crds=[str(c) for c in data.get("crds", [])],
            started_at=float(data.get("started_at", 0.0)),
            ready_seconds=float(data.get("ready_seconds", 0.0)),
            node=data.get("node"),
            kafka_bootstrap=data.get("kafka_bootstrap"),
        )

    def save(self) -> Path:
        path = Path(self.state_dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
        return path


def load_state(state_dir: Path) -> DevEnvState | None:
    """The recorded state, or None when nothing was started there."""
    path = state_dir / STATE_FILE
    if not path.is_file():
        return None
    return DevEnvState.from_json(json.loads(path.read_text()))


class DevEnv(StartStop):
    """Start etcd, kube-apiserver and (optionally) Prometheus; apply CRDs; record the state.

    ``state_dir=None`` uses a temporary directory that is removed after a clean stop (kept when
    start-up fails: the errors name the logs in it). ``daemon=True`` lets the processes outlive this
    Python process (for ``dev up``).

    ``cluster_kubeconfig`` points at a cluster that already runs (kind, with the Spark Operator
    installed): then no etcd or kube-apiserver is started, only Prometheus, and CRDs are created
    only where the cluster lacks them, so the cluster's own SparkApplication CRD (the one its
    Spark Operator serves) is never replaced. The same e2e suite thus runs on either.
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        crds: Sequence[Path] = (),
        prometheus: bool = True,
        scrape_targets: Sequence[ScrapeTarget] = (),
        scrape_interval: str = "1s",
        binaries: bins.Binaries | None = None,
        build: bool = False,
        daemon: bool = False,
        ready_timeout: float = READY_TIMEOUT_SECONDS,
        progress: Progress = _quiet,
        cluster_kubeconfig: Path | None = None,
        node: bool = False,
        kafka: bool = False,
    ) -> None:
        """``node=True``: also run a real node on this machine (root; see :mod:`.node`).
        ``kafka=True``: also run a single KRaft broker (:mod:`.kafka`), reachable from pods
        when there is a node."""
        self.with_node = node
        self.with_kafka = kafka
        self.kafka: KafkaBroker | None = None
        self.local_node: LocalNode | None = None
        self._owns_state_dir = state_dir is None
        self.cluster_kubeconfig = cluster_kubeconfig
        # Only a path for now: nothing is created on disk before start().
        self.state_dir = state_dir or Path(tempfile.gettempdir()) / f"hrl-devenv-{uuid.uuid4().hex}"
        self.crd_paths = list(crds)
        self.with_prometheus = prometheus
        self.scrape_targets = list(scrape_targets)
        self.scrape_interval = scrape_interval
        self._binaries = binaries
        self.build = build
        self.daemon = daemon
        self.ready_timeout = ready_timeout
        self.progress = progress
        self.data_dir: Path | None = None
        self.control_plane: ControlPlane | None = None
        self.prometheus: Prometheus | None = None
        self.state: DevEnvState | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _resolve_binaries(self) -> bins.Binaries:
        if self._binaries is not None:
            return self._binaries
        if self.build:
            return bins.ensure_binaries(self.progress, require_prometheus=self.with_prometheus)
        return bins.find_binaries(require_prometheus=self.with_prometheus)

    def start(self) -> DevEnv:
        """Start everything and block until all of it is ready (or raise and clean up)."""
        if self.cluster_kubeconfig is not None:
            return self._start_on_cluster(self.cluster_kubeconfig)
        binaries = self._resolve_binaries()
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for stale in datadir.sweep_stale():
            self.progress(f"removed {stale} left by a killed run")
        self.data_dir = datadir.new_data_dir()
        tie = not self.daemon
        try:
            self.control_plane = ControlPlane(
                binaries.etcd,
                binaries.kube_apiserver,
                self.state_dir,
                self.data_dir,
                Ports.pick(),
                node_host_ip=node_host_ip() if self.with_node else None,
            )
            self.progress("starting etcd and kube-apiserver")
            self.control_plane.start(tie_to_parent=tie)
            datadir.claim(self.data_dir, self.control_plane.processes[0].record)  # etcd
            if self.with_prometheus:
                self.prometheus = self._start_prometheus(binaries.prometheus, tie)
            self.control_plane.wait_ready(self.ready_timeout)
            self.progress(f"kube-apiserver ready at {self.control_plane.url}")
            if self.prometheus is not None:
                self.prometheus.wait_ready(self.ready_timeout)
                self.progress(f"prometheus ready at {self.prometheus.url}")
            if self.with_node:
                self.local_node = start_local_node(
                    self.control_plane, self.data_dir, tie, self.progress, build=self.build
                )
                if self.prometheus is not None:
                    url = self.local_node.expose_prometheus(self.prometheus.port)
                    self.progress(f"prometheus reachable from pods at {url}")
            if self.with_kafka:
                self.progress("starting kafka")
                # pods reach the host at the node's address; without a node, loopback
                host = self.local_node.cfg.host_ip if self.local_node else "127.0.0.1"
                self.kafka = KafkaBroker(KafkaSettings(host, data_dir=self.data_dir / "kafka"))
                self.kafka.start(tie_to_parent=tie)
                self.progress(f"kafka ready at {self.kafka.bootstrap}")
            names: list[str] = []
            if self.crd_paths:
                with self.control_plane.api_client() as api:
                    names = apply_crds(api, self.crd_paths)
                self.progress(f"CRDs established: {', '.join(names)}")
            self._save_state(names, started)
        except BaseException:
            self._undo()
            raise
        return self

    def _start_prometheus(self, binary: Path, tie: bool) -> Prometheus:
        assert self.data_dir is not None
        prometheus = Prometheus(
            binary,
            self.state_dir,
            self.data_dir / "prometheus",
            free_port(),
            targets=self.scrape_targets,
            scrape_interval=self.scrape_interval,
        )
        self.progress("starting prometheus")
        prometheus.start(self.state_dir / "logs" / "prometheus.log", tie_to_parent=tie)
        return prometheus

    def _start_on_cluster(self, kubeconfig: Path) -> DevEnv:
        """Use a running cluster's API; start Prometheus on this host for the scrape targets."""
        if not kubeconfig.is_file():
            raise FileNotFoundError(f"--kubeconfig {kubeconfig}: no such file")
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = datadir.new_data_dir()
        try:
            api = api_client_from(kubeconfig)
            try:
                version = k8s_client.VersionApi(api).get_code().git_version
                self.progress(f"using the cluster of {kubeconfig} (Kubernetes {version})")
                names = apply_missing_crds(api, self.crd_paths) if self.crd_paths else []
            except Exception as exc:
                raise ConnectionError(
                    f"the cluster of --kubeconfig {kubeconfig} cannot be used: {exc}"
                ) from exc
            finally:
                close_api_client(api)
            if self.with_prometheus:
                binary = self._binaries.prometheus if self._binaries else bins.find_prometheus()
                self.prometheus = self._start_prometheus(binary, tie=not self.daemon)
                assert self.prometheus.process is not None
                datadir.claim(self.data_dir, self.prometheus.process.record)
                self.prometheus.wait_ready(self.ready_timeout)
                self.progress(f"prometheus ready at {self.prometheus.url}")
            self._save_state(names, started)
        except BaseException:
            self._undo()
            raise
        return self

    def _save_state(self, crds: list[str], started: float) -> None:
        self.state = self._record(crds, time.monotonic() - started)
        self.state.save()

    def _undo(self) -> None:
        """A start that failed half-way: stop what it started and remove its data."""
        self._stop_processes()
        self._remove_data()

    def _record(self, crds: list[str], ready_seconds: float) -> DevEnvState:
        assert self.data_dir is not None
        processes: list[ProcessRecord] = []
        ready: dict[str, str] = {}
        if self.control_plane is not None:
            cp = self.control_plane
            processes = [p.record for p in cp.processes]
            ready = {
                "etcd": f"http://127.0.0.1:{cp.ports.etcd_client}/health",
                "kube-apiserver": f"{cp.url}/readyz",
            }
        if self.prometheus is not None and self.prometheus.process is not None:
            processes.append(self.prometheus.process.record)
            ready["prometheus"] = f"{self.prometheus.url}/-/ready"
        if self.local_node is not None:
            processes += [p.record for p in self.local_node.processes]
            ready.update(self.local_node.ready_urls())
        if self.kafka is not None and self.kafka.process is not None:
            processes.append(self.kafka.process.record)
            ready["kafka"] = f"tcp://{self.kafka.bootstrap}"
        return DevEnvState(
            state_dir=str(self.state_dir),
            data_dir=str(self.data_dir),
            kubeconfig=str(self.kubeconfig),
            api_url=self.api_url,
            prometheus_url=self.prometheus.url if self.prometheus else None,
            prometheus_config=str(self.prometheus.config_path) if self.prometheus else None,
            processes=processes,
            ready_urls=ready,
            crds=crds,
            started_at=time.time(),
            ready_seconds=round(ready_seconds, 2),
            node=self.local_node.record() if self.local_node else None,
            kafka_bootstrap=self.kafka.bootstrap if self.kafka else None,
        )

    def _stop_processes(self) -> None:
        if self.kafka is not None:
            self.kafka.stop()
        if self.local_node is not None:
            self.local_node.stop()  # before the API server: kubelet would log errors otherwise
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.control_plane is not None:
            self.control_plane.stop()

    def _remove_data(self) -> None:
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def stop(self) -> None:
        """Stop every process, delete the data, and drop the state file (logs stay)."""
        self._stop_processes()
        self._remove_data()
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)
        if self._owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # -- what tests use ----------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        if self.cluster_kubeconfig is not None:
            return self.cluster_kubeconfig
        return self._started_control_plane().kubeconfig

    @property
    def api_url(self) -> str:
        if self.cluster_kubeconfig is not None:
            api = api_client_from(self.cluster_kubeconfig)
            try:
                return str(api.configuration.host)
            finally:
                close_api_client(api)
        return self._started_control_plane().url

    @property
    def prometheus_url(self) -> str:
        if self.prometheus is None:
            raise RuntimeError("this DevEnv runs without Prometheus")
        return self.prometheus.url

    @property
    def processes(self) -> list[ManagedProcess]:
        procs = list(self.control_plane.processes) if self.control_plane else []
        if self.prometheus is not None and self.prometheus.process is not None:
            procs.append(self.prometheus.process)
        if self.kafka is not None and self.kafka.process is not None:
            procs.append(self.kafka.process)
        return procs

    def _started_control_plane(self) -> ControlPlane:
        if self.control_plane is None:
            raise RuntimeError("DevEnv not started")
        return self.control_plane

    def api_client(self) -> k8s_client.ApiClient:
        """A new admin ApiClient (the caller closes it)."""
        if self.cluster_kubeconfig is not None:
            return api_client_from(self.cluster_kubeconfig)
        return self._started_control_plane().api_client()

    def add_scrape_target(self, target: ScrapeTarget) -> None:
        if self.prometheus is None:
            raise RuntimeError("this DevEnv runs without Prometheus")
        self.prometheus.add_target(target)

    def remove_scrape_target(self, job: str) -> None:
        if self.prometheus is None:
            raise RuntimeError("this DevEnv runs without Prometheus")
        self.prometheus.remove_target(job)
