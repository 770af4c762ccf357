"""The demo's three applications: different workloads, weight policies and actuation paths.

- ``smart-hospital``: alarm bursts (seed 7 puts one ~20 simulated minutes in), latency-first
  weights, in-place scaling: the latency SLO (1.5 s) is what matters.
- ``smart-metering``: synchronised uploads every 15 minutes, balanced weights, restart
  actuation: every change restarts the application, so the restart hold shows (one restart to
  what the first upload needs, then held: no scale-down before an hour was seen). (Under the
  ``cost-first`` preset the trained policy holds 1 executor whatever the backlog - optimal for
  a reward that is 90% cost - which makes a poor demonstration of scaling.)
- ``traffic-sensors``: a working day (morning rush, day, evening rush) compressed into the demo,
  driven through the emulator's rate annotation, with the meta-controller retuning its weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hrl_autoscaler.research.sim.workloads import SCENARIOS

TRAFFIC_PEAK_EPS = 10_000.0
TRAFFIC_DAY_S = (6.0 * 3600, 20.0 * 3600)
"""06:00 to 20:00: both rush hours and the day between them."""


@dataclass(frozen=True)
class DemoApp:
    name: str
    scenario: str
    weight_policy: str
    actuation: str
    executors: int
    settings: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    driven: bool = False
    """True when the demo sets the rate itself (the emulator's constant-rate annotation)."""

    @property
    def latency_slo_ms(self) -> float:
        return SCENARIOS[self.scenario].latency_slo_ms

    def annotations(self) -> dict[str, str]:
        return {
            "weight-policy": self.weight_policy,
            "actuation": self.actuation,
            "latency-slo-ms": f"{self.latency_slo_ms:g}",
            **self.settings,
        }


DEMO_APPS = (
    DemoApp("smart-hospital", "smart-hospital", "latency-first", "in-place", 3, seed=7),
    DemoApp("smart-metering", "smart-metering", "balanced", "restart", 4, seed=3),
    DemoApp("traffic-sensors", "traffic-sensors", "meta", "in-place", 2, driven=True),
)


def traffic_rate(progress: float, rng: np.random.Generator | None = None) -> float:
    """Events/s of the compressed traffic day at ``progress`` (0..1 of the demo)."""
    start, end = TRAFFIC_DAY_S
    t = np.array([start + min(max(progress, 0.0), 1.0) * (end - start)])
    profile = SCENARIOS["traffic-sensors"].profile
    level = float(profile(t, rng or np.random.default_rng(0))[0])
    return round(max(level, 0.02) * TRAFFIC_PEAK_EPS, -1)
