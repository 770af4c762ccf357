"""How many events each tick carries: a constant rate, a simulator scenario, or a trace.

The scenario and trace shapes are the simulator's own (``sim.workloads.load_profile``,
``sim.traces.load_trace``), sampled once per tick, so the load a real Spark job sees is the
load the policies were trained and evaluated on. ``speed`` compresses time (simulated
seconds per wall second), not volume: a day of smart-hospital load at ``speed`` 1440 plays in
a minute, at the same events per second.

Counts per tick are integers whose running sum follows the integral of the rate (the
fractional remainder carries over), so a rate of 0.3 events/s still produces 3 events in
10 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrl_autoscaler.research.sim.traces import load_trace
from hrl_autoscaler.research.sim.workloads import load_profile, scenario


@dataclass(frozen=True)
class Schedule:
    """Target rate (events per wall second) of each tick, and the integer count per tick."""

    source: str
    """``rate``, ``scenario:<name>`` or ``trace:<path>``: what the rates came from."""
    tick_s: float
    rates_eps: np.ndarray
    counts: np.ndarray
    scenario: str | None = None

    @property
    def ticks(self) -> int:
        return int(self.rates_eps.size)

    @property
    def duration_s(self) -> float:
        return self.ticks * self.tick_s

    @property
    def total_events(self) -> int:
        return int(self.counts.sum())


def integer_counts(rates_eps: np.ndarray, tick_s: float) -> np.ndarray:
    """Events per tick: the floor of the cumulative expected count, differenced.

    Sum over any prefix of ticks differs from the integral of the rate by less than one event.
    """
    cumulative = np.floor(np.cumsum(np.asarray(rates_eps, dtype=float) * tick_s) + 1e-9)
    return np.diff(np.concatenate(([0.0], cumulative))).astype(np.int64)


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _n_ticks(duration_s: float, tick_s: float) -> int:
    return max(1, math.ceil(duration_s / tick_s - 1e-9))


def constant_schedule(rate_eps: float, duration_s: float, tick_s: float) -> Schedule:
    """The same rate for ``duration_s`` wall seconds (``--rate``)."""
    _check_positive("--rate", rate_eps)
    _check_positive("--duration", duration_s)
    _check_positive("--tick", tick_s)
    rates = np.full(_n_ticks(duration_s, tick_s), float(rate_eps))
    return Schedule("rate", tick_s, rates, integer_counts(rates, tick_s))


def scenario_schedule(
    name: str,
    duration_s: float,
    tick_s: float,
    *,
    seed: int,
    speed: float = 1.0,
    peak_rate_eps: float | None = None,
    start_s: float = 0.0,
) -> Schedule:
    """A simulator scenario (``--scenario``): tick k carries the profile's rate at simulated
    time ``start_s + k * tick_s * speed``, scaled so the profile's peak is ``peak_rate_eps``
    (the scenario's own peak when None)."""
    scenario(name)  # a clear error listing the accepted names
    _check_positive("--duration", duration_s)
    _check_positive("--tick", tick_s)
    _check_positive("--speed", speed)
    if peak_rate_eps is not None:
        _check_positive("--peak-rate", peak_rate_eps)
    if not math.isfinite(start_s) or start_s < 0:
        raise ValueError(f"--start-at must be a finite number >= 0 s, got {start_s!r}")
    rng = np.random.default_rng([int(seed), 0x5CE7])
    rates = load_profile(
        name, _n_ticks(duration_s, tick_s), tick_s * speed, rng, peak_rate_eps, start_s=start_s
    )
    return Schedule(f"scenario:{name}", tick_s, rates, integer_counts(rates, tick_s), name)


def trace_schedule(
    path: Path,
    tick_s: float,
    *,
    speed: float = 1.0,
    peak_rate_eps: float | None = None,
    duration_s: float | None = None,
) -> Schedule:
    """A CSV trace (``--trace``, header ``timestamp,value``) replayed ``speed`` times faster,
    at its own rates or scaled so its peak is ``peak_rate_eps``. Without ``duration_s`` it
    plays once (trace length / speed); a longer duration repeats it."""
    _check_positive("--tick", tick_s)
    _check_positive("--speed", speed)
    if peak_rate_eps is not None:
        _check_positive("--peak-rate", peak_rate_eps)
    rates = load_trace(path, tick_s * speed, peak_rate_eps)
    if duration_s is not None:
        _check_positive("--duration", duration_s)
        rates = np.resize(rates, _n_ticks(duration_s, tick_s))
    return Schedule(f"trace:{path}", tick_s, rates, integer_counts(rates, tick_s))
