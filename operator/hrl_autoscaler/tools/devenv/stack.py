"""LocalStack: the whole local stack, started in order and torn down in reverse, as one unit.

The parts, each optional: the control plane (etcd, kube-apiserver, CRDs) with Prometheus (a
:class:`DevEnv`, or one already running that the stack borrows and leaves running), namespaces
for the applications, the emulated Spark data plane (scraped by Prometheus) and the operator as
its own process (``hrl-autoscaler run``, scraped too when asked). The demo, ``hrl-autoscaler
bench operator`` and the e2e fixtures all build their stack here::

    options = StackOptions(speed=30.0, namespaces=("demo",), operator_overrides={...})
    with LocalStack(options) as stack:
        stack.cluster.create("demo", body)      # SparkApplications, events, annotations
        stack.operator.metrics()                # the operator started with the stack
        extra = stack.start_operator("second", namespaces=["other"])  # more, stopped at exit

Whatever started is stopped at exit in reverse order (operators, scrape jobs the stack added,
the emulator, the namespaces' applications, the API client, the control plane), also when the
start-up or the body fails; an operator that the stack stops and that does not exit cleanly on
SIGTERM is reported as an error once everything is down (``expect_clean_exit``).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client

from hrl_autoscaler.tools.devenv import binaries as bins
from hrl_autoscaler.tools.devenv.components import Emulator, OperatorProcess, operator_config
from hrl_autoscaler.tools.devenv.controlplane import close_api_client
from hrl_autoscaler.tools.devenv.crds import default_crd_paths
from hrl_autoscaler.tools.devenv.prometheus import ScrapeTarget
from hrl_autoscaler.tools.devenv.session import DevEnv
from hrl_autoscaler.tools.devenv.sparkapps import Cluster
from hrl_autoscaler.tools.lifecycle import StartStop

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def default_crds() -> tuple[Path, ...]:
    """The upstream SparkApplication CRD beside the repository, else the project's own, and
    the operator's own CRDs (ExecutorBudget)."""
    crds = default_crd_paths()
    if not crds:
        raise FileNotFoundError("no SparkApplication CRD found (../shared/crds, manifests/crds)")
    return tuple(crds)


@dataclass(frozen=True)
class StackOptions:
    """What a :class:`LocalStack` starts, and how."""

    work_dir: Path | None = None
    """Logs, configs and the DevEnv's state; None: a temporary directory, removed after a clean
    exit (kept, with the logs, when anything failed)."""
    env: DevEnv | None = None
    """A started DevEnv to build on (borrowed: never stopped by the stack); None: start one."""
    crds: Sequence[Path] | None = None
    """CRD files or directories for a started DevEnv; None: :func:`default_crds`."""
    prometheus: bool = True
    cluster_kubeconfig: Path | None = None
    """Use this running cluster instead of a local etcd and kube-apiserver (the kind path)."""
    binaries: bins.Binaries | None = None
    """None: found in the cache, built on first use."""
    namespaces: Sequence[str] = ()
    """Created at start; their SparkApplications are deleted at exit."""
    speed: float = 1.0
    """Emulator and operator run this many times faster than real time."""
    emulator: bool = True
    emulator_tick_s: float = 0.25
    scrape_interval: str = "1s"
    """How often Prometheus scrapes the emulator and the operator."""
    job_prefix: str = ""
    """Prepended to the emulator's and the operator's scrape jobs (a shared Prometheus)."""
    scrape_targets: Sequence[ScrapeTarget] = ()
    """Further scrape jobs, added once Prometheus runs."""
    operator: bool = True
    """Start one operator with the stack (:attr:`LocalStack.operator`)."""
    operator_overrides: Mapping[str, Any] = field(default_factory=dict)
    """Settings over :func:`operator_config`'s (``namespaces`` defaults to ``namespaces``)."""
    operator_scrape_job: str | None = None
    """Prometheus scrapes the stack's operator's /metrics as this job (as in a cluster)."""
    expect_clean_exit: bool = True
    """An operator the stack stops at exit must exit 0 on SIGTERM, else exit raises."""
    progress: Progress = _quiet


