"""Check and render the dashboard in one go: what the demo and the e2e test do at the end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hrl_autoscaler.tools.dashboard import default_dashboard_path
from hrl_autoscaler.tools.dashboard.model import Dashboard
from hrl_autoscaler.tools.dashboard.parsing import load_dashboard
from hrl_autoscaler.tools.dashboard.prometheus import PrometheusClient
from hrl_autoscaler.tools.dashboard.render import RenderSummary, render_dashboard
from hrl_autoscaler.tools.dashboard.runner import (
    QueryResult,
    QuerySettings,
    TimeRange,
    check_queries,
    resolve_variables,
)
from hrl_autoscaler.tools.dashboard.templating import VariableValue


@dataclass(frozen=True)
class Snapshot:
    values: Mapping[str, VariableValue]
    results: list[QueryResult]
    render: RenderSummary

    @property
    def failed(self) -> list[QueryResult]:
        return [r for r in self.results if not r.ok]


def snapshot(
    prometheus_url: str,
    out: Path,
    window: TimeRange,
    scrape_interval_s: float,
    variables: Mapping[str, Sequence[str]] | None = None,
    dashboard: Dashboard | None = None,
    colors: int | None = None,
) -> Snapshot:
    """Resolve the variables, run every query once (the check) and write the PNG
    (``colors``: a palette PNG of that many colours)."""
    board = dashboard or load_dashboard(default_dashboard_path())
    settings = QuerySettings(scrape_interval_s=scrape_interval_s)
    with PrometheusClient(prometheus_url) as client:
        values = resolve_variables(board, client, window, variables)
        results = check_queries(client, board, values, window, settings)
        summary = render_dashboard(client, board, values, window, out, settings, colors=colors)
    return Snapshot(values, results, summary)
