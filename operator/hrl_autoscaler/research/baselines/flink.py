"""The Flink Kubernetes Operator autoscaler's policy (release 1.15, May 2026) on one Spark job.

Flink's autoscaler (``job.autoscaler.*``) sizes each job vertex with DS2; a Spark streaming
application is one vertex here, its parallelism the executor count. Every decision:

1. **Collect.** After a rescale (and at the start of the run) metrics are ignored for the
   stabilisation interval; then one sample per decision is kept for ``metrics.window``. Until
   the window is full nothing is decided.
2. **Evaluate** over the window: the average input rate (``TARGET_DATA_RATE``), the average true
   processing rate (rate / busy fraction, ``TRUE_PROCESSING_RATE``) and the latest lag.
   The job is *processing backlog* when lag / input rate exceeds the lag threshold.
3. **Band.** No change while ``SCALE_DOWN_RATE_THRESHOLD >= true rate >= SCALE_UP_RATE_THRESHOLD``:
   up = catch-up rate + input / ``utilization.max`` (1.0 while processing backlog);
   down = catch-up rate + restart rate + input / ``utilization.min`` (infinite, i.e. no
   scale-down, while processing backlog).
4. **Size.** scale factor = (lag / ``catch-up.duration`` + input x ``restart.time`` /
   ``catch-up.duration`` + input / ``utilization.target``) / true rate, capped to
   [1 - ``scale-down.max-factor``, 1 + ``scale-up.max-factor``]; new = ceil(current x factor)
   within the context's bounds.
5. **Scale up** at once, unless ineffective-scaling detection is on and the previous scale-up
   to the current count reached less than ``scaling.effectiveness.threshold`` of its expected
   processing-rate gain (Flink's ``IneffectiveScaling``): then hold, until the check passes,
   or the load moves by ``load_change`` from where the block began (ours, see
   :class:`FlinkSettings`).
6. **Scale down** only after ``scale-down.interval`` of consecutive scale-down proposals, to the
   highest proposal of the last interval (FLINK-36018's "scale down to the window's maximum").
   A proposal in the band or upwards clears the pending scale-down, as a rescale does.

Flink always rescales by restarting, so it always adds the restart term, whatever the
simulator's actuation. Not modelled: memory tuning and pressure gates, quotas, excluded
periods, key-group alignment, observed-scalability regression (off by default) and restart-time
tracking (off by default, so the fixed ``restart.time`` is what Flink uses).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from hrl_autoscaler.runtime.core.controller import ControlContext
from hrl_autoscaler.runtime.core.metrics import SystemMetrics
from hrl_autoscaler.runtime.core.weights import Weights


@dataclass(frozen=True, slots=True)
class FlinkSettings:
    """The ``job.autoscaler.*`` options this policy reads, with Flink Kubernetes Operator 1.15's
    defaults (durations in seconds). The keys and defaults are those of the project's
    PEERS.md notes on 1.15; the two it does not state (``scale-up.max-factor`` and
    ``scaling.effectiveness.detection.enabled``) are taken from the operator's generated
    configuration reference of an earlier release and may have changed since."""

    target_utilisation: float = 0.7
    """``utilization.target`` (0.7): the busy fraction a vertex is sized for."""
    utilisation_min: float = 0.4
    """``utilization.min`` (target - 0.3 = 0.4): scale down only below it."""
    utilisation_max: float = 1.0
    """``utilization.max`` (target + 0.3 = 1.0): scale up only above it."""
    metrics_window_s: float = 900.0
    """``metrics.window`` (15 min): metrics are averaged over it; no decision before it fills."""
    stabilisation_s: float = 300.0
    """``stabilization.interval`` (5 min): metrics are ignored this long after a rescale."""
    catch_up_s: float = 1800.0
    """``catch-up.duration`` (30 min): the backlog must be processed within it."""
    backlog_lag_threshold_s: float = 300.0
    """``backlog-processing.lag-threshold`` (5 min): lag worth more than this much input means
    the job is processing backlog (scale up to utilisation 1.0, no scale-down)."""
    restart_time_s: float = 300.0
    """``restart.time`` (5 min): the input that queues during the rescale's restart is added to
    the demand, caught up within ``catch-up.duration``."""
    scale_down_interval_s: float = 3600.0
    """``scale-down.interval`` (1 h): scale-downs wait this long and take the interval's maximum."""
    scale_down_max_factor: float = 0.6
    """``scale-down.max-factor`` (0.6): one scale-down keeps at least 40% of the parallelism."""
    scale_up_max_factor: float = 100000.0
    """``scale-up.max-factor`` (100000.0, i.e. no limit): one scale-up at most x(1 + this)."""
    effectiveness_detection: bool = False
    """``scaling.effectiveness.detection.enabled`` (false): block scale-ups after an ineffective
    one (Flink only reports ``IneffectiveScaling`` by default)."""
    effectiveness_threshold: float = 0.1
    """``scaling.effectiveness.threshold`` (0.1): a scale-up that reached less than this share of
    its expected processing-rate gain was ineffective."""
    load_change: float = 0.2
    """Not a Flink key: relative change of the window's input rate that lifts a block. Flink
    keeps the block while its scaling history holds the ineffective scale-up (up to
    ``history.max.age``, a day), which would freeze a simulated day on one bad measurement."""


