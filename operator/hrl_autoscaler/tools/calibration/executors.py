"""Change the executor count in place through the real agent, and time each change.

Calibration drives executors the way ``in-place`` actuation does in production: it writes the
target where the in-place agent (:class:`hrl_autoscaler.tools.spark.agent.ExecutorTargetAgent`,
running in this driver with a file source) reads it, and the agent applies it with Spark's
executor-allocation API. A change's time therefore includes the agent's polling, the request
to the master, the executor JVM's start and its registration with the driver: what the
simulator's ``startup_delay_s`` stands for. It ends when the driver's registered executors
(the status store the agent itself reads) number the target.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hrl_autoscaler.tools.calibration.schema import ScalingTiming


class AgentScaler:
    """The in-place agent on a file target, and a clock on its changes."""

    def __init__(
        self,
        sc: Any,
        target_file: Path,
        initial: int,
        max_executors: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from hrl_autoscaler.config import ExecutorAgentSettings
        from hrl_autoscaler.tools.spark.agent import start_agent
        from hrl_autoscaler.tools.spark.agent_spark import Py4jSparkBridge

        self.target_file = Path(target_file)
        self.clock = clock
        self._write(initial)
        self.bridge = Py4jSparkBridge(sc)
        self.agent = start_agent(
            sc,
            ExecutorAgentSettings(
                source="file",
                target_file=self.target_file,
                min_executors=1,
                max_executors=max(max_executors, initial),
                initial_executors=initial,
            ),
        )

    def _write(self, n: int) -> None:
        """Atomically, as the agent's file source expects (never a half-written number)."""
        tmp = self.target_file.with_name(f".{self.target_file.name}.tmp")
        tmp.write_text(f"{n}\n", encoding="utf-8")
        os.replace(tmp, self.target_file)

    def registered(self) -> int:
        return len(self.bridge.executors())

    def set(self, n: int, *, timeout_s: float, poll_s: float = 0.1) -> ScalingTiming | None:
        """Target ``n`` and wait until exactly ``n`` executors are registered.

        Returns the change's timing (None when already there). Raises ``TimeoutError`` with
        the counts when the cluster does not get there in ``timeout_s``.
        """
        if n < 1:
            raise ValueError(f"executor count must be >= 1, got {n}")
        before = self.registered()
        started = self.clock()
        self._write(n)
        if before == n:
            return None
        current = before
        while self.clock() - started < timeout_s:
            current = self.registered()
            if current == n:
                return ScalingTiming(
                    direction="add" if n > before else "remove",
                    from_executors=before,
                    to_executors=n,
                    seconds=self.clock() - started,
                )
            time.sleep(poll_s)
        raise TimeoutError(
            f"executors did not go from {before} to {n} within {timeout_s:.0f} s "
            f"({current} registered): does the worker offer enough cores and memory?"
        )

    def wait_for(self, n: int, timeout_s: float) -> None:
        """Wait (untimed) until ``n`` executors are registered: the start of a run."""
        deadline = self.clock() + timeout_s
        while self.clock() < deadline:
            if self.registered() == n:
                return
            time.sleep(0.25)
        raise TimeoutError(
            f"{self.registered()} executors registered after {timeout_s:.0f} s, not {n}"
        )

    def stop(self) -> None:
        self.agent.stop()
