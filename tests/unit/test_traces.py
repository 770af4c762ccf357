"""Trace replay: resampling and errors that name the file, line and problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hrl_autoscaler.research.sim.traces import (
    TraceError,
    load_trace,
    parse_time,
    read_trace,
    resample_to_rates,
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_resampling_conserves_events_across_interval_sizes() -> None:
    times = np.arange(0.0, 600.0, 10.0)  # one row every 10 s
    counts = np.full(times.size, 50.0)  # 5 events/s
    rates = resample_to_rates(times, counts, 30.0)
    assert rates.size == 20
    np.testing.assert_allclose(rates, 5.0)
    assert rates.sum() * 30.0 == pytest.approx(counts.sum())


def test_coarse_traces_are_spread_over_finer_intervals() -> None:
    rates = resample_to_rates(np.array([0.0, 300.0]), np.array([3000.0, 6000.0]), 30.0)
    np.testing.assert_allclose(rates, [10.0] * 10 + [20.0] * 10)


def test_iso_timestamps_and_peak_scaling(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "timestamp,value\n2026-01-01T00:00:00Z,300\n2026-01-01T00:00:30Z,600\n2026-01-01T00:01:00Z,150\n",
    )
    rates = load_trace(path, 30.0, peak_rate_eps=4000.0)
    np.testing.assert_allclose(rates, [2000.0, 4000.0, 1000.0])


def test_extra_columns_and_column_order_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, "value,source,timestamp\n30,a,0\n60,b,30\n")
    times, counts = read_trace(path)
    assert times.tolist() == [0.0, 30.0]
    assert counts.tolist() == [30.0, 60.0]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "file is empty"),
        ("time,value\n0,1\n", 1, "missing column(s) timestamp"),
        ("timestamp,count\n0,1\n", 1, "missing column(s) value"),
        ("timestamp,value\n", None, "no data rows"),
        ("timestamp,value\n0,10\n30,lots\n", 3, "value 'lots' is not a number"),
        ("timestamp,value\n0,10\n30,-1\n", 3, "must be a finite number >= 0"),
        ("timestamp,value\n0,10\n60,1\n30,1\n", 4, "timestamps must increase"),
        ("timestamp,value\n0,10\n0,1\n", 3, "timestamps must increase"),
        ("timestamp,value\nyesterday,10\n", 2, "neither seconds nor an ISO 8601"),
        ("timestamp,value\n0\n", 2, "expected 2 columns"),
    ],
)
def test_bad_traces_name_the_file_line_and_problem(
    tmp_path: Path, text: str, line: int | None, problem: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TraceError) as err:
        read_trace(path)
    assert err.value.line == line
    assert problem in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot open trace"):
        read_trace(tmp_path / "absent.csv")


def test_all_zero_trace_cannot_be_scaled(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="every value is 0"):
        load_trace(_write(tmp_path, "timestamp,value\n0,0\n30,0\n"), 30.0, peak_rate_eps=100.0)


def test_times_are_epoch_seconds_or_iso_with_naive_meaning_utc() -> None:
    assert parse_time(" 12.5 ") == 12.5
    assert parse_time("2026-01-01T00:00:00") == parse_time("2026-01-01T00:00:00Z") == 1767225600.0
    assert parse_time("2026-01-01T01:00:00+01:00") == 1767225600.0
    with pytest.raises(ValueError, match="'soon' is neither seconds nor an ISO 8601 date-time"):
        parse_time("soon")
