"""The batched Prometheus collector: one instant query per metric per cycle, for every app.

Implements :class:`hrl_autoscaler.runtime.core.ports.MetricsSource`. A query that returns no
series for an application leaves that metric missing (the loop then holds); it is never read as 0,
the trap that silently defeats KEDA's fallback.

Every answer is untrusted input: a response of an unexpected shape is one failed query
(:class:`QueryError`, naming the offending field), never another exception, and a cycle's
queries together get one deadline (``prometheus_timeout_s``), so a hung server costs a cycle
at most that long.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import httpx

from hrl_autoscaler.config import OperatorSettings
from hrl_autoscaler.runtime.core.application import AppSnapshot
from hrl_autoscaler.runtime.core.sampling import Collection, Series, SeriesMatcher, assign
from hrl_autoscaler.runtime.k8s.promauth import basic_auth, log_transport_warnings, tls_verify

log = logging.getLogger("hrl_autoscaler.runtime.k8s.prometheus")

#: Most queries sent in parallel: every default query (about ten) goes in one round trip, so
#: a slow server costs a cycle one query's time, not several rounds of it.
PARALLEL_QUERIES = 16
#: Longest server error text kept (it goes into events and logs every cycle).
ERROR_TEXT_LIMIT = 200
#: Longest excerpt of an offending value quoted in a QueryError.
_EXCERPT_LIMIT = 60
_VALUE_SHAPE = 'expected [timestamp, "number"]'


class QueryError(RuntimeError):
    """Prometheus answered, but not with a vector (bad template, server error, odd answer)."""


class PrometheusUnreachableError(RuntimeError):
    """Prometheus could not be reached, or did not answer within the cycle's deadline."""


def promql_duration(seconds: float) -> str:
    """A PromQL duration for ``seconds`` (milliseconds resolution)."""
    return f"{max(1, round(seconds * 1000))}ms"


def render(template: str, window_s: float) -> str:
    return template.replace("{window}", promql_duration(window_s))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _excerpt(value: Any) -> str:
    """A short ``repr`` of an offending value (a response can be megabytes)."""
    try:
        text = repr(value)
    except Exception:  # a repr too deep to build (RecursionError) or otherwise broken
        text = f"<{type(value).__name__}>"
    return _clip(text, _EXCERPT_LIMIT)


