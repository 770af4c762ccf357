"""What both trainers share: learning curve, timing, numpy export and the metadata record."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from hrl_autoscaler.config import SimParams

LIBRARIES = ("numpy", "torch", "stable-baselines3", "gymnasium", "spark-hrl-autoscaler")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def command_line() -> str:
    return " ".join(["hrl-autoscaler", *sys.argv[1:]]) if sys.argv else ""


class LearningCurve(BaseCallback):
    """Records the mean return of finished episodes against timesteps (from Monitor infos)."""

    def __init__(self, window: int = 20) -> None:
        super().__init__(verbose=0)
        self.window = window
        self.timesteps: list[int] = []
        self.returns: list[float] = []
        self._recent: list[float] = []

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            episode = info.get("episode")
            if episode is not None:
                self._recent.append(float(episode["r"]))
                self._recent = self._recent[-self.window :]
                self.timesteps.append(int(self.num_timesteps))
                self.returns.append(sum(self._recent) / len(self._recent))
        return True

    def to_json(self) -> dict[str, Any]:
        return {"timesteps": self.timesteps, "mean_return": self.returns, "window": self.window}


def plot_curve(curve: LearningCurve, title: str, ylabel: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(curve.timesteps, curve.returns, lw=1.4)
    ax.set_title(title)
    ax.set_xlabel("timesteps")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    path.with_suffix(".json").write_text(json.dumps(curve.to_json()) + "\n", encoding="utf-8")


def numpy_state(model: BaseAlgorithm) -> dict[str, np.ndarray]:
    """The policy's parameters as numpy arrays, keyed as in its torch state dict."""
    return {k: v.detach().cpu().numpy() for k, v in model.policy.state_dict().items()}


def linear_layers(state: dict[str, np.ndarray], layers: dict[str, str]) -> dict[str, Any]:
    """``{name}_w``/``{name}_b`` for each runtime layer name, from the torch module prefix that
    holds its ``weight`` and ``bias`` (the names the numpy runtimes load)."""
    arrays: dict[str, Any] = {}
    for name, prefix in layers.items():
        arrays[f"{name}_w"] = state[f"{prefix}.weight"]
        arrays[f"{name}_b"] = state[f"{prefix}.bias"]
    return arrays


def learn(model: BaseAlgorithm, timesteps: int, curve: LearningCurve, progress_bar: bool) -> float:
    """Train and return the wall-clock seconds it took."""
    started = time.perf_counter()
    model.learn(total_timesteps=timesteps, callback=curve, progress_bar=progress_bar)
    return time.perf_counter() - started


def observation_schema(fields: Sequence[tuple[str, float, float, str]]) -> dict[str, Any]:
    return {
        "names": [f[0] for f in fields],
        "low": [f[1] for f in fields],
        "high": [f[2] for f in fields],
    }


def training_record(
    algorithm: str, config: Any, params: SimParams, seconds: float, curve: LearningCurve
) -> dict[str, Any]:
    """What metadata.json says about how an artifact was made."""
    return {
        "command": command_line(),
        "algorithm": algorithm,
        "config": asdict(config),
        "sim_params": params.to_dict(),
        "seconds": round(seconds, 1),
        "timesteps": config.timesteps,
        "final_mean_return": curve.returns[-1] if curve.returns else None,
    }
