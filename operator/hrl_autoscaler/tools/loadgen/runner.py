"""Pace the ticks in real time and measure what was actually achieved.

Tick k covers the wall interval [k, k+1) x ``tick_s`` after the start; its events are
timestamped inside that interval and written at its end (when they exist). When the
generator falls behind (a slow disk, a busy core), late ticks are written as fast as
possible, never skipped: the stream stays the same, the achieved rate shows the shortfall
and ``max_lag_s`` how late it got.

Achieved rate per report interval = events whose write completed in that wall interval / its
length, where a tick completed within one tick of its due time counts in the interval it was
due in (writing takes a few milliseconds, so a tick due at an interval's edge would otherwise
land in the next one and read as a 1/n shortfall). A generator that keeps up therefore
achieves its target in every interval; one that falls behind by more than a tick shows the
shortfall where it happened, and ``max_lag_s`` says by how much.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrl_autoscaler.config import LOADGEN
from hrl_autoscaler.tools.loadgen.events import EventFactory
from hrl_autoscaler.tools.loadgen.schedule import Schedule
from hrl_autoscaler.tools.loadgen.sinks import Sink

REPORT_SCHEMA = "hrl-autoscaler/loadgen-report/v1"


@dataclass(frozen=True)
class IntervalReport:
    start_s: float
    end_s: float
    target_events: int
    achieved_events: int
    target_eps: float
    achieved_eps: float

    @property
    def relative_error(self) -> float:
        if self.target_eps <= 0:
            return 0.0 if self.achieved_eps <= 0 else math.inf
        return (self.achieved_eps - self.target_eps) / self.target_eps


@dataclass
class LoadgenReport:
    """What ran and what it achieved; ``to_json`` is the ``--json`` file."""

    source: str
    sink: str
    seed: int
    tick_s: float
    report_interval_s: float
    started_epoch_s: float
    wall_s: float
    target_events: int
    produced_events: int
    max_lag_s: float
    intervals: list[IntervalReport] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def target_eps(self) -> float:
        return self.target_events / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def achieved_eps(self) -> float:
        return self.produced_events / self.wall_s if self.wall_s > 0 else 0.0

    def on_target_share(self, tolerance: float = LOADGEN.rate_tolerance) -> float:
        """Share of report intervals (with a target) whose achieved rate is within tolerance."""
        judged = [iv for iv in self.intervals if iv.target_events > 0]
        if not judged:
            return 1.0
        return sum(abs(iv.relative_error) <= tolerance for iv in judged) / len(judged)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = REPORT_SCHEMA
        data["target_eps"] = self.target_eps
        data["achieved_eps"] = self.achieved_eps
        data["on_target_share"] = self.on_target_share()
        for iv, raw in zip(self.intervals, data["intervals"], strict=True):
            raw["relative_error"] = iv.relative_error
        return data

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


class EventCounter:
    """A Prometheus counter of events produced (``--metrics-port``), so the backlog is
    ``sum(hrl_loadgen_events_total) - <events processed by the job>`` in PromQL."""

    def __init__(self, port: int, source: str, sink: str, host: str = "0.0.0.0") -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

        self.registry = CollectorRegistry()
        labels = {"source": source, "sink": sink}
        self._events = Counter(
            "hrl_loadgen_events",
            "IoT events written by hrl-autoscaler loadgen (visible to consumers).",
            list(labels),
            registry=self.registry,
        ).labels(**labels)
        self._target = Gauge(
            "hrl_loadgen_target_rate_eps",
            "Scheduled rate of the current tick, events per second.",
            list(labels),
            registry=self.registry,
        ).labels(**labels)
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)
        self.port = int(self.server.server_address[1])

    def record(self, events: int, target_eps: float) -> None:
        self._events.inc(events)
        self._target.set(target_eps)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


Progress = Callable[[int, int, float, float], None]
"""Called after every tick with (ticks done, events produced, target eps, wall seconds)."""


def run_loadgen(
    schedule: Schedule,
    factory: EventFactory,
    sink: Sink,
    *,
    report_interval_s: float = LOADGEN.report_interval_s,
    seed: int = LOADGEN.seed,
    start_epoch_s: float | None = None,
    on_tick: Progress | None = None,
    stop: threading.Event | None = None,
    counter: EventCounter | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> LoadgenReport:
    """Produce the schedule in real time into ``sink``; returns the measured report.

    ``start_epoch_s`` fixes the event-time origin (default: now), which with ``seed`` makes
    the output byte-for-byte reproducible. ``stop`` ends the run early (Ctrl-C, a test).
    """
    if not (math.isfinite(report_interval_s) and report_interval_s > 0):
        raise ValueError(f"--report-interval must be > 0 s, got {report_interval_s!r}")
    tick_s = schedule.tick_s
    epoch0 = time.time() if start_epoch_s is None else float(start_epoch_s)
    t0 = clock()
    done_at = np.zeros(schedule.ticks)
    produced = np.zeros(schedule.ticks, dtype=np.int64)
    max_lag = 0.0
    stopped = False
    ticks_done = 0
    total = 0
    for k in range(schedule.ticks):
        due = t0 + (k + 1) * tick_s
        while True:
            wait = due - clock()
            if wait <= 0:
                break
            if stop is not None and stop.wait(min(wait, 0.5)):
                break
            if stop is None:
                sleep(wait)
        if stop is not None and stop.is_set():
            stopped = True
            break
        count = int(schedule.counts[k])
        tick_epoch = epoch0 + k * tick_s
        lines = factory.lines(k, count, tick_epoch, tick_s)
        sink.write(k, round(tick_epoch * 1000), lines)
        finished = clock()
        done_at[k] = finished - t0
        produced[k] = count
        max_lag = max(max_lag, finished - due)
        ticks_done = k + 1
        total += count
        if counter is not None:
            counter.record(count, float(schedule.rates_eps[k]))
        if on_tick is not None:
            on_tick(
                ticks_done,
                total,
                float(schedule.rates_eps[k]),
                finished - t0,
            )
    wall = max(clock() - t0, ticks_done * tick_s) if ticks_done else clock() - t0
    sink.close()
    intervals = _intervals(schedule, done_at[:ticks_done], produced[:ticks_done], report_interval_s)
    return LoadgenReport(
        source=schedule.source,
        sink=sink.name,
        seed=seed,
        tick_s=tick_s,
        report_interval_s=report_interval_s,
        started_epoch_s=epoch0,
        wall_s=wall,
        target_events=int(schedule.counts[:ticks_done].sum()),
        produced_events=int(produced.sum()),
        max_lag_s=max_lag,
        intervals=intervals,
        stopped_early=stopped,
    )


def _intervals(
    schedule: Schedule, done_at: np.ndarray, produced: np.ndarray, interval_s: float
) -> list[IntervalReport]:
    """Target (by schedule time) vs achieved (by completion time) per report interval."""
    ticks = done_at.size
    if ticks == 0:
        return []
    end = ticks * schedule.tick_s
    n = max(1, math.ceil(end / interval_s - 1e-9))
    edges = np.minimum(np.arange(n + 1) * interval_s, end)
    nominal_end = (np.arange(ticks) + 1) * schedule.tick_s
    target_bin = np.clip(np.searchsorted(edges, nominal_end, side="left") - 1, 0, n - 1)
    # A tick done at its nominal end (or within a tick of it) belongs with its nominal bin;
    # a tick done later counts where it actually finished.
    late = done_at - nominal_end > schedule.tick_s
    done_bin = np.where(
        late,
        np.clip(np.searchsorted(edges, done_at, side="left") - 1, 0, n - 1),
        target_bin,
    )
    target = np.bincount(target_bin, weights=schedule.counts[:ticks], minlength=n)
    achieved = np.bincount(done_bin, weights=produced, minlength=n)
    out = []
    for i in range(n):
        width = float(edges[i + 1] - edges[i])
        if width <= 0:
            continue
        out.append(
            IntervalReport(
                start_s=float(edges[i]),
                end_s=float(edges[i + 1]),
                target_events=int(target[i]),
                achieved_events=int(achieved[i]),
                target_eps=float(target[i]) / width,
                achieved_eps=float(achieved[i]) / width,
            )
        )
    return out
