"""The in-place executor agent: applies the operator's target inside the running Spark driver.

The Spark Operator restarts an application whenever its spec changes, so in ``in-place``
actuation the operator writes its decision to the SparkApplication's annotation
``hrl-autoscaler.io/target-executors`` instead, and this agent, a daemon thread in the driver,
applies it through Spark's executor-allocation API (the one dynamic allocation uses):

- scale-out: ``SparkContext.requestTotalExecutors(n)``; the cluster manager (standalone master,
  Kubernetes backend) starts the missing executors;
- scale-in: ``requestTotalExecutors(n)`` first (so nothing replaces what leaves), then
  ``killExecutors`` on the surplus, **idle executors first** and without ``force``, so Spark
  itself refuses an executor that got a task in the meantime: no task is lost. An executor
  that stays busy for ``scale_in_grace_s`` is killed anyway (its tasks rerun), otherwise a
  saturated application could never shrink.

Invalid targets (not an integer, outside [min, max]) are logged once and ignored: the last good
target stays, as the operator's own annotations do. The agent refuses to start next to Spark's
dynamic allocation, which would fight it for the same executors.

The applied target and the executor counts are exported as Prometheus gauges on an optional
port (``hrl_autoscaler_agent_*``) and logged on every change. A Spark metrics source would need
JVM code; a separate small endpoint keeps the agent pure Python and lets an alert compare
"target" with "registered" per application. The operator does not need it: it reads the
executors Spark itself reports (``metrics_executor_*``), the ground truth.

The Spark-facing calls sit behind :class:`SparkBridge` so the decision logic can be tested with
a fake; :class:`Py4jSparkBridge` is the real one.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from hrl_autoscaler.config import ExecutorAgentSettings
from hrl_autoscaler.runtime.core.annotations import TARGET_ANNOTATION
from hrl_autoscaler.runtime.core.application import GROUP, PLURAL, VERSION

log = logging.getLogger("hrl_autoscaler.tools.spark.agent")

#: Settings under which Spark scales executors itself; the agent refuses to run with them.
DYNAMIC_ALLOCATION_KEYS = (
    "spark.dynamicAllocation.enabled",
    "spark.streaming.dynamicAllocation.enabled",
)
#: The Spark Operator passes the SparkApplication's name as this driver label.
APP_NAME_LABEL_CONF = "spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name"
NAMESPACE_CONF = "spark.kubernetes.namespace"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

_INTEGER = re.compile(r"[0-9]+")


class AgentConfigurationError(RuntimeError):
    """The agent cannot run in this driver; the message names the setting to change."""


# -- pure logic ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutorState:
    """A registered executor (never the driver) and how many tasks it runs now."""

    executor_id: str
    active_tasks: int

    @property
    def idle(self) -> bool:
        return self.active_tasks == 0


@dataclass(frozen=True)
class TargetReading:
    """A parsed target: ``value`` when valid, ``problem`` (why it was refused) when not, both
    None when no target is set."""

    value: int | None
    problem: str | None = None


def parse_target(raw: str | None, min_executors: int, max_executors: int) -> TargetReading:
    """Validate the raw annotation or file content.

    Only plain decimal digits are accepted (``int()`` would also take ``"+3"``, ``"3_0"`` or
    ``" 3 "`` with inner spaces; an operator writes none of those, so they are typos).
    """
    if raw is None:
        return TargetReading(None)
    text = raw.strip()
    if not text:
        return TargetReading(None, "empty value")
    if not _INTEGER.fullmatch(text):
        return TargetReading(None, f"{raw!r} is not a non-negative integer")
    value = int(text)
    if not min_executors <= value <= max_executors:
        return TargetReading(
            None,
            f"{value} is outside [{min_executors}, {max_executors}] "
            "(the agent's min_executors/max_executors)",
        )
    return TargetReading(value)


def refusal(conf: Callable[[str], str | None]) -> str | None:
    """Why the agent must not run with this Spark configuration, or None.

    ``conf`` reads a Spark setting (None when unset).
    """
    for key in DYNAMIC_ALLOCATION_KEYS:
        value = conf(key)
        if value is not None and value.strip().lower() == "true":
            return (
                f"{key}=true: Spark's dynamic allocation would add and remove the same "
                f"executors the in-place agent manages. Set {key}=false (in a SparkApplication: "
                "spec.dynamicAllocation.enabled: false), or do not start the agent"
            )
    master = conf("spark.master") or ""
    if master.startswith("local"):
        return (
            f"spark.master={master}: local mode has no executors to add or remove; run on a "
            "cluster manager (spark://, k8s://) or do not start the agent"
        )
    return None


def _age_key(executor_id: str) -> int:
    """Executor ids are increasing integers in standalone and Kubernetes: higher = newer."""
    return int(executor_id) if executor_id.isdigit() else -1


def executors_to_kill(
    executors: Sequence[ExecutorState], target: int, allow_busy: bool = False
) -> list[str]:
    """Which executors to remove so that ``target`` remain.

    Idle ones first, newest first (the oldest have warm JIT-compiled code and cached state
    store files). Busy ones only with ``allow_busy``, fewest running tasks first.
    """
    surplus = len(executors) - target
    if surplus <= 0:
        return []
    idle = sorted((e for e in executors if e.idle), key=lambda e: -_age_key(e.executor_id))
    chosen = [e.executor_id for e in idle[:surplus]]
    if allow_busy and len(chosen) < surplus:
        busy = sorted(
            (e for e in executors if not e.idle),
            key=lambda e: (e.active_tasks, -_age_key(e.executor_id)),
        )
        chosen += [e.executor_id for e in busy[: surplus - len(chosen)]]
    return chosen


# -- the Spark side ------------------------------------------------------------------------


class SparkBridge(Protocol):
    """What the agent asks of the driver's SparkContext."""

    def application_id(self) -> str: ...

    def conf(self, key: str) -> str | None: ...

    def executors(self) -> list[ExecutorState]:
        """Registered executors, the driver excluded."""
        ...

    def request_total(self, count: int) -> bool:
        """Ask the cluster manager for ``count`` executors in total; False if refused."""
        ...

    def kill(self, executor_ids: Sequence[str], force: bool) -> list[str]:
        """Remove these executors without lowering the requested total; the ids Spark accepted
        (without ``force`` it skips executors that run tasks)."""
        ...

    def stopped(self) -> bool: ...


