"""The Prometheus collector against answers it cannot trust and a server that does not answer.

A response of an unexpected shape must be one failed query (a QueryError naming the offending
field), never another exception that takes the whole cycle down; a hung server must cost a
cycle at most ``prometheus_timeout_s``, whatever the number of queries.

The property tests run ``HRL_FUZZ_EXAMPLES`` examples each (default 300; the bench asks for
10,000 or more).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrl_autoscaler.config import QUERY_NAMES, OperatorSettings, load_operator_settings
from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot
from hrl_autoscaler.runtime.core.sampling import Collection, Series
from hrl_autoscaler.runtime.k8s import prometheus
from hrl_autoscaler.runtime.k8s.prometheus import (
    ERROR_TEXT_LIMIT,
    PrometheusCollector,
    PrometheusUnreachableError,
    QueryError,
    parse_vector,
)

FUZZ = settings(
    max_examples=int(os.environ.get("HRL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,  # no .hypothesis directory in the work tree
)

APP = AppSnapshot(AppKey("iot", "hospital"), "u1", "1", app_id="spark-a2")
GOOD = {"metric": {"application_id": "spark-a2", "namespace": "iot"}, "value": [1.5, "12"]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the arguments alone, and localhost is never sent to a proxy."""
    for name in list(os.environ):
        if name.startswith("HRL_AUTOSCALER_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def _vector(result: Any) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def _query_of(request: httpx.Request) -> str:
    return dict(httpx.QueryParams(request.content.decode()))["query"]


def _name_of(promql: str, s: OperatorSettings) -> str:
    """The query name a rendered PromQL text came from."""
    for name, template in s.queries.templates().items():
        if prometheus.render(template, s.window_s) == promql:
            return name
    raise AssertionError(f"unknown query {promql}")


def _collector(
    handler: Callable[[str], httpx.Response], **overrides: Any
) -> tuple[PrometheusCollector, OperatorSettings]:
    """A collector whose every query is answered by ``handler(query name)``."""
    s = load_operator_settings(**overrides)

    def transport(request: httpx.Request) -> httpx.Response:
        return handler(_name_of(_query_of(request), s))

    return PrometheusCollector(s, transport=httpx.MockTransport(transport)), s


def _collect_once(handler: Callable[[str], httpx.Response], **overrides: Any) -> Collection:
    """One cycle's collection of APP with a fresh collector, closed afterwards."""
    collector, _ = _collector(handler, **overrides)
    try:
        return collector.collect([APP])
    finally:
        collector.close()


# -- parse_vector: every malformed shape is one QueryError naming its place ---------------------


MALFORMED: list[tuple[str, Any, str]] = [
    ("body is a list", [], "response: expected an object, got list"),
    ("body is a string", "ok", "response: expected an object, got string"),
    ("body is null", None, "response: expected an object, got null"),
    ("status error", {"status": "error", "error": "parse error"}, "parse error"),
    ("status missing", {"data": {}}, "status None without an error message"),
    ("error not text", {"status": "error", "error": {"x": 1}}, "without an error message"),
    ("data missing", {"status": "success"}, "data: expected an object, got null"),
    ("data a list", {"status": "success", "data": []}, "data: expected an object, got list"),
    (
        "resultType matrix",
        {"status": "success", "data": {"resultType": "matrix", "result": []}},
        "data.resultType: expected 'vector', got 'matrix'",
    ),
    (
        "resultType missing",
        {"status": "success", "data": {"result": []}},
        "data.resultType: expected 'vector', got None",
    ),
    ("result an object", _vector({}), "data.result: expected a list, got object"),
    ("result a string", _vector("[]"), "data.result: expected a list, got string"),
    ("result a number", _vector(0), "data.result: expected a list, got number"),
    ("item a number", _vector([GOOD, GOOD, GOOD, 7]), "data.result[3]: expected an object"),
    ("item a list", _vector([GOOD, ["a", 1]]), "data.result[1]: expected an object, got list"),
    ("metric missing", _vector([{"value": [1, "2"]}]), "data.result[0].metric: expected an object"),
    (
        "metric null",
        _vector([GOOD, {"metric": None, "value": [1, "2"]}]),
        "data.result[1].metric: expected an object, got null",
    ),
    (
        "metric a list",
        _vector([{"metric": ["job"], "value": [1, "2"]}]),
        "data.result[0].metric: expected an object, got list",
    ),
    (
        "label value a number",
        _vector([{"metric": {"pod": 3}, "value": [1, "2"]}]),
        "data.result[0].metric: expected string labels, got 'pod': 3",
    ),
    (
        "label value null",
        _vector([{"metric": {"pod": None}, "value": [1, "2"]}]),
        "data.result[0].metric: expected string labels, got 'pod': None",
    ),
    (
        "label key not text",
        _vector([{"metric": {1: "x"}, "value": [1, "2"]}]),
        "data.result[0].metric: expected string labels, got 1: 'x'",
    ),
    (
        "value missing",
        _vector([GOOD, GOOD, GOOD, {"metric": {}}]),
        'data.result[3].value: expected [timestamp, "number"], got None',
    ),
    (
        "value a bare string",
        _vector([GOOD, GOOD, GOOD, {"metric": {}, "value": "12"}]),
        "data.result[3].value: expected [timestamp, \"number\"], got '12'",
    ),
    (
        "value a number",
        _vector([{"metric": {}, "value": 12}]),
        'data.result[0].value: expected [timestamp, "number"], got 12',
    ),
    (
        "value an object",
        _vector([{"metric": {}, "value": {"1": "2"}}]),
        'data.result[0].value: expected [timestamp, "number"]',
    ),
    (
        "value one element",
        _vector([{"metric": {}, "value": ["12"]}]),
        "data.result[0].value: expected [timestamp, \"number\"], got ['12']",
    ),
    (
        "value three elements",
        _vector([{"metric": {}, "value": [1, "12", "x"]}]),
        'data.result[0].value: expected [timestamp, "number"]',
    ),
    (
        "timestamp a string",
        _vector([{"metric": {}, "value": ["1", "12"]}]),
        "data.result[0].value: expected [timestamp, \"number\"], got ['1', '12']",
    ),
    (
        "timestamp a bool",
        _vector([{"metric": {}, "value": [True, "12"]}]),
        'data.result[0].value: expected [timestamp, "number"]',
    ),
    (
        "sample a bool",
        _vector([{"metric": {}, "value": [1, True]}]),
        'data.result[0].value: expected [timestamp, "number"]',
    ),
    (
        "sample null",
        _vector([{"metric": {}, "value": [1, None]}]),
        'data.result[0].value: expected [timestamp, "number"]',
    ),
    (
        "sample a list",
        _vector([{"metric": {}, "value": [1, ["12"]]}]),
        'data.result[0].value: expected [timestamp, "number"]',
    ),
    (
        "sample not a number",
        _vector([GOOD, {"metric": {}, "value": [1, "twelve"]}]),
        "data.result[1].value: 'twelve' is not a number",
    ),
    (
        "sample empty",
        _vector([{"metric": {}, "value": [1, ""]}]),
        "data.result[0].value: '' is not a number",
    ),
    (
        "native histogram",
        _vector([{"metric": {}, "histogram": [1, {"count": "3", "sum": "4"}]}]),
        "data.result[0]: a native histogram",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"), [(b, m) for _, b, m in MALFORMED], ids=[i for i, _, _ in MALFORMED]
)
def test_a_malformed_response_is_a_query_error_naming_the_field(body: Any, message: str) -> None:
    """Any other exception would escape collect() and fail the operator's whole cycle."""
    with pytest.raises(QueryError) as raised:
        parse_vector(body)
    assert message in str(raised.value)


def test_a_bare_string_value_is_refused_not_read_as_its_second_character() -> None:
    """``"12"[1]`` is ``"2"``: the old parser read a bare-string value as 2.0."""
    with pytest.raises(QueryError, match=r"data\.result\[0\]\.value"):
        parse_vector(_vector([{"metric": {"application_id": "a"}, "value": "12"}]))


def test_a_long_server_error_is_clipped() -> None:
    """The error text goes into events and logs every cycle: a whole HTML page must not."""
    with pytest.raises(QueryError) as raised:
        parse_vector({"status": "error", "error": "x" * 10_000})
    assert len(str(raised.value)) <= ERROR_TEXT_LIMIT


def test_an_offending_value_is_quoted_briefly() -> None:
    """A megabyte-sized wrong value must not end up whole in a message."""
    with pytest.raises(QueryError) as raised:
        parse_vector(_vector([{"metric": {}, "value": ["t" * 100_000, "1"]}]))
    assert len(str(raised.value)) < 200


def test_valid_responses_parse_exactly() -> None:
    """Labels and values as sent; NaN and infinities (PromQL's x/0) skip their series."""
    body = _vector(
        [
            {"metric": {"application_id": "a", "namespace": "iot"}, "value": [1.5, "12"]},
            {"metric": {}, "value": [1, "0.5"]},
            {"metric": {"x": ""}, "value": [1, "-3"]},
            {"metric": {"x": "e"}, "value": [1, "1e3"]},
            {"metric": {"x": "int"}, "value": [1, 7]},  # numbers are accepted too
            {"metric": {"x": "float"}, "value": [1, 2.5]},
            {"metric": {"x": "nan"}, "value": [1, "NaN"]},
            {"metric": {"x": "inf"}, "value": [1, "+Inf"]},
            {"metric": {"x": "-inf"}, "value": [1, "-Inf"]},
            {"metric": {"x": "float inf"}, "value": [1, math.inf]},
            {"metric": {"x": "huge"}, "value": [1, 10**400]},  # beyond float: as good as Inf
            {"metric": {"x": "overflow"}, "value": [1, "1e999"]},
        ]
    )
    assert parse_vector(body) == [
        Series({"application_id": "a", "namespace": "iot"}, 12.0),
        Series({}, 0.5),
        Series({"x": ""}, -3.0),
        Series({"x": "e"}, 1000.0),
        Series({"x": "int"}, 7.0),
        Series({"x": "float"}, 2.5),
    ]
    assert parse_vector(_vector([])) == []
    assert parse_vector(_vector(None)) == []  # no series at all
    assert parse_vector({"status": "success", "data": {"resultType": "vector"}}) == []


def test_parsed_labels_are_a_copy() -> None:
    """A Series must not change when the response it came from does."""
    metric = {"application_id": "a"}
    [series] = parse_vector(_vector([{"metric": metric, "value": [1, "2"]}]))
    metric["application_id"] = "b"
    assert series.labels == {"application_id": "a"}


# -- parse_vector: property tests --------------------------------------------------------------


def _assert_series(result: Any) -> None:
    """What parse_vector may return: series with string labels and finite float values."""
    assert isinstance(result, list)
    for s in result:
        assert isinstance(s, Series)
        assert type(s.value) is float
        assert math.isfinite(s.value)
        assert isinstance(s.labels, dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in s.labels.items())


def _parse_or_query_error(body: Any) -> list[Series] | None:
    """parse_vector's result, or None for a QueryError; any other exception fails the test."""
    try:
        result = parse_vector(body)
    except QueryError as exc:
        message = str(exc)
    else:
        _assert_series(result)
        return result
    assert message  # a failed query says why
    return None


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["12", "NaN", "+Inf", "-Inf", "1e999", "0x10", "1_000", " 3 "])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@st.composite
def _enveloped(draw: st.DrawFn) -> Any:
    """An arbitrary value at some depth of an otherwise valid response, so that it is reached."""
    x = draw(JSON)
    return draw(
        st.sampled_from(
            [
                x,
                {"status": "success", "data": x},
                {"status": "success", "data": {"resultType": "vector", "result": x}},
                _vector([GOOD, x]),
                _vector([{"metric": x, "value": [1, "2"]}]),
                _vector([{"metric": {"job": "a"}, "value": x}]),
                _vector([{"metric": {"job": "a"}, "value": [x, "2"]}]),
                _vector([{"metric": {"job": "a"}, "value": [1, x]}]),
                _vector([{"metric": {"job": x}, "value": [1, "2"]}]),
            ]
        )
    )


@FUZZ
@given(_enveloped())
def test_any_json_value_parses_or_is_a_query_error(body: Any) -> None:
    """Whatever the server sends: series fit to decide on, or one failed query."""
    _parse_or_query_error(body)


LABELS = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
SAMPLE = st.one_of(
    FINITE.map(repr),
    st.integers(-(10**12), 10**12).map(str),
    FINITE,
    st.sampled_from(["NaN", "+Inf", "-Inf"]),
)
TIMESTAMP = st.one_of(st.integers(0, 2**40), st.floats(0, 2e9))


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside a response (``()`` is the whole response)."""
    yield path
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*path, index))


def _mutate(body: Any, data: st.DataObject) -> Any:
    """``body`` with one value replaced by anything, deleted, or one element added."""
    path = data.draw(st.sampled_from(list(_paths(body))))
    if not path:
        return data.draw(JSON)
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    action = data.draw(st.sampled_from(["replace", "delete", "extend"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[key]
    elif action == "extend" and isinstance(parent, list):
        parent.append(data.draw(JSON))
    elif action == "extend" and isinstance(parent, dict):
        parent[data.draw(st.one_of(st.text(max_size=8), st.integers(), st.none()))] = data.draw(
            JSON
        )
    else:
        parent[key] = data.draw(JSON)
    return body


@FUZZ
@given(
    st.lists(st.tuples(LABELS, TIMESTAMP, SAMPLE), max_size=6),
    st.integers(0, 3),
    st.data(),
)
def test_near_valid_responses_parse_exactly_or_are_a_query_error(
    items: list[tuple[dict[str, str], float, str | float]], mutations: int, data: st.DataObject
) -> None:
    """Untouched, a response parses to exactly its finite series; with a few fields changed to
    anything, it still parses to sane series or is one QueryError."""
    body = _vector([{"metric": labels, "value": [t, v]} for labels, t, v in items])
    if mutations == 0:
        expected = [Series(labels, float(v)) for labels, _, v in items if math.isfinite(float(v))]
        assert parse_vector(body) == expected
        return
    body = copy.deepcopy(body)
    for _ in range(mutations):
        body = _mutate(body, data)
    _parse_or_query_error(body)


# -- collect(): one odd answer is one failed query ---------------------------------------------


def _good(name: str) -> httpx.Response:
    return httpx.Response(200, json=_vector([GOOD]))


def test_a_malformed_answer_fails_its_query_only() -> None:
    """The other queries' series are still assigned; collect() does not raise."""

    def handler(name: str) -> httpx.Response:
        if name == "latency":
            return httpx.Response(200, json=_vector([{"metric": None, "value": "12"}]))
        return _good(name)

    collection = _collect_once(handler)
    assert collection.error is None
    assert collection.query_errors == {
        "latency": "data.result[0].metric: expected an object, got null"
    }
    assert collection.samples[APP.key].values == {n: 12.0 for n in QUERY_NAMES if n != "latency"}


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(502, text="<html>Bad Gateway</html>"), "HTTP 502: not JSON"),
        (httpx.Response(200, text="<html>login</html>"), "HTTP 200: not JSON"),
        (httpx.Response(200, content=b"\xff\xfe\x00"), "HTTP 200: not JSON"),
        (httpx.Response(200, text="[" * 100_000 + "]" * 100_000), "HTTP 200: not JSON"),
        (httpx.Response(503, json={"message": "overloaded"}), "HTTP 503: not a Prometheus"),
        (
            httpx.Response(422, json={"status": "error", "error": "bad range"}),
            "bad range",
        ),
        (httpx.Response(200, json=[1, 2]), "response: expected an object, got list"),
    ],
    ids=["502 html", "200 html", "not utf-8", "nested too deep", "503 json", "422", "list"],
)
def test_answers_that_are_not_prometheus_json_are_query_errors(
    response: httpx.Response, error: str
) -> None:
    """A proxy's error page or a truncated body is a failed query, naming the HTTP status."""
    collection = _collect_once(lambda name: response if name == "memory_max" else _good(name))
    assert collection.error is None
    assert set(collection.query_errors) == {"memory_max"}
    assert error in collection.query_errors["memory_max"]
    assert "memory_used" in collection.samples[APP.key].values


