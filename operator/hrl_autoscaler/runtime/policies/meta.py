"""The TD3 meta-controller's actor in numpy: window statistics -> reward weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrl_autoscaler.runtime.core.meta import META_SCHEMA_VERSION, META_SIZE, action_to_weights
from hrl_autoscaler.runtime.core.weights import Weights
from hrl_autoscaler.runtime.policies.artifacts import PolicyError, check_network, load_artifact

KIND = "td3-meta-controller"
REQUIRED = ("mu0_w", "mu0_b", "mu1_w", "mu1_b", "mu2_w", "mu2_b")


class NumpyMetaActor:
    """TD3's deterministic actor: two ReLU layers and a tanh output in [-1, 1]^3."""

    def __init__(
        self, arrays: dict[str, np.ndarray], objective: str, directory: Path | None = None
    ) -> None:
        self.directory = directory
        self.objective = objective
        self.layers = [(arrays[f"mu{i}_w"], arrays[f"mu{i}_b"]) for i in range(3)]
        # three outputs: the (alpha, beta, gamma) reward weights
        check_network(directory, self.layers, META_SIZE, 3)

    @classmethod
    def load(cls, directory: Path) -> NumpyMetaActor:
        meta, arrays = load_artifact(directory, KIND, META_SCHEMA_VERSION, REQUIRED)
        return cls(arrays, str(meta.get("objective", "")), directory)

    def action(self, obs: np.ndarray) -> np.ndarray:
        (w0, b0), (w1, b1), (w2, b2) = self.layers
        h = np.maximum(np.asarray(obs, dtype=np.float64) @ w0.T + b0, 0.0)
        h = np.maximum(h @ w1.T + b1, 0.0)
        out: np.ndarray = np.tanh(h @ w2.T + b2)
        return out

    def weights(self, obs: np.ndarray) -> Weights:
        """The reward weights; a non-finite output (an overflow) is an error, not NaN weights."""
        with np.errstate(over="ignore", invalid="ignore"):
            action = self.action(obs)
        if not np.isfinite(action).all():
            raise PolicyError(f"{self.directory}: the actor's output is not finite here")
        return action_to_weights(action)
