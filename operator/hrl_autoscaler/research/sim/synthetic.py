"""Load shapes the controllers never trained on: the held-out split's workloads.

Training sees the five named scenarios of :mod:`workloads` at jittered peaks. A controller
that only memorised those shapes would look good on them and fail on public real-world traces,
so these generators deliberately differ from them in time scale (compressed or stretched
scenarios), in composition (mixtures of scenarios) and in family (shapes no scenario has:
diurnal with level changes and heavy-tailed spikes, on/off square waves, a random walk with
level shifts, a sawtooth).

Every function is pure numpy, fixed completely by its ``numpy.random.Generator``, and returns
arrival rates in events/s (>= 0), one per decision interval. The synthetic families and the
mixtures are rescaled so that their maximum is exactly ``peak_rate_eps``: the peak is what
decides whether a load is servable, so it is the one number a case states. Time-scaled
scenarios keep the scenario's own meaning of ``peak_rate_eps`` (the profile is a fraction of
it) so that they differ from the scenario in time and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.signal import lfilter

from hrl_autoscaler.research.sim.workloads import DAY_S, scenario

SyntheticFamily = Callable[[int, float, np.random.Generator, float], np.ndarray]
"""(steps, interval_s, rng, peak_rate_eps) -> rates in events/s."""


def _check(steps: int, interval_s: float, peak_rate_eps: float) -> None:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not interval_s > 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s}")
    if not (np.isfinite(peak_rate_eps) and peak_rate_eps > 0):
        raise ValueError(f"peak rate must be a finite number > 0 events/s, got {peak_rate_eps}")


def _to_peak(shape: np.ndarray, peak_rate_eps: float) -> np.ndarray:
    """Clip below at 0 and rescale so the maximum is ``peak_rate_eps`` (flat if all zero)."""
    shape = np.clip(np.nan_to_num(shape, nan=0.0), 0.0, None)
    top = float(shape.max(initial=0.0))
    if top <= 0.0:
        return np.full(shape.size, peak_rate_eps, dtype=float)
    return np.asarray(shape / top * peak_rate_eps, dtype=float)


def _times(steps: int, interval_s: float) -> np.ndarray:
    return np.arange(steps, dtype=float) * interval_s


def time_scaled(
    name: str,
    steps: int,
    interval_s: float,
    rng: np.random.Generator,
    speed: float,
    peak_rate_eps: float | None = None,
) -> np.ndarray:
    """Scenario ``name`` played ``speed`` times faster: its profile evaluated at ``t * speed``.

    ``speed`` 2 compresses time (smart-metering's 15-minute uploads come every 7.5 minutes,
    alarm bursts are half as long and twice as frequent, rush hours are narrower); ``speed``
    0.5 stretches it (30-minute uploads, a day takes two episodes). It models the same kind
    of system run at another tempo: a deployment with another upload schedule or another
    city's rhythm. The episode starts at t = 0 like ``evaluate``'s episodes.
    """
    sc = scenario(name)
    peak = sc.peak_rate_eps if peak_rate_eps is None else peak_rate_eps
    _check(steps, interval_s, peak)
    if not (np.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a finite number > 0, got {speed}")
    fraction = sc.profile(_times(steps, interval_s) * speed, rng)
    return np.asarray(np.clip(fraction, 0.0, None) * peak, dtype=float)


def mixture(
    names: Sequence[str],
    steps: int,
    interval_s: float,
    rng: np.random.Generator,
    peak_rate_eps: float,
    concentration: float = 1.0,
) -> np.ndarray:
    """A convex combination of scenario profiles with Dirichlet(``concentration``) weights.

    Models a pipeline that ingests several device populations at once (meters and traffic
    sensors of one city on one topic): the shapes overlap, so neither scenario's rhythm is
    clean. Rescaled so that the maximum is ``peak_rate_eps``.
    """
    _check(steps, interval_s, peak_rate_eps)
    if not 2 <= len(names) <= 3:
        raise ValueError(f"a mixture takes 2 or 3 scenarios, got {len(names)}")
    weights = rng.dirichlet(np.full(len(names), concentration))
    t = _times(steps, interval_s)
    combo = np.zeros(steps)
    for w, n in zip(weights, names, strict=True):
        combo += w * np.clip(scenario(n).profile(t, rng), 0.0, None)
    return _to_peak(combo, peak_rate_eps)


def diurnal_spiky(
    steps: int, interval_s: float, rng: np.random.Generator, peak_rate_eps: float
) -> np.ndarray:
    """Diurnal traffic with level changes and heavy-tailed spikes.

    Models web and API request traces (Wikipedia page views, cloud function invocations): a
    day-night wave at a random phase, a level that changes a few times per episode (a weekday
    turning into a weekend, a release, a region failing over; a week compressed into the
    episode) and short spikes whose sizes follow a Pareto law, so most are small and a few
    dwarf the daily wave.
    """
    _check(steps, interval_s, peak_rate_eps)
    t = _times(steps, interval_s)
    wave = 0.55 + 0.35 * np.sin(2 * np.pi * (t / DAY_S + rng.uniform()))
    changes = np.sort(rng.uniform(0, t[-1] + interval_s, size=rng.integers(2, 6)))
    levels = rng.uniform(0.6, 1.2, size=changes.size + 1)
    level = levels[np.searchsorted(changes, t)]
    spikes = np.zeros(steps)
    for at in np.flatnonzero(rng.random(steps) < interval_s / 3600.0):  # ~1 per hour
        size = 0.15 * (rng.pareto(1.5) + 1.0)
        decay = np.exp(-(t[at:] - t[at]) / rng.uniform(60.0, 600.0))
        spikes[at:] += size * decay
    noise = np.exp(rng.normal(0.0, 0.04, size=steps))
    return _to_peak((wave * level + np.minimum(spikes, 0.8)) * noise, peak_rate_eps)


def on_off(
    steps: int, interval_s: float, rng: np.random.Generator, peak_rate_eps: float
) -> np.ndarray:
    """A square wave with random on and off durations and random on levels.

    Models batch jobs and devices that report in sessions (a fleet that uploads while
    charging, a backfill that runs, stops, and runs again): load jumps between a low floor
    and a high plateau with no warning and no regular period (each phase lasts 2-60 min).
    """
    _check(steps, interval_s, peak_rate_eps)
    out = np.empty(steps)
    i, on = 0, bool(rng.integers(2))
    while i < steps:
        length = max(1, round(rng.uniform(120.0, 3600.0) / interval_s))
        out[i : i + length] = rng.uniform(0.6, 1.0) if on else rng.uniform(0.03, 0.15)
        i += length
        on = not on
    noise = np.exp(rng.normal(0.0, 0.03, size=steps))
    return _to_peak(out * noise, peak_rate_eps)


def random_walk(
    steps: int, interval_s: float, rng: np.random.Generator, peak_rate_eps: float
) -> np.ndarray:
    """A mean-reverting random walk in log space with occasional level shifts.

    Models traces without a schedule (message queues of a marketplace, telemetry of a
    growing fleet): the load drifts, sometimes steps to a new level and stays there, and no
    period helps to predict it.
    """
    _check(steps, interval_s, peak_rate_eps)
    shocks = rng.normal(0.0, 0.03, size=steps)
    shifts = np.where(rng.random(steps) < interval_s / 5400.0, rng.normal(0.0, 0.5, steps), 0.0)
    walk = np.asarray(lfilter([1.0], [1.0, -0.998], shocks + shifts), dtype=float)
    return _to_peak(np.exp(np.clip(walk, -2.5, 2.5)), peak_rate_eps)


def sawtooth(
    steps: int, interval_s: float, rng: np.random.Generator, peak_rate_eps: float
) -> np.ndarray:
    """Ramps that build up and drop at once, with random periods (20-90 min).

    Models loads that accumulate and are then drained or reset (a cron-driven export that
    grows until it is cut, a backlog replayed after each outage, log rotation): a steady
    climb a reactive scaler follows one step late, then a cliff where it over-provisions.
    """
    _check(steps, interval_s, peak_rate_eps)
    out = np.empty(steps)
    i = 0
    while i < steps:
        length = max(2, round(rng.uniform(1200.0, 5400.0) / interval_s))
        low, high = rng.uniform(0.05, 0.25), rng.uniform(0.7, 1.0)
        out[i : i + length] = np.linspace(low, high, length)[: steps - i]
        i += length
    noise = np.exp(rng.normal(0.0, 0.03, size=steps))
    return _to_peak(out * noise, peak_rate_eps)


FAMILIES: dict[str, SyntheticFamily] = {
    "diurnal-spiky": diurnal_spiky,
    "on-off": on_off,
    "random-walk": random_walk,
    "sawtooth": sawtooth,
}
"""The synthetic trace families by name, as the held-out suite refers to them."""


def family(name: str) -> SyntheticFamily:
    """Look a family up by name, with an error that lists the accepted names."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown synthetic family {name!r}; accepted values: {', '.join(sorted(FAMILIES))}"
        ) from None
