"""Adopting the records the operator's own writes carry: level-triggered crash recovery.

Every scaling patch carries its scale record and every weights patch its meta record (see
:mod:`~hrl_autoscaler.runtime.core.records`), in the same write as the action. The state
ConfigMap is saved at the end of the cycle, so it can lag the object: an operator killed in
between leaves an action whose record is on the object but not in the state. Whenever the
operator sees an application's annotations (its first sight after a start, a leadership change,
or any change the watch delivers), it reconciles the state with the records, the newer wins:

- the scale record sets the cooldown's origin (state and the live guardrails), the last target,
  and restores the decision history entry the crashed operator did not save (same decision id:
  restoring it twice, or over the saved one, is a no-op);
- the meta record sets the start of the meta window, so a successor does not update the weights
  again before one interval has passed.

A record from the future (a copied or forged annotation) is ignored with a warning: it would
otherwise hold the application's scaling for as long as it pretends.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from hrl_autoscaler.runtime.core.records import ScaleRecord, parse_meta_record, parse_scale_record

if TYPE_CHECKING:
    from hrl_autoscaler.runtime.core.appruntime import AppRuntime

log = logging.getLogger("hrl_autoscaler.pipeline")

#: Slack when comparing a record with the stored state (records are written to 1 ms, and the
#: state's own time of the same action is the same decision time) ...
RECORD_SLACK_S = 1.0
#: ... and with the clock: a record further ahead than this is not trusted.
RECORD_FUTURE_S = 60.0


def adopt_records(runtime: AppRuntime, now: float, history_size: int) -> ScaleRecord | None:
    """Reconcile ``runtime``'s state with the records on its snapshot; the scale record adopted
    (None when the state already knew it, or there is none)."""
    annotations = runtime.snapshot.annotations
    meta_at = parse_meta_record(annotations)
    if meta_at is not None and _trusted(runtime, meta_at, now, "meta"):
        started = runtime.state.meta_window_started_at
        # None: the next window opens now, after any record anyway (and a weight policy
        # switched back to meta gets a full window, not one cut short by an old record)
        if started is not None and meta_at > started + RECORD_SLACK_S:
            runtime.state.meta_window_started_at = meta_at
    record = parse_scale_record(annotations)
    if record is None or not _trusted(runtime, record.at, now, "scale"):
        return None
    stored = runtime.state.last_change_at
    if stored is not None and record.at <= stored + RECORD_SLACK_S:
        return None
    log.info(
        "%s: a scaling action to %d at %s is newer than the stored state; adopting it "
        "(cooldown origin, history)",
        runtime.key,
        record.target,
        clock_text(record.at),
    )
    runtime.state.last_change_at, runtime.state.last_target = record.at, record.target
    if runtime.step is not None:
        guardrails = runtime.step.guardrails
        guardrails.last_change_s = max(guardrails.last_change_s, record.at)
    if record.decision_id is not None and not any(
        entry.get("id") == record.decision_id for entry in runtime.state.decisions
    ):
        runtime.state.remember("decisions", record.history_entry(), history_size)
    return record


def _trusted(runtime: AppRuntime, at: float, now: float, kind: str) -> bool:
    """Logged each time: records are adopted when the annotations change, not every cycle."""
    if at <= now + RECORD_FUTURE_S:
        return True
    log.warning("%s: ignoring a %s record from the future (%s)", runtime.key, kind, clock_text(at))
    return False


def clock_text(at: float | None) -> str:
    if at is None:
        return "never"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
