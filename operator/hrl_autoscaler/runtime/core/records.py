"""The records the operator's writes carry about themselves, so that no crash can split an action
from what its successor needs to know about it.

A scaling action is one merge patch of the SparkApplication: ``spec.executor.instances`` (or the
in-place target annotation) *and* ``hrl-autoscaler.io/last-scale``, a :class:`ScaleRecord` with
the decision's time, the executor count before and after, the actuation, the controller that
decided and a decision id. A meta update likewise carries ``hrl-autoscaler.io/last-meta`` with
its time. The API server applies a patch entirely or not at all, so a crash leaves either
nothing (the successor decides afresh, on the same object) or the action with its record (the
successor adopts the record: the cooldown's origin, the history entry, the meta window). The
state ConfigMap written after the patch is then a cache that can lag, never the only copy.

The decision id is derived from what the record says (and the application's uid), so writing
the same record twice is visibly the same decision, and a history entry restored from a record
is recognised by the entry the crashed operator may already have saved.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hrl_autoscaler.config import EXECUTORS_LIMIT
from hrl_autoscaler.runtime.core.annotations import (
    LAST_META_ANNOTATION,
    LAST_SCALE_ANNOTATION,
    strict_float,
    strict_int,
)

ACTUATIONS = ("restart", "in-place")


def decision_id(uid: str, at: float, previous: int | None, target: int) -> str:
    """A short, stable id of one scaling decision (same inputs, same id)."""
    text = f"{uid}/{at:.3f}/{previous}/{target}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class ScaleRecord:
    """What one scaling patch says about itself (``hrl-autoscaler.io/last-scale``)."""

    at: float
    """Unix time of the decision: the cooldown's origin."""
    target: int
    previous: int | None = None
    """The executor count the decision was made from (None in a record of the old format)."""
    actuation: str | None = None
    controller: str | None = None
    """Who decided: ``ppo``, ``ds2``, ... (see ``Decision.controller``)."""
    decision_id: str | None = None

    def annotation(self) -> dict[str, str]:
        """The annotation that carries this record (compact JSON, keys sorted)."""
        data: dict[str, Any] = {"at": round(self.at, 3), "to": self.target}
        for key, value in (
            ("from", self.previous),
            ("by", self.actuation),
            ("controller", self.controller),
            ("id", self.decision_id),
        ):
            if value is not None:
                data[key] = value
        return {LAST_SCALE_ANNOTATION: json.dumps(data, sort_keys=True, separators=(",", ":"))}

    def history_entry(self) -> dict[str, Any]:
        """The decision history entry of an action known only from its record (the shape of
        the entries the loop writes, with what the record cannot tell left out)."""
        entry: dict[str, Any] = {"at": round(self.at, 3), "reason": "ScalingDecision"}
        if self.previous is not None:
            entry["executors"] = f"{self.previous}->{self.target}"
            entry["direction"] = "up" if self.target > self.previous else "down"
        else:
            entry["executors"] = f"?->{self.target}"
        if self.controller is not None:
            entry["controller"] = self.controller
        entry["mode"] = "auto"
        if self.actuation is not None:
            entry["actuation"] = self.actuation
        if self.decision_id is not None:
            entry["id"] = self.decision_id
        entry["recovered"] = "from the scale record"
        return entry


def _executors(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an executor count")
    if not 1 <= value <= EXECUTORS_LIMIT:
        raise ValueError(f"{value} is outside 1..{EXECUTORS_LIMIT}")
    return value


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{name} {value!r} is not a short string")
    return value


def _from_json(text: str) -> ScaleRecord:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    at = data.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise ValueError(f"at {at!r} is not a time")
    previous = data.get("from")
    actuation = _text(data.get("by"), "by")
    if actuation is not None and actuation not in ACTUATIONS:
        raise ValueError(f"by {actuation!r} is not an actuation")
    return ScaleRecord(
        at=float(at),
        target=_executors(data.get("to")),
        previous=None if previous is None else _executors(previous),
        actuation=actuation,
        controller=_text(data.get("controller"), "controller"),
        decision_id=_text(data.get("id"), "id"),
    )


def _from_legacy(text: str) -> ScaleRecord:
    """``<unix time>/<target>``: the format written before the record carried more."""
    if text.count("/") != 1:
        raise ValueError("not <time>/<executors>")
    at_text, target_text = text.split("/")
    return ScaleRecord(at=strict_float(at_text), target=_executors(strict_int(target_text)))


def parse_scale_record(annotations: Mapping[str, str]) -> ScaleRecord | None:
    """The operator's last scaling action, or None when absent or not of the operator's making
    (a bad value is ignored, not an error: the state ConfigMap still counts)."""
    text = annotations.get(LAST_SCALE_ANNOTATION)
    if text is None:
        return None
    try:
        record = _from_json(text) if text.lstrip().startswith("{") else _from_legacy(text)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None
    if not math.isfinite(record.at) or record.at <= 0:
        return None
    return record


def meta_record_annotation(at: float) -> dict[str, str]:
    return {LAST_META_ANNOTATION: f"{at:.3f}"}


def parse_meta_record(annotations: Mapping[str, str]) -> float | None:
    """Unix time of the last meta weights update written, or None (absent or malformed)."""
    text = annotations.get(LAST_META_ANNOTATION)
    if text is None:
        return None
    try:
        at = strict_float(text)
    except ValueError:
        return None
    return at if math.isfinite(at) and at > 0 else None
