"""What the operator remembers of one application across its own restarts.

Kept in a ConfigMap per application (as Flink's autoscaler keeps its history): the time of the
last change (so a restarted operator honours the cooldown instead of restarting the application
again), recent decisions, the meta-controller's history and timing, the last good settings
(so a bad annotation seen first by a new replica does not fall back to defaults) and the
recent input the forecasts need (so a restart does not cost them hours of history).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from hrl_autoscaler.runtime.core.weights import Weights

STATE_SCHEMA = 1
_UNSET = object()


def round_sig(x: float, digits: int = 2) -> float:
    """Round to significant digits, so a slowly drifting estimate does not rewrite the state."""
    if x <= 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(x)))


@dataclass
class AppState:
    """The durable part of one application's state (JSON in its ConfigMap)."""

    app_uid: str | None = None
    """The SparkApplication's uid: a state left by a deleted namesake is not resumed."""
    last_good_settings: dict[str, Any] | None = None
    last_change_at: float | None = None
    """Unix time of the last executor change the operator made (the cooldown's origin)."""
    last_target: int | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """Recent changes and recommendations, newest last."""
    meta: list[dict[str, Any]] = field(default_factory=list)
    """Recent meta-controller updates (window statistics, score, weights), newest last."""
    meta_window_started_at: float | None = None
    """Unix time the current meta window began: the next update is one interval later."""
    weights: tuple[float, float, float] | None = None
    """Weights set by the meta-controller (used in recommend mode, where none are patched)."""
    executor_rate_eps: float | None = None
    """Measured single-executor rate (2 significant digits)."""
    restart_s: list[float] = field(default_factory=list)
    """Measured restart times (restart actuation), newest last (see :mod:`.restarttime`)."""
    startup_s: list[float] = field(default_factory=list)
    """Measured in-place executor start-up times, newest last."""
    inputs: list[float] = field(default_factory=list)
    """The anticipation's input history, events/s per decision, oldest first (3 significant
    digits; checkpointed every few minutes, see :mod:`.inputmemory`)."""
    inputs_at: float | None = None
    """Unix time of the newest entry of ``inputs``."""
    input_peaks: list[tuple[float, float]] = field(default_factory=list)
    """The surge response's running peak: (unix time, events/s), oldest first."""
    calm_since: float | None = None
    """Unix time the calm rule counts the input calm from (its last jump, see
    :mod:`.calmrule`); checkpointed with the input history."""

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, name, _UNSET) != value:
            object.__setattr__(self, "_revision", getattr(self, "_revision", 0) + 1)
        object.__setattr__(self, name, value)

    @property
    def revision(self) -> int:
        """Grows with every change: the loop serialises and saves only a changed state (a
        JSON dump per application per cycle would cost more than the decision)."""
        return int(getattr(self, "_revision", 0))

    def remember(self, kind: str, entry: dict[str, Any], keep: int) -> None:
        """Append to ``decisions`` or ``meta``, keeping the newest ``keep`` entries."""
        history = self.decisions if kind == "decisions" else self.meta
        history.append(entry)
        del history[: max(0, len(history) - keep)]
        object.__setattr__(self, "_revision", self.revision + 1)

    def record_time(self, kind: str, seconds: float, keep: int) -> list[float]:
        """Append a measured restart (``restart``) or start-up (``startup``) time, keeping the
        newest ``keep``; the history after it."""
        history = self.restart_s if kind == "restart" else self.startup_s
        history.append(round(seconds, 1))
        del history[: max(0, len(history) - keep)]
        object.__setattr__(self, "_revision", self.revision + 1)
        return history

    def set_rate(self, rate: float) -> None:
        self.executor_rate_eps = round_sig(rate)

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["schema"] = STATE_SCHEMA
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AppState:
        """Parse a stored state; raise ValueError (with the reason) when it is unusable."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"state is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("state is not a JSON object")
        if data.get("schema") != STATE_SCHEMA:
            raise ValueError(f"state schema {data.get('schema')!r}, expected {STATE_SCHEMA}")
        try:
            weights = data.get("weights")
            return cls(
                app_uid=str(data["app_uid"]) if data.get("app_uid") else None,
                last_good_settings=data.get("last_good_settings"),
                last_change_at=_opt_float(data.get("last_change_at")),
                last_target=_opt_int(data.get("last_target")),
                decisions=list(data.get("decisions") or []),
                meta=list(data.get("meta") or []),
                meta_window_started_at=_opt_float(data.get("meta_window_started_at")),
                weights=_weights(weights),
                executor_rate_eps=_opt_float(data.get("executor_rate_eps")),
                restart_s=_seconds(data.get("restart_s")),
                startup_s=_seconds(data.get("startup_s")),
                inputs=_rates(data.get("inputs")),
                inputs_at=_opt_float(data.get("inputs_at")),
                input_peaks=_peaks(data.get("input_peaks")),
                calm_since=_opt_float(data.get("calm_since")),
            )
        except (TypeError, ValueError, IndexError, OverflowError) as exc:
            raise ValueError(f"state has a malformed field: {exc}") from None


def _opt_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _weights(value: Any) -> tuple[float, float, float] | None:
    """Stored meta weights: three finite numbers >= 0, not all 0 (else the state is unusable)."""
    if not value:
        return None
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ValueError(f"weights {value!r} are not three numbers")
    a, b, g = (float(v) for v in value)
    Weights.of(a, b, g)  # the rule weights follow everywhere: finite, >= 0, not all 0
    return (a, b, g)


def _seconds(value: Any) -> list[float]:
    """A stored list of measured times (absent in states written before they were kept)."""
    return _non_negative(value, "seconds")


def _non_negative(value: Any, what: str) -> list[float]:
    """A stored list of finite numbers >= 0 (``what`` names them in the error)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list of {what}")
    numbers = [float(v) for v in value]
    if not all(math.isfinite(n) and n >= 0 for n in numbers):
        raise ValueError(f"{value!r} are not {what}")
    return numbers


def _rates(value: Any) -> list[float]:
    """A stored input history (absent in states written before it was kept)."""
    return _non_negative(value, "inputs (events/s >= 0)")


def _peaks(value: Any) -> list[tuple[float, float]]:
    """Stored (time, rate) pairs: finite, rates >= 0."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 for p in value
    ):
        raise ValueError(f"input_peaks {value!r} are not (time, rate) pairs")
    peaks = [(float(t), float(r)) for t, r in value]
    if not all(math.isfinite(t) and math.isfinite(r) and r >= 0 for t, r in peaks):
        raise ValueError(f"input_peaks {value!r} are not finite times and rates >= 0")
    return peaks


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
