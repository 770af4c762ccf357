"""The Prometheus HTTP API calls Grafana makes for a dashboard: range queries and label values.

Range queries are POSTed as forms (Prometheus accepts both), so a long PromQL expression never
hits a URL length limit; label values are GET only. Errors keep Prometheus' own message (a
parse error names the position), which is what a user fixing a dashboard query needs to read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from hrl_autoscaler.tools.lifecycle import StartStop


class PrometheusQueryError(RuntimeError):
    """Prometheus could not be reached or refused the query; the message says which."""


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and its finite (unix seconds, value) points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]

    @property
    def has_data(self) -> bool:
        return bool(self.points)


class PrometheusClient(StartStop):
    """A small synchronous client; use as a context manager to close its connections."""

    def __init__(
        self, url: str, timeout_s: float = 15.0, headers: Mapping[str, str] | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s, headers=dict(headers or {}))

    def start(self) -> PrometheusClient:
        """Nothing to start: the HTTP client connects on first use."""
        return self

    def stop(self) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, path: str, data: Mapping[str, Any], method: str = "POST") -> Any:
        try:
            if method == "POST":
                response = self._http.post(f"{self.url}{path}", data=dict(data))
            else:
                response = self._http.get(f"{self.url}{path}", params=dict(data))
        except httpx.HTTPError as exc:
            raise PrometheusQueryError(f"{self.url}{path}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusQueryError(
                f"{self.url}{path}: HTTP {response.status_code}, not JSON: {response.text[:200]}"
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", response.text[:200]) if isinstance(body, dict) else body
            raise PrometheusQueryError(f"HTTP {response.status_code}: {error}")
        return body.get("data")

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[Series]:
        """Every series of ``expr`` over [start, end] (unix seconds) at ``step_s``."""
        data = self._call(
            "/api/v1/query_range",
            {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"},
        )
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            kind = data.get("resultType") if isinstance(data, dict) else data
            raise PrometheusQueryError(f"expected a matrix, got {kind!r}")
        out = []
        for item in data.get("result") or []:
            points = []
            for t, v in item.get("values") or []:
                try:
                    value = float(v)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(value):
                    points.append((float(t), value))
            labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            out.append(Series(labels, tuple(points)))
        return out

    def label_values(self, label: str, match: str | None, start: float, end: float) -> list[str]:
        """Values of ``label`` on series matching ``match`` (any series when None) in the
        range: what Grafana's ``label_values(match, label)`` variable query lists."""
        data: dict[str, Any] = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        if match:
            data["match[]"] = match
        values = self._call(f"/api/v1/label/{label}/values", data, method="GET")
        if not isinstance(values, list):
            raise PrometheusQueryError(f"label values of {label}: unexpected answer {values!r}")
        return sorted(str(v) for v in values)
