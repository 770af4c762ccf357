"""IoT sensor events: device catalogue, readings with occasional anomalies, JSON lines.

An event is ``{"device_id", "device_type", "event_time", "reading"}``, the format agreed
with the Spark job (``hrl_autoscaler.tools.spark.iot_job``). Each tick's events are a pure function
of (seed, tick index, count, tick start time): ticks can be produced out of order or again
and the stream stays the same, which is what makes a run reproducible with ``--seed``.

Lines are formatted with plain string operations, not ``json.dumps``: the generator shares
the cores with the Spark executors it loads, so its cost per event is part of the
measurement (about a microsecond here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DeviceType:
    """One kind of sensor: normal readings ~ N(mean, std) clipped to [low, high], anomalies
    uniform in ``anomaly`` (a range outside the normal one)."""

    name: str
    unit: str
    mean: float
    std: float
    low: float
    high: float
    anomaly: tuple[float, float]
    decimals: int = 1


DEVICE_TYPES: dict[str, DeviceType] = {
    t.name: t
    for t in (
        # smart hospital: patient monitors
        DeviceType("heart-monitor", "bpm", 75.0, 9.0, 45.0, 120.0, (160.0, 220.0)),
        DeviceType("pulse-oximeter", "%SpO2", 97.0, 1.2, 90.0, 100.0, (70.0, 85.0)),
        DeviceType("blood-pressure", "mmHg", 120.0, 11.0, 90.0, 160.0, (180.0, 230.0)),
        DeviceType("infusion-pump", "ml/h", 60.0, 15.0, 5.0, 150.0, (400.0, 999.0)),
        # smart metering: utility meters (interval consumption)
        DeviceType("electricity-meter", "kWh", 0.35, 0.12, 0.0, 2.0, (8.0, 25.0), 3),
        DeviceType("gas-meter", "m3", 0.12, 0.05, 0.0, 1.0, (4.0, 10.0), 3),
        DeviceType("water-meter", "l", 9.0, 4.0, 0.0, 40.0, (300.0, 900.0)),
        # traffic sensors: roads
        DeviceType("loop-detector", "vehicles/min", 22.0, 8.0, 0.0, 60.0, (120.0, 200.0), 0),
        DeviceType("speed-camera", "km/h", 48.0, 7.0, 5.0, 90.0, (140.0, 220.0)),
        DeviceType("air-quality", "ug/m3 PM2.5", 14.0, 5.0, 1.0, 50.0, (150.0, 400.0)),
        # flash crowd: a stadium or festival
        DeviceType("crowd-counter", "people/min", 40.0, 15.0, 0.0, 150.0, (600.0, 1200.0), 0),
        DeviceType("ticket-gate", "scans/min", 12.0, 5.0, 0.0, 40.0, (120.0, 300.0), 0),
        DeviceType("wristband", "bpm", 95.0, 15.0, 50.0, 170.0, (190.0, 230.0)),
        # steady: building sensors
        DeviceType("thermometer", "C", 21.5, 1.5, 10.0, 35.0, (60.0, 90.0)),
        DeviceType("humidity-sensor", "%RH", 45.0, 8.0, 10.0, 90.0, (99.0, 100.0)),
    )
}

#: Device mix (type -> share) of each scenario; a constant rate or a trace uses every type.
SCENARIO_MIX: dict[str, dict[str, float]] = {
    "smart-hospital": {
        "heart-monitor": 0.4,
        "pulse-oximeter": 0.3,
        "blood-pressure": 0.2,
        "infusion-pump": 0.1,
    },
    "smart-metering": {"electricity-meter": 0.6, "gas-meter": 0.2, "water-meter": 0.2},
    "traffic-sensors": {"loop-detector": 0.5, "speed-camera": 0.3, "air-quality": 0.2},
    "flash-crowd": {"crowd-counter": 0.2, "ticket-gate": 0.3, "wristband": 0.5},
    "steady": {"thermometer": 0.6, "humidity-sensor": 0.4},
}


def device_mix(scenario: str | None) -> dict[str, float]:
    """The device shares for a scenario name; None (a rate or a trace) = all types equally."""
    if scenario is None:
        return {name: 1.0 / len(DEVICE_TYPES) for name in DEVICE_TYPES}
    try:
        return SCENARIO_MIX[scenario]
    except KeyError:
        raise ValueError(
            f"--scenario: no device mix for {scenario!r}; accepted values: "
            f"{', '.join(sorted(SCENARIO_MIX))}"
        ) from None


def _iso_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


class EventFactory:
    """Makes the JSON lines of one tick.

    Devices are assigned a type once (by ``seed``); each tick draws which devices report,
    when (uniform within the tick, sorted), and what they read. A reading is an anomaly with
    probability ``anomaly_rate``.
    """

    def __init__(
        self,
        seed: int,
        devices: int,
        mix: dict[str, float],
        anomaly_rate: float,
    ) -> None:
        if devices < 1:
            raise ValueError(f"--devices must be >= 1, got {devices}")
        if not 0.0 <= anomaly_rate <= 1.0:
            raise ValueError(f"--anomaly-rate must be in [0, 1], got {anomaly_rate}")
        unknown = sorted(set(mix) - set(DEVICE_TYPES))
        if unknown:
            raise ValueError(f"unknown device type(s) {', '.join(unknown)}")
        self.seed = int(seed)
        self.anomaly_rate = float(anomaly_rate)
        self.types: list[DeviceType] = [DEVICE_TYPES[name] for name in mix]
        shares = np.array([mix[t.name] for t in self.types], dtype=float)
        rng = np.random.default_rng([self.seed, 0xDE71CE])
        self.device_type_index: np.ndarray = rng.choice(
            len(self.types), size=devices, p=shares / shares.sum()
        )
        # One JSON prefix per device: '{"device_id": "dev-00042", "device_type": "x", '
        self._prefix: list[str] = [
            f'{{"device_id": "dev-{i:05d}", "device_type": "{self.types[int(ti)].name}", '
            for i, ti in enumerate(self.device_type_index)
        ]
        self._mean = np.array([t.mean for t in self.types])
        self._std = np.array([t.std for t in self.types])
        self._low = np.array([t.low for t in self.types])
        self._high = np.array([t.high for t in self.types])
        self._alow = np.array([t.anomaly[0] for t in self.types])
        self._ahigh = np.array([t.anomaly[1] for t in self.types])
        self._fmt = [f"{{:.{t.decimals}f}}" for t in self.types]
        self._seconds: dict[int, str] = {}

    @property
    def devices(self) -> int:
        return len(self._prefix)

    def draw(
        self, tick: int, count: int, start_epoch_s: float, tick_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Device indices, event times (epoch s), readings and anomaly flags of one tick."""
        rng = np.random.default_rng([self.seed, int(tick)])
        devices = rng.integers(0, self.devices, size=count)
        times = start_epoch_s + np.sort(rng.uniform(0.0, tick_s, size=count))
        ti = self.device_type_index[devices]
        normal = np.clip(rng.normal(self._mean[ti], self._std[ti]), self._low[ti], self._high[ti])
        anomalous = rng.random(count) < self.anomaly_rate
        spikes = rng.uniform(self._alow[ti], self._ahigh[ti])
        readings = np.where(anomalous, spikes, normal)
        return devices, times, readings, anomalous

    def lines(self, tick: int, count: int, start_epoch_s: float, tick_s: float) -> list[str]:
        """The tick's events as JSON lines (no trailing newlines)."""
        if count <= 0:
            return []
        devices, times, readings, _ = self.draw(tick, count, start_epoch_s, tick_s)
        ms_total = np.floor(times * 1000.0).astype(np.int64)
        seconds = (ms_total // 1000).tolist()
        millis = (ms_total % 1000).tolist()
        type_idx = self.device_type_index[devices].tolist()
        cache = self._seconds
        prefix, fmt = self._prefix, self._fmt
        out: list[str] = []
        append = out.append
        for d, s, m, r, t in zip(
            devices.tolist(), seconds, millis, readings.tolist(), type_idx, strict=True
        ):
            iso = cache.get(s)
            if iso is None:
                iso = cache[s] = _iso_second(s)
            append(f'{prefix[d]}"event_time": "{iso}.{m:03d}Z", "reading": {fmt[t].format(r)}}}')
        if len(cache) > 4096:
            cache.clear()
        return out
