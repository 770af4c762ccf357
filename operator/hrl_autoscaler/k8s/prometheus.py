"""The batched Prometheus collector: one instant query per metric per cycle, for every app.

Implements :class:`hrl_autoscaler.core.pipeline.MetricsSource`. A query that returns no series
for an application leaves that metric missing (the loop then holds); it is never read as 0,
the trap that silently defeats KEDA's fallback.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from hrl_autoscaler.config import OperatorSettings
from hrl_autoscaler.core.application import AppSnapshot
from hrl_autoscaler.core.sampling import Collection, Series, SeriesMatcher, assign

log = logging.getLogger("hrl_autoscaler.k8s.prometheus")

#: Queries sent in parallel: ten small queries take one round trip instead of ten.
PARALLEL_QUERIES = 4


class QueryError(RuntimeError):
    """Prometheus answered, but not with a vector (bad template, server error)."""


class PrometheusUnreachableError(RuntimeError):
    """Prometheus could not be reached (connection refused, timeout, TLS)."""


def promql_duration(seconds: float) -> str:
    """A PromQL duration for ``seconds`` (milliseconds resolution)."""
    return f"{max(1, round(seconds * 1000))}ms"


def render(template: str, window_s: float) -> str:
    return template.replace("{window}", promql_duration(window_s))


def parse_vector(body: Any) -> list[Series]:
    """The series of an instant-query response (NaN and unparsable values skipped)."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error", "no error message") if isinstance(body, dict) else body
        raise QueryError(str(error))
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise QueryError(f"expected an instant vector, got {data.get('resultType')!r}")
    series = []
    for item in data.get("result") or []:
        try:
            value = float(item["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if math.isfinite(value):
            series.append(Series({str(k): str(v) for k, v in item["metric"].items()}, value))
    return series


class PrometheusCollector:
    def __init__(self, settings: OperatorSettings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        verify: Any = settings.prometheus_verify_tls
        if verify and settings.prometheus_ca_file is not None:
            verify = str(settings.prometheus_ca_file)
        auth = None
        if settings.prometheus_username is not None and settings.prometheus_password is not None:
            auth = httpx.BasicAuth(
                settings.prometheus_username, settings.prometheus_password.get_secret_value()
            )
        self.http = httpx.Client(
            base_url=settings.prometheus_url.rstrip("/"),
            timeout=settings.prometheus_timeout_s,
            verify=verify,
            auth=auth,
            transport=transport,
        )
        self.templates = settings.queries.templates()
        self.pool = ThreadPoolExecutor(PARALLEL_QUERIES, thread_name_prefix="promql")

    def _headers(self) -> dict[str, str]:
        s = self.settings
        token = s.prometheus_bearer_token.get_secret_value() if s.prometheus_bearer_token else None
        if token is None and s.prometheus_bearer_token_file is not None:
            token = s.prometheus_bearer_token_file.read_text().strip()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def query(self, promql: str, headers: dict[str, str]) -> list[Series]:
        try:
            response = self.http.post("/api/v1/query", data={"query": promql}, headers=headers)
        except httpx.HTTPError as exc:
            raise PrometheusUnreachableError(f"{type(exc).__name__}: {exc}") from None
        if response.status_code in (401, 403):
            raise PrometheusUnreachableError(
                f"HTTP {response.status_code}: check the Prometheus auth"
            )
        try:
            body = response.json()
        except ValueError:
            raise QueryError(f"HTTP {response.status_code}: not JSON") from None
        return parse_vector(body)

    def collect(self, apps: Sequence[AppSnapshot]) -> Collection:
        try:
            headers = self._headers()
        except OSError as exc:
            return Collection.failed(f"bearer token file unreadable: {exc}")
        window = self.settings.window_s
        names = list(self.templates)
        futures = {
            name: self.pool.submit(self.query, render(self.templates[name], window), headers)
            for name in names
        }
        results: dict[str, list[Series]] = {}
        errors: dict[str, str] = {}
        unreachable: list[str] = []
        for name in names:
            try:
                results[name] = futures[name].result()
            except PrometheusUnreachableError as exc:
                unreachable.append(str(exc))
                errors[name] = str(exc)
            except QueryError as exc:
                errors[name] = str(exc)
        if unreachable:  # a server that drops some queries is not one to decide on
            return Collection.failed(unreachable[0], queries=len(names))
        for name, error in errors.items():
            log.warning("query %s failed: %s", name, error)
        q = self.settings.queries
        matcher = SeriesMatcher(apps, q.name_labels, q.namespace_labels)
        return Collection(assign(results, matcher), None, errors, len(names))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.http.close()