@dataclass(frozen=True, slots=True)
class _ScaleUp:
    """What Flink's scaling history keeps of the last scale-up, for effectiveness detection."""

    executors: int
    true_rate_eps: float
    expected_rate_eps: float
    input_rate_eps: float


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    """The window's evaluated metrics (Flink's ``ScalingMetric`` names)."""

    input_rate_eps: float
    """``TARGET_DATA_RATE``: the average arrival rate."""
    true_rate_eps: float
    """``TRUE_PROCESSING_RATE``: the average of processing rate / busy fraction, whole job."""
    lag_events: float
    """``LAG``: the latest backlog."""


def true_processing_rate(metrics: SystemMetrics) -> float | None:
    """Events/s the running executors would process fully busy (Flink's busy-time estimate), or
    None when nothing was processed. Unlike the operator's noise-guarded estimate, any busy
    fraction counts: Flink treats an idle vertex as free capacity, not a missing metric."""
    if metrics.restarting or metrics.running_executors == 0:
        return None
    if metrics.processing_rate_eps <= 0.0 or metrics.cpu_utilisation <= 0.0:
        return None
    return metrics.processing_rate_eps / metrics.cpu_utilisation


class FlinkAutoscalerController:
    """The Flink Kubernetes Operator 1.15 autoscaler with its defaults (see the module)."""

    name = "flink"

    def __init__(self, settings: FlinkSettings | None = None) -> None:
        self.settings = settings or FlinkSettings()
        self._ctx: ControlContext | None = None
        self._samples: deque[tuple[float, SystemMetrics]] = deque()
        self._collecting_since_s: float | None = None
        self._job_update_s = 0.0
        self._down_first_s: float | None = None
        self._down_proposals: deque[tuple[float, int]] = deque()
        self._last_up: _ScaleUp | None = None
        self._blocked_at_input: float | None = None
        self.ineffective_scalings = 0
        """How many times a scale-up was found ineffective (Flink's ``IneffectiveScaling``)."""

    def reset(self, ctx: ControlContext) -> None:
        self._ctx = ctx
        self._samples.clear()
        self._collecting_since_s = None
        self._job_update_s = 0.0  # the job starts with the run: it stabilises first
        self._down_first_s = None
        self._down_proposals.clear()
        self._last_up = None
        self._blocked_at_input = None
        self.ineffective_scalings = 0

    # -- collect -------------------------------------------------------------------------

    def _collect(self, metrics: SystemMetrics) -> WindowMetrics | None:
        """Add the sample; the window's evaluation once it is full, else None."""
        assert self._ctx is not None
        now, dt = metrics.time_s, self._ctx.decision_interval_s
        if metrics.restarting or metrics.running_executors == 0:
            self._job_update_s = now  # the job is not running: it stabilises once it is back
            return None
        if now - dt < self._job_update_s + self.settings.stabilisation_s - 1e-9:
            return None
        if self._collecting_since_s is None:
            self._collecting_since_s = now - dt
        self._samples.append((now, metrics))
        window = self.settings.metrics_window_s
        while self._samples and self._samples[0][0] - dt < now - window - 1e-9:
            self._samples.popleft()
        if now - self._collecting_since_s < window - 1e-9:
            return None
        rates = [r for _, m in self._samples if (r := true_processing_rate(m)) is not None]
        if not rates:
            return None
        inputs = [m.input_rate_eps for _, m in self._samples]
        return WindowMetrics(
            input_rate_eps=sum(inputs) / len(inputs),
            true_rate_eps=sum(rates) / len(rates),
            lag_events=metrics.backlog_events,
        )

    # -- evaluate and decide -------------------------------------------------------------

    def thresholds(self, w: WindowMetrics) -> tuple[float, float]:
        """(scale-up, scale-down) rate thresholds: no change while the true rate is between."""
        s = self.settings
        backlog = w.lag_events > w.input_rate_eps * s.backlog_lag_threshold_s
        catch_up = w.lag_events / s.catch_up_s
        up = catch_up + w.input_rate_eps / (1.0 if backlog else s.utilisation_max)
        if backlog:
            return up, math.inf
        restart = w.input_rate_eps * s.restart_time_s / s.catch_up_s
        return up, catch_up + restart + w.input_rate_eps / s.utilisation_min

    def proposal(self, w: WindowMetrics, current: int) -> int:
        """DS2's parallelism at the target utilisation, its factor capped, within bounds."""
        assert self._ctx is not None
        s = self.settings
        target_rate = (
            w.lag_events / s.catch_up_s
            + w.input_rate_eps * s.restart_time_s / s.catch_up_s
            + w.input_rate_eps / s.target_utilisation
        )
        factor = target_rate / w.true_rate_eps
        factor = min(max(factor, 1.0 - s.scale_down_max_factor), 1.0 + s.scale_up_max_factor)
        return self._ctx.clamp(math.ceil(current * factor - 1e-9))

    def decide(self, metrics: SystemMetrics, weights: Weights) -> int:
        assert self._ctx is not None, "reset() first"
        current = metrics.executors
        w = self._collect(metrics)
        if w is None:
            return current
        up_threshold, down_threshold = self.thresholds(w)
        new = self.proposal(w, current)
        if new > current and w.true_rate_eps < up_threshold:
            self._clear_scale_down()
            if self._ineffective(w, current):
                return current
            self._last_up = _ScaleUp(
                new, w.true_rate_eps, w.true_rate_eps * new / current, w.input_rate_eps
            )
            return self._rescaled(metrics.time_s, new)
        if new < current and w.true_rate_eps > down_threshold:
            return self._delayed_scale_down(metrics.time_s, current, new)
        self._clear_scale_down()
        return current

    def _ineffective(self, w: WindowMetrics, current: int) -> bool:
        """Flink's check of the last scale-up, when the job still runs at its count."""
        s = self.settings
        last = self._last_up
        if not s.effectiveness_detection or last is None or last.executors != current:
            return False
        if self._blocked_at_input is not None:
            moved = abs(w.input_rate_eps - self._blocked_at_input)
            if moved > s.load_change * max(self._blocked_at_input, 1e-9):
                self._last_up = None
                self._blocked_at_input = None
                return False
        expected = last.expected_rate_eps - last.true_rate_eps
        actual = w.true_rate_eps - last.true_rate_eps
        if expected <= 0.0 or actual >= s.effectiveness_threshold * expected:
            self._blocked_at_input = None
            return False
        if self._blocked_at_input is None:
            self._blocked_at_input = w.input_rate_eps
            self.ineffective_scalings += 1
        return True

    def _delayed_scale_down(self, now: float, current: int, new: int) -> int:
        interval = self.settings.scale_down_interval_s
        if self._down_first_s is None:
            self._down_first_s = now
        self._down_proposals.append((now, new))
        while self._down_proposals and self._down_proposals[0][0] < now - interval - 1e-9:
            self._down_proposals.popleft()
        if now - self._down_first_s < interval - 1e-9:
            return current
        target = max(n for _, n in self._down_proposals)
        if target >= current:
            return current
        self._last_up = None  # the last scaling is now a scale-down: nothing to check
        self._blocked_at_input = None
        return self._rescaled(now, target)

    def _clear_scale_down(self) -> None:
        self._down_first_s = None
        self._down_proposals.clear()

    def _rescaled(self, now: float, new: int) -> int:
        """A rescale: the job restarts, stabilises and collects a fresh window."""
        self._job_update_s = now
        self._samples.clear()
        self._collecting_since_s = None
        self._clear_scale_down()
        return new