class Py4jSparkBridge:
    """The real :class:`SparkBridge`: py4j calls on the driver's JVM ``SparkContext``.

    ``requestTotalExecutors`` is a developer API of ``SparkContext``; the executor list comes
    from the status store (``activeTasks`` per executor) and kills go straight to the scheduler
    backend, because ``SparkContext.killExecutors`` always forces and lowers the target.
    """

    def __init__(self, sc: Any) -> None:
        self.sc = sc
        self._jvm = sc._jvm
        self._jsc = sc._jsc.sc()

    def _list(self, seq: Any) -> list[Any]:
        return list(self._jvm.scala.jdk.javaapi.CollectionConverters.asJava(seq))

    def application_id(self) -> str:
        return str(self.sc.applicationId)

    def conf(self, key: str) -> str | None:
        value = self.sc.getConf().get(key, None)
        return None if value is None else str(value)

    def executors(self) -> list[ExecutorState]:
        summaries = self._list(self._jsc.statusStore().executorList(True))
        return [
            ExecutorState(str(s.id()), int(s.activeTasks()))
            for s in summaries
            if str(s.id()) != "driver"
        ]

    def request_total(self, count: int) -> bool:
        no_locality = self._jvm.PythonUtils.toScalaMap({})
        return bool(self._jsc.requestTotalExecutors(count, 0, no_locality))

    def kill(self, executor_ids: Sequence[str], force: bool) -> list[str]:
        ids = self._jvm.PythonUtils.toSeq(list(executor_ids))
        # killExecutors(ids, adjustTargetNumExecutors, countFailures, force)
        killed = self._jsc.schedulerBackend().killExecutors(ids, False, False, force)
        return [str(i) for i in self._list(killed)]

    def stopped(self) -> bool:
        try:
            return bool(self._jsc.isStopped())
        except Exception:  # the JVM is gone
            return True


# -- target sources ------------------------------------------------------------------------


class TargetSource(Protocol):
    description: str

    def read(self) -> str | None:
        """The raw target, None when none is set; raises when the source cannot be read."""
        ...


