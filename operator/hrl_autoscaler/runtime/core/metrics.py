"""What one decision sees of an application: the same record in the simulator and the operator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SystemMetrics:
    """Metrics of one application at a decision instant, in raw units.

    In the simulator they come from the cluster model; in the operator from Prometheus
    (Spark's executor metrics and Structured Streaming's rates and latency).
    """

    input_rate_eps: float
    """Events arriving per second (Structured Streaming ``inputRate-total``)."""
    processing_rate_eps: float
    """Events processed per second (``processingRate-total``)."""
    backlog_events: float
    """Events arrived but not yet processed (source lag)."""
    cpu_utilisation: float
    """Busy fraction of the running executors' task slots, 0..1 (activeTasks / totalCores)."""
    memory_utilisation: float
    """Used over maximum storage memory of the executors, 0..1."""
    latency_ms: float
    """End-to-end micro-batch latency of recent batches, milliseconds."""
    executors: int
    """The allocation currently requested (target), 1..20."""
    running_executors: int
    """Executors registered and running now (lags ``executors`` while they start)."""
    restarting: bool = False
    """True while the application is being resubmitted (restart actuation)."""
    time_s: float = 0.0
    """Seconds since the start of the run; controllers with windows (HPA) use it."""
