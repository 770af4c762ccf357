"""What a calibration run measures (:class:`CalibrationPlan`, defaults from
``config.CALIBRATION``) and the per-executor rates it offers."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hrl_autoscaler.config import CALIBRATION, LOADGEN


@dataclass(frozen=True)
class KubernetesTarget:
    """Run the executors as pods on a Kubernetes node (Spark's client mode) instead of on a
    standalone worker: the cluster of ``kubeconfig``, our Spark image ``image``."""

    kubeconfig: Path
    image: str
    namespace: str = "hrl-calibration"


@dataclass(frozen=True)
class CalibrationPlan:
    """What to measure (defaults from ``config.CALIBRATION``)."""

    work_dir: Path
    executors: tuple[int, ...] = CALIBRATION.executors
    start_rate_eps: float = CALIBRATION.start_rate_eps
    max_rate_eps: float = CALIBRATION.max_rate_eps
    rates_eps: tuple[float, ...] | None = None
    """Explicit per-executor rates instead of doubling (the spark test uses two)."""
    refine: int = CALIBRATION.refine
    step_s: float = CALIBRATION.step_s
    warmup_s: float = CALIBRATION.warmup_s
    trigger_s: float = CALIBRATION.trigger_s
    tick_s: float = CALIBRATION.tick_s
    seed: int = LOADGEN.seed
    executor_memory: str = CALIBRATION.executor_memory
    executor_cores: int = CALIBRATION.executor_cores
    scale_repeats: int = CALIBRATION.scale_repeats
    scale_timeout_s: float = CALIBRATION.scale_timeout_s
    drain_timeout_s: float = CALIBRATION.drain_timeout_s
    saturation_ratio: float = CALIBRATION.saturation_ratio
    max_foreign_cores: float = CALIBRATION.max_foreign_cores
    contention_retries: int = CALIBRATION.contention_retries
    work_factor: int | None = None
    """CPU work per event of the IoT job; None = the job's default."""
    kubernetes: KubernetesTarget | None = None
    """None: a throwaway standalone cluster on this machine; else executor pods there."""

    def __post_init__(self) -> None:
        if not self.executors or min(self.executors) < 1:
            raise ValueError(f"--executors must be counts >= 1, got {self.executors}")
        for name in ("start_rate_eps", "max_rate_eps", "step_s", "trigger_s", "tick_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.rates_eps is not None and (not self.rates_eps or min(self.rates_eps) <= 0):
            raise ValueError(f"--rates must be positive events/s, got {self.rates_eps}")
        if not 0 <= self.warmup_s < self.step_s:
            raise ValueError(
                f"--warmup ({self.warmup_s} s) must be >= 0 and shorter than --step "
                f"({self.step_s} s)"
            )
        if self.max_rate_eps < self.start_rate_eps:
            raise ValueError(
                f"--max-rate ({self.max_rate_eps}) is below --start-rate ({self.start_rate_eps})"
            )


def _rates(plan: CalibrationPlan) -> Iterator[float]:
    """Per-executor rates: the explicit list, else doubling up to ``max_rate_eps``."""
    if plan.rates_eps is not None:
        yield from plan.rates_eps
        return
    rate = plan.start_rate_eps
    while rate <= plan.max_rate_eps * (1 + 1e-9):
        yield rate
        rate *= 2


__all__ = ["CalibrationPlan", "KubernetesTarget"]
