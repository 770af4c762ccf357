"""What both trainers share: the learning-curve recorder, the plot and library versions."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from stable_baselines3.common.callbacks import BaseCallback

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