class FileTargetSource:
    """A file holding the target (standalone clusters and tests; write it atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file {path}"

    def read(self) -> str | None:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return None


class AnnotationTargetSource:
    """The SparkApplication's ``hrl-autoscaler.io/target-executors`` annotation.

    One GET per poll (RBAC: ``get`` on ``sparkapplications`` in its namespace). A watch would
    save the GETs, but at one request per 2 s per application the API server does not notice,
    and a poll has no connection state to lose.
    """

    def __init__(
        self, namespace: str, name: str, kubeconfig: Path | None = None, timeout_s: float = 5.0
    ) -> None:
        from kubernetes import client, config

        # The kubernetes client has no type hints: typed as Any on purpose.
        k8s_client: Any = client
        k8s_config: Any = config
        if kubeconfig is not None:
            api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        else:
            k8s_config.load_incluster_config()
            api = k8s_client.ApiClient()
        self.objects = k8s_client.CustomObjectsApi(api)
        self.namespace = namespace
        self.name = name
        self.timeout_s = timeout_s
        self.description = f"annotation {TARGET_ANNOTATION} of SparkApplication {namespace}/{name}"

    def read(self) -> str | None:
        obj: Any = self.objects.get_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            self.name,
            _request_timeout=self.timeout_s,
        )
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        value = annotations.get(TARGET_ANNOTATION)
        return None if value is None else str(value)


def resolve_application(
    settings: ExecutorAgentSettings, conf: Callable[[str], str | None]
) -> tuple[str, str]:
    """The SparkApplication's (namespace, name): settings, else what the Spark Operator passes
    to the driver (``spark.kubernetes.namespace`` and the app-name driver label), else the
    service account's namespace."""
    namespace = settings.namespace or conf(NAMESPACE_CONF)
    if namespace is None and SERVICE_ACCOUNT_NAMESPACE.is_file():
        namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    name = settings.name or conf(APP_NAME_LABEL_CONF)
    missing = [
        what
        for what, value in (
            (f"namespace (--agent-namespace, {NAMESPACE_CONF})", namespace),
            (f"name (--agent-name, {APP_NAME_LABEL_CONF})", name),
        )
        if not value
    ]
    if missing:
        raise AgentConfigurationError(
            "cannot tell which SparkApplication to read the target from: no "
            + " and no ".join(missing)
        )
    assert namespace is not None
    assert name is not None
    return namespace, name


def source_from_settings(
    settings: ExecutorAgentSettings, conf: Callable[[str], str | None]
) -> TargetSource:
    if settings.source == "file":
        assert settings.target_file is not None  # the settings validator guarantees it
        return FileTargetSource(settings.target_file)
    namespace, name = resolve_application(settings, conf)
    return AnnotationTargetSource(namespace, name, settings.kubeconfig)


# -- metrics -------------------------------------------------------------------------------


