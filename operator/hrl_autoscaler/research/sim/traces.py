"""Trace replay: a CSV of ``timestamp,value`` (events in each interval) as an arrival-rate profile.

Timestamps may be seconds (any origin) or ISO 8601. Row i covers [t_i, t_{i+1}); the last row
covers the median interval. Events are spread uniformly over their row's interval and re-binned
to the decision interval, so traces recorded every second or every five minutes both work.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REQUIRED_COLUMNS = ("timestamp", "value")


class TraceError(ValueError):
    """A trace file that cannot be replayed; the message names the file, line and problem."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem


def parse_time(text: str) -> float:
    """Epoch seconds, or an ISO 8601 date-time (``Z`` allowed; without an offset it is UTC, so
    the result does not depend on the machine's time zone). Raises ``ValueError``."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither seconds nor an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _parse_timestamp(text: str, path: Path, line: int) -> float:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise TraceError(path, line, f"timestamp {exc}") from None


def read_trace(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (s) and event counts from a trace CSV, validated line by line."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise TraceError(path, None, f"cannot open trace: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TraceError(path, None, f"not UTF-8 text (byte {exc.start}); expected a CSV") from None
    times: list[float] = []
    values: list[float] = []
    with io.StringIO(text, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise TraceError(path, 1, "file is empty; expected a header 'timestamp,value'")
        names = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise TraceError(
                path,
                1,
                f"missing column(s) {', '.join(missing)}; header must contain 'timestamp,value'",
            )
        ti, vi = names.index("timestamp"), names.index("value")
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(ti, vi):
                raise TraceError(path, line, f"expected {len(names)} columns, found {len(row)}")
            ts = _parse_timestamp(row[ti], path, line)
            try:
                value = float(row[vi])
            except ValueError:
                raise TraceError(path, line, f"value {row[vi].strip()!r} is not a number") from None
            if not math.isfinite(value) or value < 0:
                raise TraceError(path, line, f"value {value!r} must be a finite number >= 0")
            if times and ts <= times[-1]:
                raise TraceError(
                    path,
                    line,
                    f"timestamps must increase strictly; {row[ti].strip()!r} "
                    "is not after the previous row",
                )
            times.append(ts)
            values.append(value)
    if not times:
        raise TraceError(path, None, "no data rows after the header")
    return np.array(times), np.array(values)


def resample_to_rates(times: np.ndarray, counts: np.ndarray, interval_s: float) -> np.ndarray:
    """Events per second in consecutive ``interval_s`` bins from the first timestamp."""
    if times.size == 1:
        return np.array([counts[0] / interval_s])
    widths = np.diff(times)
    last = float(np.median(widths))
    edges = np.append(times, times[-1] + last)
    cumulative = np.concatenate(([0.0], np.cumsum(counts)))
    n_bins = max(1, math.ceil((edges[-1] - edges[0]) / interval_s - 1e-9))
    bin_edges = edges[0] + np.arange(n_bins + 1) * interval_s
    at_edges = np.interp(bin_edges, edges, cumulative)
    return np.asarray(np.diff(at_edges), dtype=float) / interval_s


def load_trace(
    path: Path | str, interval_s: float, peak_rate_eps: float | None = None
) -> np.ndarray:
    """Arrival rates per decision interval from a trace, scaled so its peak is ``peak_rate_eps``."""
    times, counts = read_trace(path)
    rates = resample_to_rates(times, counts, interval_s)
    if peak_rate_eps is not None:
        top = float(rates.max())
        if top <= 0:
            raise TraceError(path, None, "every value is 0; cannot scale to a peak rate")
        rates = rates * (peak_rate_eps / top)
    return rates
