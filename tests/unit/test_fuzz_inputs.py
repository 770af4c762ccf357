"""Fuzzing the other untrusted inputs: ExecutorBudget objects, the in-place agent's target,
excluded periods, and the trace and calibration files of the research CLI.

Each property says what a platform engineer is promised for any input: a clear error (or
Warning field error) that names the field or the file and line, never an exception of another
kind, and, when the input is accepted, a value inside its documented range. The example count
follows ``HRL_FUZZ_EXAMPLES``; bench/fuzz_inputs.py runs them with many more.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hrl_autoscaler.config.periods import parse_periods
from hrl_autoscaler.research.sim.traces import TraceError, read_trace
from hrl_autoscaler.runtime.core.budget.spec import ACCEPTED, parse_budget
from hrl_autoscaler.tools.calibration.schema import CalibrationError, load_calibration
from hrl_autoscaler.tools.spark.agent_targets import parse_target

FUZZ = settings(
    max_examples=int(os.environ.get("HRL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", "10", "-1", "1e400", "NaN", "whittle", "fair-share", "0x10"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=16,
)
BUDGET_FIELDS = ["maxExecutors", "maxCostPerHour", "policy", "intervalSeconds", "namespaces",
                 "selector", "unknownField"]  # fmt: skip


@st.composite
def budget_bodies(draw: st.DrawFn) -> dict[str, Any]:
    spec = draw(
        st.one_of(
            json_values,
            st.dictionaries(st.sampled_from(BUDGET_FIELDS), json_values, max_size=5),
            st.fixed_dictionaries(
                {"maxExecutors": st.integers(-5, 10**6)},
                optional={
                    "policy": st.sampled_from(["whittle", "fair-share", "priority", "x"]),
                    "selector": st.fixed_dictionaries(
                        {},
                        optional={
                            "matchLabels": st.dictionaries(st.text(max_size=5), json_values),
                            "matchExpressions": st.lists(json_values, max_size=3),
                        },
                    ),
                },
            ),
        )
    )
    meta = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "name": json_values,
                "namespace": json_values,
                "generation": json_values,
                "uid": json_values,
                "creationTimestamp": json_values,
            },
        )
    )
    return {"metadata": meta, "spec": spec, "status": draw(json_values)}


@FUZZ
@given(budget_bodies())
def test_any_budget_object_parses_to_a_spec_or_field_errors(body: dict[str, Any]) -> None:
    parsed = parse_budget(body)
    if parsed.spec is None:
        assert parsed.errors, body
        for error in parsed.errors:
            assert error.field, error  # names the field
            head = error.field.split(".")[0].split("[")[0]
            assert head in ACCEPTED or head == "spec", error
    else:
        assert not parsed.errors
        spec = parsed.spec
        assert spec.max_executors is None or spec.max_executors >= 0
        assert spec.interval_seconds > 0


def _error(call: Callable[[], object], kind: type[Exception]) -> Exception | None:
    """The ``kind`` error ``call`` raised, None when it returned (any other error propagates)."""
    try:
        call()
    except kind as exc:
        return exc
    return None


@FUZZ
@example(raw="7" * 5000, low=1, span=19)
@given(
    raw=st.one_of(
        st.none(), st.text(max_size=40), st.from_regex(r"\s*[0-9]{1,6000}\s*", fullmatch=True)
    ),
    low=st.integers(0, 50),
    span=st.integers(0, 50),
)
def test_the_agent_reads_any_target_as_a_count_in_bounds_or_a_reason(
    raw: str | None, low: int, span: int
) -> None:
    reading = parse_target(raw, low, low + span)
    if reading.value is not None:
        assert low <= reading.value <= low + span
        assert reading.problem is None
    elif raw is not None:
        assert reading.problem, raw


@FUZZ
@given(st.text(max_size=120) | st.from_regex(r"(Mon|Tue)?-?(Fri)? ?\d\d:\d\d-\d\d:\d\d ?\w*"))
def test_any_excluded_periods_text_parses_or_names_the_period(text: str) -> None:
    error = _error(lambda: parse_periods(text), ValueError)
    assert error is None or str(error), text


trace_cells = st.sampled_from(
    ["0", "1.5", "-1", "nan", "inf", "1e400", "", "x", "2026-01-01T00:00:00Z", "12:00", "1,2"]
) | st.text(max_size=8)


@FUZZ
@given(
    header=st.sampled_from(["timestamp,value", "time,count", "", "a,b,c", "timestamp"]),
    rows=st.lists(st.lists(trace_cells, min_size=0, max_size=3), max_size=8),
    raw=st.none() | st.binary(max_size=80),
)
def test_any_trace_file_reads_as_clean_arrays_or_a_trace_error(
    header: str, rows: list[list[str]], raw: bytes | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.csv"
        if raw is not None:
            path.write_bytes(raw)
        else:
            path.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n")
        read: list[tuple[Any, Any]] = []
        error = _error(lambda: read.append(read_trace(path)), TraceError)
    if error is not None:
        assert str(path) in str(error), error
        return
    [(times, values)] = read
    assert len(times) == len(values) > 0
    assert all(math.isfinite(v) and v >= 0 for v in values)
    assert all(b > a for a, b in itertools.pairwise(times)), times


@FUZZ
@given(st.one_of(json_values, st.binary(max_size=60)))
def test_any_calibration_file_loads_or_is_a_calibration_error(content: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calibration.json"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(json.dumps(content))
        error = _error(lambda: load_calibration(path), CalibrationError)
    assert error is None or str(path) in str(error), error