class AgentMetrics:
    """The agent's gauges in their own registry (served only when a port is configured)."""

    def __init__(self, application_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["application_id"]
        self.target = Gauge(
            "hrl_autoscaler_agent_target_executors",
            "last valid target read from the source",
            labels,
            registry=self.registry,
        )
        self.applied = Gauge(
            "hrl_autoscaler_agent_applied_executors",
            "total executors requested from Spark (requestTotalExecutors)",
            labels,
            registry=self.registry,
        )
        self.registered = Gauge(
            "hrl_autoscaler_agent_registered_executors",
            "executors registered with the driver",
            labels,
            registry=self.registry,
        )
        self.leaving = Gauge(
            "hrl_autoscaler_agent_leaving_executors",
            "executors asked to leave that are still registered",
            labels,
            registry=self.registry,
        )
        self.convergence = Gauge(
            "hrl_autoscaler_agent_last_convergence_seconds",
            "seconds from the last target change until the registered count matched it",
            labels,
            registry=self.registry,
        )
        self.invalid = Counter(
            "hrl_autoscaler_agent_invalid_targets",
            "targets refused (not an integer, out of bounds)",
            labels,
            registry=self.registry,
        )
        self.source_errors = Counter(
            "hrl_autoscaler_agent_source_errors",
            "failed reads of the target source",
            labels,
            registry=self.registry,
        )
        self.killed = Counter(
            "hrl_autoscaler_agent_killed_executors",
            "executors the agent asked Spark to remove",
            labels,
            registry=self.registry,
        )
        self.app_id = application_id
        self._server: Any = None
        self.port: int | None = None

    def serve(self, host: str, port: int) -> int:
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        self.port = int(server.server_address[1])
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


# -- the agent -----------------------------------------------------------------------------


class ExecutorTargetAgent:
    """Reads the target every ``poll_interval_s`` and makes the executors match it.

    ``start()`` runs :meth:`step` in a daemon thread until :meth:`stop` or until the
    SparkContext stops; :meth:`step` is also the unit of the tests (with a fake bridge).
    """

    def __init__(
        self,
        bridge: SparkBridge,
        settings: ExecutorAgentSettings,
        source: TargetSource,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bridge = bridge
        self.settings = settings
        self.source = source
        self.clock = clock
        self.app_id = bridge.application_id()
        self.metrics = AgentMetrics(self.app_id)
        self._target: int | None = settings.initial_executors
        self._applied: int | None = None
        self._changed_at: float | None = None
        self._converged = True
        self._surplus_since: float | None = None
        self._leaving: dict[str, float] = {}
        self._last_problem: str | None = None
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_spark_context(
        cls, sc: Any, settings: ExecutorAgentSettings | None = None
    ) -> ExecutorTargetAgent:
        """The agent for a PySpark ``SparkContext``, its source chosen by ``settings``
        (default: ``HRL_AUTOSCALER_AGENT_*`` environment). Raises
        :class:`AgentConfigurationError` before touching anything when it cannot run."""
        settings = settings or ExecutorAgentSettings()
        bridge = Py4jSparkBridge(sc)
        reason = refusal(bridge.conf)
        if reason is not None:
            raise AgentConfigurationError(reason)
        return cls(bridge, settings, source_from_settings(settings, bridge.conf))

    # -- state, for callers and tests --------------------------------------------------------
    @property
    def target(self) -> int | None:
        """The last valid target (None until one is known)."""
        return self._target

    @property
    def applied(self) -> int | None:
        """The total last requested from Spark successfully."""
        return self._applied

    @property
    def leaving(self) -> list[str]:
        return sorted(self._leaving, key=_age_key)

    # -- lifecycle ---------------------------------------------------------------------------
    def check(self) -> None:
        reason = refusal(self.bridge.conf)
        if reason is not None:
            raise AgentConfigurationError(reason)

    def start(self) -> ExecutorTargetAgent:
        """Check the configuration, serve the gauges if asked, start the daemon thread."""
        self.check()
        self._warn_about_core_limit()
        if self.settings.metrics_port is not None:
            port = self.metrics.serve(self.settings.metrics_host, self.settings.metrics_port)
            log.info("agent metrics on http://%s:%d/metrics", self.settings.metrics_host, port)
        log.info(
            "in-place agent for %s: target from %s, every %.1f s, bounds [%d, %d]%s",
            self.app_id,
            self.source.description,
            self.settings.poll_interval_s,
            self.settings.min_executors,
            self.settings.max_executors,
            f", initial {self._target}" if self._target is not None else "",
        )
        self._thread = threading.Thread(target=self._run, name="hrl-executor-agent", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self.metrics.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.bridge.stopped():
                log.info("SparkContext stopped: the in-place agent exits")
                return
            try:
                self.step()
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                if message != self._last_error:
                    log.exception("agent step failed (retrying every %.1f s)", self._interval)
                    self._last_error = message
            else:
                self._last_error = None
            self._stop.wait(self._interval)

    @property
    def _interval(self) -> float:
        return self.settings.poll_interval_s

    def _warn_about_core_limit(self) -> None:
        """On a standalone master, spark.cores.max caps the executors whatever is requested."""
        cores_max = self.bridge.conf("spark.cores.max")
        cores = self.bridge.conf("spark.executor.cores") or "1"
        if cores_max and cores_max.isdigit() and cores.isdigit() and int(cores) > 0:
            cap = int(cores_max) // int(cores)
            if cap < self.settings.max_executors:
                log.warning(
                    "spark.cores.max=%s allows %d executors of %s cores: targets above %d "
                    "cannot be met (max_executors is %d)",
                    cores_max,
                    cap,
                    cores,
                    cap,
                    self.settings.max_executors,
                )

    # -- one step ----------------------------------------------------------------------------
    def step(self) -> None:
        """Read the target, request it if it changed, remove surplus executors."""
        with self._lock:
            now = self.clock()
            self._read_target()
            target = self._target
            if target is None:
                return
            if target != self._applied and not self._request(target, now):
                return
            executors = self.bridge.executors()
            self._trim(executors, target, now)
            staying = [e for e in executors if e.executor_id not in self._leaving]
            self.metrics.registered.labels(self.app_id).set(len(executors))
            self.metrics.leaving.labels(self.app_id).set(len(self._leaving))
            if not self._converged and len(staying) == target and not self._leaving:
                self._converged = True
                elapsed = now - (self._changed_at or now)
                self.metrics.convergence.labels(self.app_id).set(elapsed)
                log.info(
                    "%d executors registered, as targeted, %.1f s after the change", target, elapsed
                )

    def _read_target(self) -> None:
        try:
            raw = self.source.read()
        except Exception as exc:
            self.metrics.source_errors.labels(self.app_id).inc()
            message = f"cannot read {self.source.description}: {exc}"
            if message != self._last_problem:
                log.warning("%s; keeping target %s", message, self._target)
                self._last_problem = message
            return
        reading = parse_target(raw, self.settings.min_executors, self.settings.max_executors)
        if reading.problem is not None:
            message = f"ignoring {TARGET_ANNOTATION}={raw!r}: {reading.problem}"
            if message != self._last_problem:
                self.metrics.invalid.labels(self.app_id).inc()
                log.warning("%s; keeping target %s", message, self._target)
                self._last_problem = message
            return
        self._last_problem = None
        if reading.value is not None:
            self._target = reading.value
            self.metrics.target.labels(self.app_id).set(reading.value)

    def _request(self, target: int, now: float) -> bool:
        if not self.bridge.request_total(target):
            message = f"Spark refused requestTotalExecutors({target})"
            if message != self._last_problem:
                log.error("%s (is the scheduler backend able to allocate?)", message)
                self._last_problem = message
            return False
        log.info("requested %d executors in total (was %s)", target, self._applied)
        self._applied = target
        self._changed_at = now
        self._converged = False
        self._surplus_since = None
        self.metrics.applied.labels(self.app_id).set(target)
        return True

    def _trim(self, executors: Iterable[ExecutorState], target: int, now: float) -> None:
        present = {e.executor_id for e in executors}
        for executor_id, since in list(self._leaving.items()):
            if executor_id not in present:
                del self._leaving[executor_id]
            elif now - since > self.settings.kill_timeout_s:
                log.warning(
                    "executor %s still registered %.0f s after its kill", executor_id, now - since
                )
                del self._leaving[executor_id]
        staying = [e for e in executors if e.executor_id not in self._leaving]
        if len(staying) <= target:
            self._surplus_since = None
            return
        if self._surplus_since is None:
            self._surplus_since = now
        force = now - self._surplus_since >= self.settings.scale_in_grace_s
        chosen = executors_to_kill(staying, target, allow_busy=force)
        if not chosen:
            return
        killed = self.bridge.kill(chosen, force)
        for executor_id in killed:
            self._leaving[executor_id] = now
        if killed:
            self.metrics.killed.labels(self.app_id).inc(len(killed))
            log.info(
                "scale-in to %d: removing %s executor(s) %s (%d registered)",
                target,
                "busy" if force else "idle",
                ", ".join(killed),
                len(staying),
            )


def start_agent(sc: Any, settings: ExecutorAgentSettings | None = None) -> ExecutorTargetAgent:
    """Build and start the agent for ``sc`` (what the IoT job calls)."""
    return ExecutorTargetAgent.from_spark_context(sc, settings).start()


__all__ = [
    "TARGET_ANNOTATION",
    "AgentConfigurationError",
    "AnnotationTargetSource",
    "ExecutorState",
    "ExecutorTargetAgent",
    "FileTargetSource",
    "Py4jSparkBridge",
    "SparkBridge",
    "TargetReading",
    "executors_to_kill",
    "parse_target",
    "refusal",
    "resolve_application",
    "start_agent",
]
