"""The Spark side of the in-place executor agent (:mod:`.agent`): whether it may run with this
Spark configuration, which executors to remove, and the driver calls that do it.

The Spark-facing calls sit behind :class:`SparkBridge` so the decision logic can be tested with
a fake; :class:`Py4jSparkBridge` is the real one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: Settings under which Spark scales executors itself; the agent refuses to run with them.
DYNAMIC_ALLOCATION_KEYS = (
    "spark.dynamicAllocation.enabled",
    "spark.streaming.dynamicAllocation.enabled",
)


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


__all__ = [
    "DYNAMIC_ALLOCATION_KEYS",
    "AgentConfigurationError",
    "ExecutorState",
    "Py4jSparkBridge",
    "SparkBridge",
    "executors_to_kill",
    "refusal",
]
