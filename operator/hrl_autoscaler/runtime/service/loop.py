"""The decision loop as an asyncio task beside kopf: one cycle per decision interval.

Cycles run in a worker thread (the Kubernetes client and the policy are synchronous), so
kopf's watches keep flowing meanwhile. With peering, each tick first asks whether this replica
leads; a replica that becomes leader re-reads the stored state, since the previous leader may
have acted since it last looked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from hrl_autoscaler.runtime.service.wiring import Operator

log = logging.getLogger("hrl_autoscaler.loop")

#: Decision intervals a replica waits after peering first lets it lead (see _may_lead).
SETTLE_TICKS = 2
#: Ticks that raise in a row before /healthz fails: one can be a passing API hiccup; three
#: mean the loop is stuck on something a restart may clear, and Kubernetes should do it.
FAILED_TICKS_UNHEALTHY = 3


class DecisionLoop:
    def __init__(self, operator: Operator) -> None:
        self.operator = operator
        self.interval_s = operator.settings.decision_interval_s
        self.started = time.monotonic()
        self.last_tick: float | None = None
        """When the last tick completed without raising (monotonic)."""
        self.failed_ticks = 0
        """Ticks that raised since the last one that completed."""
        self.last_error: str | None = None
        self.prometheus_down_cycles = 0
        self.prometheus_error: str | None = None
        self.leading: bool | None = None
        self.why = "starting"
        self.cycles = 0
        self.allowed_since: float | None = None

    @property
    def stall_limit_s(self) -> float:
        """How long without a completed tick before liveness fails (a cycle may take long,
        but not forever)."""
        return 3 * self.interval_s + 60.0

    def healthy(self) -> tuple[bool, str]:
        """Live while ticks keep completing: fails after ``FAILED_TICKS_UNHEALTHY`` failed
        ticks in a row, or when none has completed within ``stall_limit_s`` (since start or
        since the last one). A Prometheus outage keeps it live (a restart cannot fix it) but
        is said in the text, as ``hrl_autoscaler_prometheus_up`` says it in the metrics."""
        now = time.monotonic()
        if self.failed_ticks >= FAILED_TICKS_UNHEALTHY:
            return False, f"{self.failed_ticks} decision ticks failed in a row: {self.last_error}"
        since = self.last_tick if self.last_tick is not None else self.started
        age = now - since
        if age > self.stall_limit_s:
            what = "no decision tick completed" if self.last_tick is None else "no decision tick"
            return False, f"{what} for {age:.0f} s (limit {self.stall_limit_s:.0f} s)"
        if self.last_tick is None:
            return True, "starting"
        return True, f"last tick {age:.1f} s ago; {self.why}{self._degraded()}"

    def _degraded(self) -> str:
        parts = []
        if self.failed_ticks:
            parts.append(f"{self.failed_ticks} failed tick(s) since: {self.last_error}")
        if self.prometheus_down_cycles:
            parts.append(
                f"every application holding: Prometheus unavailable for "
                f"{self.prometheus_down_cycles} cycle(s) ({self.prometheus_error})"
            )
        return "".join(f"; degraded: {p}" for p in parts)

    def ready(self) -> tuple[bool, str]:
        if self.last_tick is None:
            if self.failed_ticks:
                return False, f"first tick failed: {self.last_error}"
            return False, "first tick not done yet"
        return True, self.why

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "decision loop every %.1f s, meta-controller every %.0f s",
            self.interval_s,
            self.operator.settings.meta_interval_s,
        )
        next_at = time.monotonic()
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # the loop must survive anything one tick does
                self._tick_failed(exc)
            else:
                self.last_tick = time.monotonic()
                self.failed_ticks, self.last_error = 0, None
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:
                log.warning("decision cycle overran the interval by %.1f s; skipping ahead", -delay)
                next_at, delay = time.monotonic(), 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    def _tick_failed(self, exc: Exception) -> None:
        """Count it; a traceback for a new error, one line for a repeat."""
        error = f"{type(exc).__name__}: {exc}"[:300]
        self.failed_ticks += 1
        self.operator.metrics.step_failed("cycle")
        if error != self.last_error:
            log.error("decision tick failed; continuing", exc_info=exc)
        else:
            log.error("decision tick failed again (%d in a row): %s", self.failed_ticks, error)
        self.last_error = error

    async def _may_lead(self) -> tuple[bool, str]:
        """Peering says yes, and has said so for a settling time: a replica that just joined
        waits until every other replica has had a tick to see it and stand by."""
        op = self.operator
        if op.peering is None:
            return True, "standalone"
        allowed, why = await asyncio.to_thread(op.peering.may_act)
        now = time.monotonic()
        if not allowed:
            self.allowed_since = None
            return False, why
        if self.allowed_since is None:
            self.allowed_since = now
        settle = SETTLE_TICKS * self.interval_s
        if now - self.allowed_since < settle:
            return False, f"settling: {why}; acting after {settle:.0f} s as leader"
        return True, why

    async def tick(self) -> None:
        op = self.operator
        leading, why = await self._may_lead()
        if leading != self.leading or (not leading and why != self.why):
            log.info("%s: %s", "acting" if leading else "standing by", why)
            if leading and self.leading is not None:
                op.autoscaler.reload_state()
        self.leading, self.why = leading, why
        op.metrics.leader.set(1 if leading else 0)
        if not leading:
            return
        summary = await asyncio.to_thread(op.autoscaler.run_cycle)
        self.cycles += 1
        if summary.prometheus_error is not None and summary.managed:
            self.prometheus_down_cycles += 1
            self.prometheus_error = summary.prometheus_error
        elif summary.managed:
            self.prometheus_down_cycles, self.prometheus_error = 0, None
        log.debug(
            "cycle %d: %d apps, %d decided, %d changed, %d holding, %d queries in %.3f s",
            self.cycles,
            summary.apps,
            summary.decided,
            summary.changed,
            summary.unavailable,
            summary.queries,
            summary.seconds,
        )
        if summary.seconds > self.interval_s:
            log.warning(
                "cycle took %.1f s for %d applications, longer than the %.1f s interval",
                summary.seconds,
                summary.apps,
                self.interval_s,
            )
