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

from hrl_autoscaler.service.wiring import Operator

log = logging.getLogger("hrl_autoscaler.loop")

#: Decision intervals a replica waits after peering first lets it lead (see _may_lead).
SETTLE_TICKS = 2


class DecisionLoop:
    def __init__(self, operator: Operator) -> None:
        self.operator = operator
        self.interval_s = operator.settings.decision_interval_s
        self.last_tick: float | None = None
        self.leading: bool | None = None
        self.why = "starting"
        self.cycles = 0
        self.allowed_since: float | None = None

    def healthy(self) -> tuple[bool, str]:
        """Live while ticks keep coming (a cycle may take long, but not forever)."""
        if self.last_tick is None:
            return True, "starting"
        age = time.monotonic() - self.last_tick
        limit = 3 * self.interval_s + 60.0
        if age > limit:
            return False, f"no decision tick for {age:.0f} s (limit {limit:.0f} s)"
        return True, f"last tick {age:.1f} s ago; {self.why}"

    def ready(self) -> tuple[bool, str]:
        if self.last_tick is None:
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
            except Exception:  # the loop must survive anything one tick does
                log.exception("decision tick failed; continuing")
            self.last_tick = time.monotonic()
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:
                log.warning("decision cycle overran the interval by %.1f s; skipping ahead", -delay)
                next_at, delay = time.monotonic(), 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

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
