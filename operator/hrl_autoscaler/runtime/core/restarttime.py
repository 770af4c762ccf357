"""Learned restart and start-up times: how long an application really takes to come back.

Flink's autoscaler measures each restart (``restart.time-tracking.enabled``) and uses the
observed time, capped by ``restart.time-tracking.limit`` (15 min), instead of the configured
``restart.time``. The operator assumes 90 s for a restart (the simulator's
``restart_downtime_s``); a job with a large state store or a slow image pull takes minutes, and
then the cooldown lets it decide on the metrics of a barely recovered run, and DS2's catch-up
underestimates the events that queue while it is down.

Two durations are measured per application, from the scaling write to the first cycle that
decides on a RUNNING application whose running executors reached the target:

- ``restart``: restart actuation (``spec.executor.instances``): the Spark Operator's
  resubmission, the driver, the executors, the state restore and the first micro-batch;
- ``startup``: an in-place scale-up (the target annotation): new executor pods to running.

The resolution is the decision interval (a completion is seen at the next cycle). The newest
``history`` of each are kept in the application's state; the learned value is their maximum
(a restart plan must cover the slow ones), capped by ``limit_s``. A measurement that has not
completed within ``limit_s`` (executors that never all start: a full cluster, a quota) is
dropped, not recorded: it says more about the cluster than about the application.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TimeKind = Literal["restart", "startup"]

#: A learned value is reported (event) when it moves by more than this share of the last one.
MATERIAL_CHANGE = 0.2


@dataclass(frozen=True, slots=True)
class RestartTimeSettings:
    enabled: bool = True
    limit_s: float = 900.0
    """Flink's ``restart.time-tracking.limit``: no learned time exceeds 15 minutes."""
    history: int = 5
    """Measurements kept per kind in the state (the newest)."""


@dataclass(frozen=True, slots=True)
class _Pending:
    kind: TimeKind
    since_s: float
    target: int


@dataclass(frozen=True, slots=True)
class Measured:
    """A completed measurement."""

    kind: TimeKind
    seconds: float
    target: int


class RestartTimer:
    """The one scaling action of an application whose completion is awaited (in memory: an
    operator restart in between loses one measurement, never a wrong one)."""

    def __init__(self) -> None:
        self.pending: _Pending | None = None

    def started(self, kind: TimeKind | None, now_s: float, target: int) -> None:
        """A scaling write went through; ``kind`` None (an in-place scale-down starts nothing)
        forgets any measurement in progress, whose target no longer applies."""
        self.pending = None if kind is None else _Pending(kind, now_s, target)

    def observe(self, now_s: float, running: int, limit_s: float) -> Measured | None:
        """A cycle that decides on a RUNNING application with ``running`` executors."""
        pending = self.pending
        if pending is None:
            return None
        elapsed = now_s - pending.since_s
        if elapsed > limit_s:
            self.pending = None
            return None
        if running < pending.target:
            return None
        self.pending = None
        return Measured(pending.kind, max(0.0, elapsed), pending.target)


def learned_seconds(history: list[float], limit_s: float) -> float | None:
    """The time to plan with: the slowest recent measurement, at most ``limit_s``."""
    return min(max(history), limit_s) if history else None


def materially_changed(before: float | None, after: float | None) -> bool:
    if after is None:
        return False
    if before is None:
        return True
    return abs(after - before) > MATERIAL_CHANGE * before
