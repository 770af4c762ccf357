"""The PPO executor policy in numpy: observation -> executor count, with no torch at runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrl_autoscaler.runtime.core.observation import OBS_SCHEMA_VERSION, OBS_SIZE
from hrl_autoscaler.runtime.policies.artifacts import (
    PolicyError,
    check_network,
    load_artifact,
    scalar,
)

KIND = "ppo-executor-policy"
#: ``Discrete(20)``: executors min_executors .. min_executors + 19.
ACTIONS = 20
LAYERS = ("pi0", "pi1", "action")
REQUIRED = (
    "obs_mean",
    "obs_var",
    "clip_obs",
    "epsilon",
    *(f"{n}_{p}" for n in LAYERS for p in ("w", "b")),
)


class NumpyPPOPolicy:
    """Deterministic PPO actor: normalise (VecNormalize statistics), two tanh layers, argmax.

    ``min_executors`` is what action 0 means (the action space is ``Discrete(20)`` -> 1..20).
    """

    def __init__(
        self, arrays: dict[str, np.ndarray], min_executors: int = 1, directory: Path | None = None
    ) -> None:
        self.directory = directory
        self.min_executors = min_executors
        self.mean = arrays["obs_mean"]
        var = arrays["obs_var"]
        for name, stat in (("obs_mean", self.mean), ("obs_var", var)):
            if stat.shape != (OBS_SIZE,) or not np.isfinite(stat).all():
                raise PolicyError(
                    f"{directory}: {name} must be {OBS_SIZE} finite numbers (the runtime's "
                    f"observation), got shape {stat.shape}"
                )
        if (var < 0).any():
            raise PolicyError(f"{directory}: obs_var has negative variances")
        spread = var + scalar(directory, arrays, "epsilon")
        if not (spread > 0).all():
            raise PolicyError(f"{directory}: obs_var + epsilon must be > 0 everywhere")
        self.std = np.sqrt(spread)
        self.clip = scalar(directory, arrays, "clip_obs")
        self.layers = [(arrays[f"{n}_w"], arrays[f"{n}_b"]) for n in LAYERS]
        check_network(directory, self.layers, OBS_SIZE, ACTIONS)

    @classmethod
    def load(cls, directory: Path) -> NumpyPPOPolicy:
        meta, arrays = load_artifact(directory, KIND, OBS_SCHEMA_VERSION, REQUIRED)
        action = meta.get("action", {})
        low = action.get("min_executors", 1) if isinstance(action, dict) else None
        if type(low) is not int or low < 1:
            raise PolicyError(
                f"{directory}: metadata action.min_executors must be an integer >= 1, got {low!r}"
            )
        return cls(arrays, low, directory)

    def logits(self, obs: np.ndarray) -> np.ndarray:
        """Action logits for one observation (shape (9,)) or a batch (shape (n, 9))."""
        x = np.clip(
            (np.asarray(obs, dtype=np.float64) - self.mean) / self.std, -self.clip, self.clip
        )
        (w0, b0), (w1, b1), (w2, b2) = self.layers
        h = np.tanh(x @ w0.T + b0)
        h = np.tanh(h @ w1.T + b1)
        out: np.ndarray = h @ w2.T + b2
        return out

    def action(self, obs: np.ndarray) -> int:
        """The greedy action index (0..19).

        Finite weights can still overflow on an extreme observation; argmax over NaN would pick
        an arbitrary count, so that is an error the caller isolates (one application's step).
        """
        with np.errstate(over="ignore", invalid="ignore"):
            logits = self.logits(obs)
        if not np.isfinite(logits).all():
            raise PolicyError(f"{self.directory}: the network's output is not finite here")
        return int(np.argmax(logits))

    def executors(self, obs: np.ndarray) -> int:
        return self.action(obs) + self.min_executors
