"""Availability holds: no decision without usable metrics.

An application holds (keeps its executors, decides nothing) while the Spark Operator has not
reported it running, while its metrics are missing, failed or stale, and while a new run has not
completed its first micro-batch (Spark reports rates and latency 0 until then). Each hold is
logged and, when it lasts, told to the application once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hrl_autoscaler.runtime.core.appruntime import AppRuntime
from hrl_autoscaler.runtime.core.ports import LoopContext
from hrl_autoscaler.runtime.core.reporting import Reason, simple_event
from hrl_autoscaler.runtime.core.sampling import (
    AppSample,
    Collection,
    first_batch_pending,
    unavailable_reason,
)

log = logging.getLogger("hrl_autoscaler.pipeline")

#: A MetricsUnavailable event only after this many cycles in a row without usable metrics: a
#: freshly (re)started driver is not scraped yet for a moment, which is no news to anyone.
UNAVAILABLE_CYCLES_BEFORE_EVENT = 2


@dataclass
class AvailabilityHolds:
    """Decides whether an application holds this cycle, and reports why."""

    ctx: LoopContext

    def sample(self, runtime: AppRuntime, collection: Collection, now: float) -> AppSample | None:
        """The application's usable sample, or None when it holds this cycle."""
        snapshot = runtime.snapshot
        current = runtime.current_executors()
        if not snapshot.running:
            log.debug(
                "%s: holding while the application is %s", runtime.key, snapshot.state or "new"
            )
            return None
        reason = unavailable_reason(
            runtime.key, collection, now, self.ctx.settings.max_metric_age_s
        )
        if reason is not None:
            self._unavailable(runtime, reason, current)
            return None
        if runtime.unavailable is not None:
            if runtime.reported_unavailable is not None:
                log.info("%s: metrics available again; deciding", runtime.key)
            runtime.unavailable = runtime.reported_unavailable = None
            runtime.unavailable_cycles = 0
            self.ctx.telemetry.unavailable(runtime.key, None)
        sample = collection.samples[runtime.key]
        if self._awaiting_first_batch(runtime, sample, current, now):
            return None
        return sample

    def _unavailable(self, runtime: AppRuntime, reason: str, current: int) -> None:
        runtime.unavailable_cycles += 1
        kind = reason.split(":", 1)[0]  # "stale: 95 s old" changes every cycle; its kind not
        if (
            runtime.unavailable_cycles >= UNAVAILABLE_CYCLES_BEFORE_EVENT
            and runtime.reported_unavailable != kind
        ):
            runtime.reported_unavailable = kind
            log.warning("%s: holding at %d executors: %s", runtime.key, current, reason)
            self.ctx.events.emit(
                runtime.snapshot,
                simple_event(
                    Reason.METRICS_UNAVAILABLE,
                    executors=str(current),
                    action="hold",
                    reason=reason,
                ),
            )
        runtime.unavailable = reason
        self.ctx.telemetry.unavailable(runtime.key, reason)

    def _awaiting_first_batch(
        self, runtime: AppRuntime, sample: AppSample, current: int, now: float
    ) -> bool:
        """Hold a new run until its first micro-batch, at most ``first_batch_grace_s``.

        Once per run (application id): a restart brings the zeros back, an idle stream later
        in the run does not (its gauges keep the last batch's latency).
        """
        run = runtime.snapshot.app_id or ""
        if runtime.first_batch_seen_for == run:
            return False
        grace = self.ctx.settings.first_batch_grace_s
        if not first_batch_pending(sample) or grace <= 0:
            if runtime.first_batch_wait_since is not None:
                log.info(
                    "%s: first micro-batch completed after %.0f s; deciding",
                    runtime.key,
                    now - runtime.first_batch_wait_since,
                )
            runtime.first_batch_seen_for, runtime.first_batch_wait_since = run, None
            return False
        if runtime.first_batch_wait_since is None:
            runtime.first_batch_wait_since = now
            log.info(
                "%s: holding at %d executors until the run's first micro-batch completes "
                "(Spark reports rates and latency 0 until then; at most %.0f s)",
                runtime.key,
                current,
                grace,
            )
        waited = now - runtime.first_batch_wait_since
        if waited < grace:
            return True
        log.warning(
            "%s: no micro-batch completed in %.0f s (first_batch_grace_s); deciding on the "
            "executor metrics alone",
            runtime.key,
            waited,
        )
        self.ctx.events.emit(
            runtime.snapshot,
            simple_event(
                Reason.FIRST_BATCH_OVERDUE,
                executors=str(current),
                waited_s=f"{waited:.0f}",
                grace_s=f"{grace:.0f}",
                action="deciding on executor metrics; input rate and latency read 0",
            ),
        )
        runtime.first_batch_seen_for, runtime.first_batch_wait_since = run, None
        return False