def _kind(value: Any) -> str:
    """The JSON name of ``value``'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _error_text(body: dict[Any, Any]) -> str:
    """What a Prometheus error answer says went wrong."""
    error = body.get("error")
    if isinstance(error, str) and error:
        return _clip(error, ERROR_TEXT_LIMIT)
    return f"status {_excerpt(body.get('status'))} without an error message"


def parse_vector(body: Any) -> list[Series]:
    """The series of an instant-query response; raises :class:`QueryError` for any other shape.

    ``body`` is untrusted (a proxy, another server, a Prometheus bug): every field is checked,
    and the error names the offending one (``data.result[3].value: ...``). Sample values come
    as strings (``"12"``, ``"NaN"``, ``"+Inf"``); numbers are accepted too. A non-finite value
    (PromQL's division by zero) skips its series: it is no error, and no number to decide on.
    """
    if not isinstance(body, dict):
        raise QueryError(f"response: expected an object, got {_kind(body)}")
    if body.get("status") != "success":
        raise QueryError(_error_text(body))
    data = body.get("data")
    if not isinstance(data, dict):
        raise QueryError(f"data: expected an object, got {_kind(data)}")
    result_type = data.get("resultType")
    if result_type != "vector":
        raise QueryError(f"data.resultType: expected 'vector', got {_excerpt(result_type)}")
    result = data.get("result")
    if result is None:  # no series
        return []
    if not isinstance(result, list):
        raise QueryError(f"data.result: expected a list, got {_kind(result)}")
    series: list[Series] = []
    for index, item in enumerate(result):
        if not isinstance(item, dict):
            raise QueryError(f"data.result[{index}]: expected an object, got {_kind(item)}")
        metric = item.get("metric")
        if not isinstance(metric, dict):
            raise QueryError(
                f"data.result[{index}].metric: expected an object, got {_kind(metric)}"
            )
        for key, label in metric.items():
            if not isinstance(key, str) or not isinstance(label, str):
                raise QueryError(
                    f"data.result[{index}].metric: expected string labels, "
                    f"got {_excerpt(key)}: {_excerpt(label)}"
                )
        pair = item.get("value")
        if pair is None and "histogram" in item:
            raise QueryError(
                f"data.result[{index}]: a native histogram, not a number (fix the template)"
            )
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or isinstance(pair[0], bool)
            or not isinstance(pair[0], int | float)
        ):
            raise QueryError(f"data.result[{index}].value: {_VALUE_SHAPE}, got {_excerpt(pair)}")
        raw = pair[1]
        if isinstance(raw, str):
            try:
                value = float(raw)
            except ValueError:
                raise QueryError(
                    f"data.result[{index}].value: {_excerpt(raw)} is not a number"
                ) from None
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            try:
                value = float(raw)
            except OverflowError:  # an integer beyond float range: as good as +-Inf
                continue
        else:
            raise QueryError(f"data.result[{index}].value: {_VALUE_SHAPE}, got {_excerpt(pair)}")
        if math.isfinite(value):
            series.append(Series(dict(metric), value))
    return series


class PrometheusCollector:
    def __init__(self, settings: OperatorSettings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        log_transport_warnings(settings)  # TLS off, or credentials over http: said at start
        self.http = httpx.Client(
            base_url=settings.prometheus_url.rstrip("/"),
            timeout=settings.prometheus_timeout_s,
            verify=tls_verify(settings),
            auth=basic_auth(settings),
            transport=transport,
        )
        self.templates = settings.queries.templates()
        workers = max(1, min(PARALLEL_QUERIES, len(self.templates)))
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="promql")

    def _headers(self) -> dict[str, str]:
        s = self.settings
        token = s.prometheus_bearer_token.get_secret_value() if s.prometheus_bearer_token else None
        if token is None and s.prometheus_bearer_token_file is not None:
            token = s.prometheus_bearer_token_file.read_text().strip()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _late(self) -> str:
        return f"no answer within the cycle's deadline of {self.settings.prometheus_timeout_s:g} s"

    def query(
        self, promql: str, headers: dict[str, str], deadline: float | None = None
    ) -> list[Series]:
        """The series of one instant query, answered by ``deadline`` (``time.monotonic()``;
        default: ``prometheus_timeout_s`` from now). Raises :class:`QueryError` when Prometheus
        answers with anything but a vector, :class:`PrometheusUnreachableError` when it does not
        answer (in time)."""
        if deadline is None:
            deadline = time.monotonic() + self.settings.prometheus_timeout_s
        remaining = deadline - time.monotonic()
        if remaining <= 0:  # queued behind queries that used up the cycle's time
            raise PrometheusUnreachableError(self._late())
        try:
            response = self.http.post(
                "/api/v1/query", data={"query": promql}, headers=headers, timeout=remaining
            )
        except httpx.TimeoutException as exc:
            raise PrometheusUnreachableError(f"{self._late()} ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise PrometheusUnreachableError(f"{type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status in (401, 403):
            raise PrometheusUnreachableError(f"HTTP {status}: check the Prometheus auth")
        try:
            body = response.json()
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
            raise QueryError(f"HTTP {status}: not JSON") from None
        if not response.is_success:
            if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
                raise QueryError(_error_text(body))  # Prometheus' own error (bad_data, ...)
            raise QueryError(f"HTTP {status}: not a Prometheus answer ({_excerpt(body)})")
        return parse_vector(body)

    def collect(self, apps: Sequence[AppSnapshot]) -> Collection:
        """Every query once, for all ``apps``; never raises (a surprise is a failed cycle)."""
        try:
            return self._collect(apps)
        except Exception as exc:
            log.warning("collecting metrics failed", exc_info=True)
            return Collection.failed(
                f"collecting failed: {type(exc).__name__}: {exc}", queries=len(self.templates)
            )

    def _collect(self, apps: Sequence[AppSnapshot]) -> Collection:
        try:
            headers = self._headers()
        except (OSError, ValueError) as exc:  # missing, unreadable or not UTF-8
            return Collection.failed(f"bearer token file unreadable: {exc}")
        deadline = time.monotonic() + self.settings.prometheus_timeout_s
        window = self.settings.window_s
        names = list(self.templates)
        futures: dict[str, Future[list[Series]]] = {
            name: self.pool.submit(
                self.query, render(self.templates[name], window), headers, deadline
            )
            for name in names
        }
        done, _ = wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
        results: dict[str, list[Series]] = {}
        errors: dict[str, str] = {}
        unreachable: list[str] = []
        surprises: set[str] = set()
        for name in names:
            future = futures[name]
            if future not in done:  # still waiting for a hung server: give up on it
                future.cancel()
                unreachable.append(self._late())
                errors[name] = self._late()
                continue
            try:
                results[name] = future.result()
            except PrometheusUnreachableError as exc:
                unreachable.append(str(exc))
                errors[name] = str(exc)
            except QueryError as exc:
                errors[name] = str(exc)
            except Exception as exc:  # a bug or a surprise: this query failed, not the cycle
                errors[name] = f"{type(exc).__name__}: {exc}"
                surprises.add(name)
                log.warning("query %s failed: %s", name, errors[name], exc_info=exc)
        if unreachable:  # a server that drops some queries is not one to decide on
            return Collection.failed(unreachable[0], queries=len(names))
        for name, error in errors.items():
            if name not in surprises:  # logged above, with its traceback
                log.warning("query %s failed: %s", name, error)
        q = self.settings.queries
        matcher = SeriesMatcher(apps, q.name_labels, q.namespace_labels)
        return Collection(assign(results, matcher), None, errors, len(names))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.http.close()
