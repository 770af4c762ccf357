"""Named IoT workload scenarios: arrival-rate profiles in events per second.

Each scenario is a vectorised function of time, so a whole episode's load is generated at
reset (no per-step random draws) and a seed fixes it completely. Rates are expressed as
fractions of the scenario's peak, then scaled by ``peak_rate_eps``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

DAY_S = 86_400.0

Profile = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    peak_rate_eps: float
    """Default peak arrival rate; the default cluster sustains about 12,700 events/s at 20
    executors, so every default peak is servable with headroom to spare."""
    latency_slo_ms: float
    """Default latency SLO for the ``slo`` objective."""
    profile: Profile
    """Fraction of peak (0..1) at each time in seconds."""


def _smooth_noise(n: int, rng: np.random.Generator, sigma: float, corr: float = 0.9) -> np.ndarray:
    """AR(1) multiplicative noise around 1: sensors drift together, not independently per step."""
    eps = rng.normal(0.0, sigma * np.sqrt(1 - corr**2), size=n)
    walk: np.ndarray = np.asarray(lfilter([1.0], [1.0, -corr], eps), dtype=float)
    noise: np.ndarray = np.exp(walk)
    return noise


def _bursts(
    t: np.ndarray,
    rng: np.random.Generator,
    mean_gap_s: float,
    amplitude: tuple[float, float],
    duration_s: tuple[float, float],
    rise_s: float,
) -> np.ndarray:
    """Sum of bursts at Poisson times: linear rise, plateau, exponential decay."""
    out = np.zeros_like(t)
    if t.size == 0:
        return out
    start, end = float(t[0]), float(t[-1])
    at = start + rng.exponential(mean_gap_s)
    while at < end:
        amp = rng.uniform(*amplitude)
        hold = rng.uniform(*duration_s)
        rel = t - at
        rise = np.clip(rel / rise_s, 0.0, 1.0)
        decay = np.exp(-np.maximum(rel - rise_s - hold, 0.0) / (hold / 2 + 1))
        out += np.where(rel >= 0, amp * rise * decay, 0.0)
        at += rng.exponential(mean_gap_s)
    return out


def _steady(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return 0.55 * _smooth_noise(t.size, rng, 0.04)


def _smart_hospital(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Patient monitors report continuously; alarms (arrhythmia, falls) bring bursts of
    high-frequency waveforms for a few minutes, several times an hour at random."""
    base = 0.3 * (1 + 0.15 * np.sin(2 * np.pi * t / DAY_S))
    alarms = _bursts(
        t, rng, mean_gap_s=1800.0, amplitude=(0.4, 0.7), duration_s=(120, 480), rise_s=30
    )
    noise = _smooth_noise(t.size, rng, 0.05)
    return np.asarray(np.minimum(base + alarms, 1.0) * noise, dtype=float)


def _smart_metering(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smart meters upload every 15 minutes in synchronised waves: a low trickle, then a
    near-peak batch that drains over two or three minutes."""
    phase = np.mod(t, 900.0)
    wave_idx = (t // 900.0).astype(int)
    if wave_idx.size:
        wave_idx -= wave_idx.min()
    wave_amp = rng.uniform(0.85, 1.0, size=int(wave_idx.max(initial=0)) + 1)[wave_idx]
    wave = np.where(phase < 150.0, wave_amp * np.exp(-phase / 120.0), 0.0)
    noise = _smooth_noise(t.size, rng, 0.03)
    return np.asarray(np.maximum(0.1, wave) * noise, dtype=float)


def _traffic_sensors(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Road sensors follow the city: quiet nights, morning and evening rush hours."""
    hour = np.mod(t, DAY_S) / 3600.0
    morning = np.exp(-0.5 * ((hour - 8.0) / 1.2) ** 2)
    evening = np.exp(-0.5 * ((hour - 17.5) / 1.5) ** 2)
    daytime = 0.45 / (1 + np.exp(-(hour - 6.5) * 2)) / (1 + np.exp((hour - 21.0) * 2))
    level = 0.08 + daytime + 0.47 * morning + 0.45 * evening
    noise = _smooth_noise(t.size, rng, 0.05)
    return np.asarray(np.minimum(level, 1.0) * noise, dtype=float)


def _flash_crowd(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A stadium or a festival: steady background, then thousands of devices join within
    two minutes, stay for half an hour and leave slowly."""
    base = 0.2
    crowds = _bursts(
        t, rng, mean_gap_s=4 * 3600.0, amplitude=(0.65, 0.8), duration_s=(900, 2400), rise_s=120
    )
    noise = _smooth_noise(t.size, rng, 0.04)
    return np.asarray(np.minimum(base + crowds, 1.0) * noise, dtype=float)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("steady", "constant load with slow drift", 8000.0, 2000.0, _steady),
        Scenario(
            "smart-hospital",
            "latency-critical monitoring with random alarm bursts",
            9000.0,
            1500.0,
            _smart_hospital,
        ),
        Scenario(
            "smart-metering",
            "periodic batch uploads every 15 minutes, cost matters most",
            11000.0,
            5000.0,
            _smart_metering,
        ),
        Scenario(
            "traffic-sensors", "diurnal load with two rush hours", 10000.0, 2000.0, _traffic_sensors
        ),
        Scenario(
            "flash-crowd", "sudden surge that holds, then decays", 11000.0, 2000.0, _flash_crowd
        ),
    )
}


def scenario(name: str) -> Scenario:
    """Look a scenario up by name, with an error that lists the accepted names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(
            f"unknown scenario {name!r}; accepted values: {', '.join(sorted(SCENARIOS))}"
        ) from None


def load_profile(
    name: str,
    steps: int,
    interval_s: float,
    rng: np.random.Generator,
    peak_rate_eps: float | None = None,
    start_s: float | None = None,
) -> np.ndarray:
    """Arrival rate (events/s) for each of ``steps`` decision intervals.

    ``start_s`` is where in the day the episode begins; None draws it at random, so short
    training episodes see every part of a diurnal cycle.
    """
    sc = scenario(name)
    if start_s is None:
        start_s = float(rng.uniform(0.0, DAY_S))
    t = float(start_s) + np.arange(steps, dtype=float) * interval_s
    peak = sc.peak_rate_eps if peak_rate_eps is None else peak_rate_eps
    if not peak > 0:
        raise ValueError(f"peak rate must be > 0 events/s, got {peak!r}")
    return np.clip(sc.profile(t, rng), 0.0, None) * peak
