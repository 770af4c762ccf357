"""Ineffective scaling: stop adding executors that do not add throughput.

Flink's autoscaler (``scaling.effectiveness.detection.enabled``, ``.threshold`` 0.1) compares,
after a scale-up, the true processing rate gained with the gain it expected, and blocks further
scale-ups of a vertex that gained less than a tenth of it: a job bound by its source partitions,
a shuffle, an external sink or the driver pays for every added executor and gets nothing.

The same here, per application. The measured quantity is the *capacity* (processing rate over
the busy fraction of the running executors, :func:`~.sizing.true_rate_per_executor` times the
running count), not the throughput, so a scale-up followed by a quieter load is not called
ineffective. It is read only in intervals that ran wholly at one executor count (a count that
changed within the interval mixes the old capacity with the new), and after a scale-up only
once the new executors run and the backlog, the latency or the utilisation say they are
needed. The expected capacity is the capacity before times the gain the contention law of the
policy's training parameters gives for the added executors.

A detection blocks scale-ups above the count it was detected at (going back up to it after a
scale-down is allowed: that count was already there) until the input rate moves by more than
``release_load_change`` from where it was: a materially different load may have a different
bottleneck. Scale-downs are never blocked.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.sizing import true_rate_per_executor

#: A backlog above this many seconds of input says the executors are needed (DS2's "small
#: backlog" test in :class:`~.sizing.DS2Sizer`).
BACKLOG_NEEDED_S = 2.0
#: Utilisation above this says the executors are needed (the top of DS2's band).
UTILISATION_NEEDED = 0.85


@dataclass(frozen=True, slots=True)
class EffectivenessSettings:
    enabled: bool = True
    threshold: float = 0.1
    """Flink's ``scaling.effectiveness.threshold``: a scale-up that gained less than this share
    of the capacity it was expected to add is ineffective."""
    samples: int = 3
    """Capacity measurements averaged before and after a scale-up (one sample is noise: GC
    pauses and skew move one interval's capacity by 5-10%)."""
    release_load_change: float = 0.2
    """Scale-ups are allowed again once the input rate moves by more than this share."""
    max_wait_s: float = 600.0
    """A scale-up whose executors are never needed within this time is not judged."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")


@dataclass(frozen=True, slots=True)
class IneffectiveScaling:
    """One ineffective scale-up: what the ``IneffectiveScaling`` event reports."""

    before: int
    after: int
    before_capacity_eps: float
    expected_capacity_eps: float
    observed_capacity_eps: float
    input_rate_eps: float
    """The input rate when detected: a move of ``release_load_change`` from it releases."""
    at_s: float

    @property
    def expected_gain_eps(self) -> float:
        return self.expected_capacity_eps - self.before_capacity_eps

    @property
    def observed_gain_eps(self) -> float:
        return self.observed_capacity_eps - self.before_capacity_eps

    @property
    def effectiveness(self) -> float:
        """Observed over expected gain (Flink's ratio; < threshold = ineffective)."""
        return self.observed_gain_eps / self.expected_gain_eps


@dataclass
class _Judged:
    """A scale-up awaiting its verdict."""

    before: int
    after: int
    before_capacity_eps: float
    since_s: float
    capacities: list[float]
    inputs: list[float]


def contention_gain(before: int, after: int, contention: float) -> float:
    """Capacity at ``after`` over capacity at ``before`` by the universal scalability law."""

    def capacity(n: int) -> float:
        return n / (1.0 + contention * (n - 1))

    return capacity(after) / capacity(before)


def needed(metrics: SystemMetrics, latency_slo_ms: float) -> bool:
    """The load says the executors are needed: a backlog, a latency above the SLO, or busy
    executors (else an unchanged throughput says nothing about the capacity)."""
    return (
        metrics.backlog_events > metrics.input_rate_eps * BACKLOG_NEEDED_S
        or metrics.latency_ms > latency_slo_ms
        or metrics.cpu_utilisation > UTILISATION_NEEDED
    )


class EffectivenessDetector:
    """Judges each scale-up of one application and holds scale-ups after an ineffective one."""

    def __init__(self, settings: EffectivenessSettings, contention: float) -> None:
        self.settings = settings
        self.contention = contention
        self._recent: deque[float] = deque(maxlen=settings.samples)
        self._count: int | None = None
        self._steady = False
        self._judged: _Judged | None = None
        self.blocked: IneffectiveScaling | None = None

    def reconfigure(self, settings: EffectivenessSettings) -> None:
        """New settings keep what was measured; switched off, a block is lifted at once."""
        if settings.samples != self.settings.samples:
            self._recent = deque(self._recent, maxlen=settings.samples)
        self.settings = settings
        if not settings.enabled:
            self.blocked = self._judged = None

    def ceiling(self) -> int | None:
        """The count scale-ups may not exceed while blocked (None when not blocked)."""
        return self.blocked.after if self.blocked is not None else None

    def observe(
        self, metrics: SystemMetrics, latency_slo_ms: float
    ) -> tuple[IneffectiveScaling | None, IneffectiveScaling | None]:
        """Take one interval's metrics; (a new detection, a released block), each or None."""
        if not self.settings.enabled or metrics.restarting:
            self._steady = False
            return None, None
        released = self._release(metrics)
        count, running = metrics.executors, metrics.running_executors
        if count != self._count:
            self._scaled(self._count, count, metrics.time_s)
            self._count = count
        steady = running == count
        capacity = None
        if steady and self._steady:  # a whole interval at this count
            rate = true_rate_per_executor(metrics)
            capacity = None if rate is None else rate * running
        self._steady = steady
        if capacity is not None:
            self._recent.append(capacity)
        return self._judge(metrics, capacity, latency_slo_ms), released

    def _release(self, metrics: SystemMetrics) -> IneffectiveScaling | None:
        blocked = self.blocked
        if blocked is None:
            return None
        change = abs(metrics.input_rate_eps - blocked.input_rate_eps)
        if change <= self.settings.release_load_change * max(blocked.input_rate_eps, 1e-9):
            return None
        self.blocked = None
        return blocked

    def _scaled(self, before: int | None, after: int, now_s: float) -> None:
        """The count changed: a scale-up with a measured 'before' is judged; the measurements
        of the old count no longer describe the application."""
        self._judged = None
        if before is not None and after > before and len(self._recent) == self._recent.maxlen:
            mean = sum(self._recent) / len(self._recent)
            self._judged = _Judged(before, after, mean, now_s, [], [])
        self._recent.clear()
        self._steady = False

    def _judge(
        self, metrics: SystemMetrics, capacity: float | None, latency_slo_ms: float
    ) -> IneffectiveScaling | None:
        judged = self._judged
        if judged is None:
            return None
        if metrics.time_s - judged.since_s > self.settings.max_wait_s:
            self._judged = None
            return None
        if capacity is None or not needed(metrics, latency_slo_ms):
            return None
        judged.capacities.append(capacity)
        judged.inputs.append(metrics.input_rate_eps)
        if len(judged.capacities) < self.settings.samples:
            return None
        self._judged = None
        expected = judged.before_capacity_eps * contention_gain(
            judged.before, judged.after, self.contention
        )
        observed = sum(judged.capacities) / len(judged.capacities)
        gain = observed - judged.before_capacity_eps
        if gain >= self.settings.threshold * (expected - judged.before_capacity_eps):
            return None
        self.blocked = IneffectiveScaling(
            before=judged.before,
            after=judged.after,
            before_capacity_eps=judged.before_capacity_eps,
            expected_capacity_eps=expected,
            observed_capacity_eps=observed,
            input_rate_eps=sum(judged.inputs) / len(judged.inputs),
            at_s=metrics.time_s,
        )
        return self.blocked