def test_a_surprise_in_a_query_fails_that_query_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug below the collector (here: the transport raises) must not end the cycle."""

    def handler(name: str) -> httpx.Response:
        if name == "input_rate":
            raise LookupError("boom")
        return _good(name)

    collector, _ = _collector(handler)
    try:
        with caplog.at_level(logging.WARNING, logger="hrl_autoscaler.runtime.k8s.prometheus"):
            collection = collector.collect([APP])
    finally:
        collector.close()
    assert collection.error is None
    assert collection.query_errors == {"input_rate": "LookupError: boom"}
    assert "processing_rate" in collection.samples[APP.key].values
    logged = [r for r in caplog.records if "input_rate" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None  # with its traceback: it is a bug to fix


def test_a_surprise_while_assigning_is_a_failed_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """collect() never raises (MetricsSource's contract), even past the queries."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("unhashable label")

    monkeypatch.setattr(prometheus, "assign", broken)
    collection = _collect_once(_good)
    assert collection.error == "collecting failed: ValueError: unhashable label"
    assert collection.samples == {}


def test_collect_after_close_is_a_failed_collection() -> None:
    """A cycle racing the operator's shutdown gets a failure, not a RuntimeError."""
    collector, _ = _collector(_good)
    collector.close()
    collection = collector.collect([APP])
    assert collection.error is not None
    assert "collecting failed" in collection.error


def test_an_undecodable_token_file_is_a_failed_collection(tmp_path: Path) -> None:
    """A token file that is not text fails the cycle with a reason, like a missing one."""
    token = tmp_path / "token"
    token.write_bytes(b"\xff\xfe\xfa")
    collection = _collect_once(_good, prometheus_bearer_token_file=token)
    assert collection.error is not None
    assert collection.error.startswith("bearer token file unreadable")


# -- one deadline per cycle ----------------------------------------------------------------------


def test_every_default_query_goes_in_one_round() -> None:
    """With fewer workers than queries, a slow server costs a cycle several rounds."""
    together = threading.Barrier(len(QUERY_NAMES))

    def handler(name: str) -> httpx.Response:
        together.wait(timeout=3.0)  # breaks unless every query is in flight at once
        return _good(name)

    collection = _collect_once(handler)
    assert collection.error is None
    assert collection.query_errors == {}


def test_a_query_without_time_left_is_not_sent() -> None:
    """Queued behind queries that used up the cycle's deadline, a query gives up at once."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=_vector([]))

    s = load_operator_settings(prometheus_timeout_s=2.5)
    collector = PrometheusCollector(s, transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(PrometheusUnreachableError, match=r"deadline of 2\.5 s"):
            collector.query("up", {}, deadline=time.monotonic() - 0.1)
        assert collector.query("up", {}, deadline=time.monotonic() + 5) == []
    finally:
        collector.close()
    assert len(sent) == 1


@dataclass
class HungServer:
    """Accepts connections and never answers (a SIGSTOPped Prometheus)."""

    url: str
    held: list[socket.socket] = field(default_factory=list)


@pytest.fixture
def hung_server() -> Iterator[HungServer]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.05)
    server = HungServer(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def accept_and_hold() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server.held.append(conn)

    thread = threading.Thread(target=accept_and_hold, name="hung-prometheus", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in server.held:
            conn.close()
    assert not thread.is_alive()


def test_a_hung_server_costs_a_cycle_one_deadline(hung_server: HungServer) -> None:
    """Ten queries, four at a time, each with the whole timeout, made 3 x 5 s per cycle; now
    all of a cycle's queries share one deadline, and the next cycle is no longer."""
    s = load_operator_settings(prometheus_url=hung_server.url, prometheus_timeout_s=1.0)
    collector = PrometheusCollector(s)
    try:
        for _ in range(2):
            start = time.monotonic()
            collection = collector.collect([APP])
            elapsed = time.monotonic() - start
            assert elapsed < 2.5
            assert collection.error is not None
            assert "no answer within the cycle's deadline of 1 s" in collection.error
            assert collection.queries == len(QUERY_NAMES)
            assert collection.samples == {}
    finally:
        collector.close()
    assert hung_server.held  # the queries did reach the server


def test_a_timeout_names_the_deadline() -> None:
    """httpx's own timeout (the query's share of the deadline) reads as the deadline."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    collector = PrometheusCollector(
        load_operator_settings(prometheus_timeout_s=3.0), transport=httpx.MockTransport(handler)
    )
    try:
        collection = collector.collect([APP])
    finally:
        collector.close()
    assert collection.error == "no answer within the cycle's deadline of 3 s (ReadTimeout)"
