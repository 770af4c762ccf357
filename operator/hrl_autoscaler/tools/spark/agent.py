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

The parts live next to this module: :mod:`.agent_spark` (the refusal, the choice of executors
to remove and the Spark-facing calls behind :class:`SparkBridge`, so the decision logic can be
tested with a fake; :class:`Py4jSparkBridge` is the real one), :mod:`.agent_targets` (where the
target is read and how it is validated) and :mod:`.agent_metrics` (the gauges).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from hrl_autoscaler.config import ExecutorAgentSettings
from hrl_autoscaler.runtime.core.annotations import TARGET_ANNOTATION
from hrl_autoscaler.tools.spark.agent_metrics import AgentMetrics
from hrl_autoscaler.tools.spark.agent_spark import (
    AgentConfigurationError,
    ExecutorState,
    Py4jSparkBridge,
    SparkBridge,
    _age_key,
    executors_to_kill,
    refusal,
)
from hrl_autoscaler.tools.spark.agent_targets import (
    TargetSource,
    parse_target,
    source_from_settings,
)

log = logging.getLogger("hrl_autoscaler.tools.spark.agent")


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


__all__ = ["ExecutorTargetAgent", "start_agent"]
