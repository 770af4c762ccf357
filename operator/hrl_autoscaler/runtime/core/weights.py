"""Reward weights (alpha = cost, beta = latency, gamma = throughput): the PPO policy's context."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Weights:
    """Non-negative weights normalised to sum to 1.

    Normalising keeps the context on the 2-simplex the policy was trained on: (0.9, 0.1, 0.0)
    and (9, 1, 0) mean the same trade-off, so they must give the same observation.
    """

    alpha: float
    beta: float
    gamma: float

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"weight {name}={value!r} must be a finite number >= 0")
        if self.alpha + self.beta + self.gamma <= 0:
            raise ValueError("weights alpha, beta, gamma must not all be 0")

    @classmethod
    def of(cls, alpha: float, beta: float, gamma: float) -> Weights:
        """Build normalised weights from any finite non-negative triple.

        Divided by the largest first, so huge weights (three of 1e308 sum to inf) keep their
        ratios instead of normalising to 0/0.
        """
        values = (float(alpha), float(beta), float(gamma))
        for name, value in zip(("alpha", "beta", "gamma"), values, strict=True):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"weight {name}={value!r} must be a finite number >= 0")
        largest = max(values)
        if not largest > 0:
            raise ValueError("weights alpha, beta, gamma must not all be 0")
        a, b, g = (v / largest for v in values)
        total = a + b + g
        return cls(a / total, b / total, g / total)

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.alpha, self.beta, self.gamma)

    def __str__(self) -> str:
        return f"alpha={self.alpha:.2f} beta={self.beta:.2f} gamma={self.gamma:.2f}"


#: Named weight policies a user can write in the ``weight-policy`` annotation.
PRESETS: dict[str, Weights] = {
    "balanced": Weights.of(1, 1, 1),
    "latency-first": Weights.of(0.05, 0.9, 0.05),
    "cost-first": Weights.of(0.9, 0.05, 0.05),
    "throughput-first": Weights.of(0.05, 0.15, 0.8),
}

#: The seed's fixed baseline (0.33 each).
FIXED_BASELINE = PRESETS["balanced"]


def sample_weights(rng: np.random.Generator, preset_probability: float = 0.25) -> Weights:
    """Draw a training context: sometimes a named preset, otherwise uniform on the simplex.

    The presets sit near the corners where Dirichlet(1, 1, 1) rarely goes; mixing them in
    makes sure the policy has seen the contexts users will actually write.
    """
    if rng.random() < preset_probability:
        names = sorted(PRESETS)
        return PRESETS[names[int(rng.integers(len(names)))]]
    a, b, g = rng.dirichlet((1.0, 1.0, 1.0))
    return Weights.of(float(a), float(b), float(g))