class LocalStack(StartStop):
    """Start the parts :class:`StackOptions` asks for; the handles are attributes."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self._exit = contextlib.ExitStack()
        self._owns_work_dir = self.options.work_dir is None
        self.work_dir = self.options.work_dir or Path(tempfile.mkdtemp(prefix="hrl-stack-"))
        self.env: DevEnv | None = self.options.env
        self.api_client: k8s_client.ApiClient | None = None
        self.emulator: Emulator | None = None
        self.operator: OperatorProcess | None = None
        self.operators: list[OperatorProcess] = []
        self._unclean: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start every part asked for, in order; on any failure stop what started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop(failed=True)
            raise
        return self

    def _start(self) -> None:
        o = self.options
        if self.env is None:
            with self._step("starting the local control plane and Prometheus"):
                env = DevEnv(
                    self.work_dir / "devenv",
                    crds=list(o.crds) if o.crds is not None else list(default_crds()),
                    prometheus=o.prometheus,
                    binaries=o.binaries,
                    build=o.binaries is None,
                    progress=o.progress,
                    cluster_kubeconfig=o.cluster_kubeconfig,
                )
                self._exit.callback(env.stop)
                self.env = env.start()
        api = self.env.api_client()
        self._exit.callback(close_api_client, api)
        self.api_client = api
        for namespace in o.namespaces:
            self.cluster.ensure_namespace(namespace)
            self._exit.callback(self.cluster.delete_all, namespace)
        for target in o.scrape_targets:
            self.add_scrape_target(target)
        if o.emulator:
            with self._step(f"starting the emulated Spark data plane at x{o.speed:g}"):
                emulator = Emulator(self.kubeconfig, self.work_dir, o.speed, o.emulator_tick_s)
                self._exit.callback(emulator.stop)
                self.emulator = emulator
                for target in emulator.scrape_targets(o.scrape_interval):
                    self.add_scrape_target(target, job=o.job_prefix + target.job)
        if o.operator:
            with self._step("starting the operator (hrl-autoscaler run)"):
                self.operator = self.start_operator()
                if o.operator_scrape_job is not None:
                    self.scrape_operator(self.operator, o.operator_scrape_job)

    def stop_on_exit(self, failed: bool) -> None:
        self.stop(failed)

    def stop(self, failed: bool = False) -> None:
        """Stop everything in reverse order of start (idempotent)."""
        self._exit.close()
        self.operator, self.emulator, self.api_client = None, None, None
        unclean, self._unclean = self._unclean, []
        if failed:
            return  # the failure propagates; the work dir keeps the logs
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        if unclean and self.options.expect_clean_exit:
            raise RuntimeError("operator(s) did not exit cleanly on SIGTERM: " + "; ".join(unclean))

    @contextlib.contextmanager
    def _step(self, what: str) -> Iterator[None]:
        started = time.monotonic()
        self.options.progress(f"{what} ...")
        yield
        self.options.progress(f"{what}: done in {time.monotonic() - started:.1f} s")

    # -- handles -----------------------------------------------------------------------------

    def _env(self) -> DevEnv:
        if self.env is None:
            raise RuntimeError("LocalStack not started")
        return self.env

    @property
    def kubeconfig(self) -> Path:
        return self._env().kubeconfig

    @property
    def prometheus_url(self) -> str:
        return self._env().prometheus_url

    @property
    def cluster(self) -> Cluster:
        """SparkApplications, events, namespaces through the stack's admin API client."""
        if self.api_client is None:
            raise RuntimeError("LocalStack not started")
        return Cluster(self.api_client)

    # -- scrape jobs -------------------------------------------------------------------------

    def add_scrape_target(self, target: ScrapeTarget, job: str | None = None) -> ScrapeTarget:
        """Scrape ``target`` (as ``job`` when given); removed again at exit."""
        if job is not None:
            target = ScrapeTarget(
                job, list(target.targets), target.metrics_path, target.scrape_interval,
                dict(target.labels),
            )  # fmt: skip
        env = self._env()
        env.add_scrape_target(target)
        if self.options.env is not None:  # a borrowed Prometheus outlives the stack
            self._exit.callback(self._remove_scrape_target, target.job)
        return target

    def scrape(
        self,
        job: str,
        targets: Sequence[str],
        *,
        metrics_path: str = "/metrics",
        labels: Mapping[str, str] | None = None,
    ) -> ScrapeTarget:
        """Scrape ``targets`` (``host:port``) as ``job`` at the stack's scrape interval."""
        target = ScrapeTarget(
            job, list(targets), metrics_path, self.options.scrape_interval, dict(labels or {})
        )
        return self.add_scrape_target(target)

    def scrape_operator(self, operator: OperatorProcess, job: str) -> ScrapeTarget:
        """Prometheus scrapes ``operator``'s /metrics as ``job`` (prefixed)."""
        return self.scrape(self.options.job_prefix + job, [f"127.0.0.1:{operator.port}"])

    def _remove_scrape_target(self, job: str) -> None:
        if self.env is not None:
            self.env.remove_scrape_target(job)

    # -- operators ---------------------------------------------------------------------------

    def operator_config(self, **overrides: Any) -> dict[str, Any]:
        """The config the stack's operators get: :func:`operator_config` at the stack's speed,
        its namespaces, ``operator_overrides`` and then ``overrides``."""
        base: dict[str, Any] = {}
        if self.options.namespaces:
            base["namespaces"] = list(self.options.namespaces)
        base.update(self.options.operator_overrides)
        merged = operator_config(
            overrides.pop("prometheus_url", None) or self.prometheus_url,
            overrides.pop("kubeconfig", None) or self.kubeconfig,
            self.options.speed,
            **base,
        )
        return _merge(merged, overrides)

    def start_operator(
        self,
        name: str = "operator",
        *,
        config: Mapping[str, Any] | None = None,
        work_dir: Path | None = None,
        wait: bool = True,
        **overrides: Any,
    ) -> OperatorProcess:
        """Start one more operator (``config`` as given, else :meth:`operator_config` with
        ``overrides``); it is stopped at exit unless stopped before."""
        settings = dict(config) if config is not None else self.operator_config(**overrides)
        operator = OperatorProcess(settings, work_dir or self.work_dir, name)
        self.operators.append(operator)
        self._exit.callback(self._stop_operator, operator)
        if wait:
            operator.wait_ready()
        return operator

    def restart_operator(
        self, operator: OperatorProcess | None = None, *, kill: bool = False
    ) -> OperatorProcess:
        """Stop (SIGTERM, or SIGKILL with ``kill``) and start again with the same config file
        and name; the stack's own operator by default. The new process is returned (and becomes
        :attr:`operator` when it replaced it)."""
        old = operator or self.operator
        if old is None:
            raise RuntimeError("no operator to restart")
        if kill:
            old.kill()
        old.stop()
        settings = _load_config(old.config_path)
        new = self.start_operator(
            old.process.name, config=settings, work_dir=old.config_path.parent
        )
        if old is self.operator:
            self.operator = new
        return new

    def _stop_operator(self, operator: OperatorProcess) -> None:
        was_running = operator.process.alive()
        code = operator.stop()
        if was_running and code != 0:
            self._unclean.append(
                f"{operator.process.name} exited with {code}; log {operator.log}:\n"
                f"{operator.process.log_tail()}"
            )


def _merge(config: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` over ``config``; mappings are merged one level deep (``guardrails``)."""
    merged = dict(config)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _load_config(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded
