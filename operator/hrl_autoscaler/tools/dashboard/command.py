"""``hrl-autoscaler dashboard check|render``: the Grafana dashboard against a real Prometheus.

``check`` is for anyone installing the chart: before (or instead of) opening Grafana, it says
which panels would be empty and why (the query as sent and Prometheus' answer), and exits 1
when any query returns nothing, so it can gate a rollout. ``render`` draws the dashboard to a
PNG from the same queries.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hrl_autoscaler.tools.dashboard import default_dashboard_path
from hrl_autoscaler.tools.dashboard.model import Dashboard, DashboardError
from hrl_autoscaler.tools.dashboard.parsing import load_dashboard
from hrl_autoscaler.tools.dashboard.prometheus import PrometheusClient
from hrl_autoscaler.tools.dashboard.runner import (
    QueryResult,
    QuerySettings,
    TimeRange,
    VariableError,
    check_queries,
    resolve_variables,
)
from hrl_autoscaler.tools.dashboard.templating import VariableValue, parse_duration

console = Console(stderr=True)

HELP = """\
Run the Grafana dashboard's queries against Prometheus, as Grafana would.

  check   every panel query and annotation query once, with the variables substituted;
          print a table (series with data per query) and exit 1 if any returns nothing
  render  draw the dashboard to a PNG: panels on Grafana's grid, repeated rows expanded
          per application, units, legends, thresholds and annotation markers

Variables: --var NAME=VALUE (repeat it, or VALUE1,VALUE2 for several; All for every value).
A variable not given is resolved like Grafana does: its label_values(...) query lists the
values in the time range and All is selected. $__interval, $__rate_interval and $__range come
from --since and --scrape-interval (set it to your Prometheus' scrape interval; Grafana's
Prometheus data source assumes 15s).

Examples:
  hrl-autoscaler dashboard check --prometheus http://prometheus:9090 --since 1h
  hrl-autoscaler dashboard check --var namespace=streaming --var application=orders,clicks
  hrl-autoscaler dashboard render --since 10m --scrape-interval 1s --out docs/dashboard.png
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = HELP
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("action", choices=["check", "render"], help="what to do")
    parser.add_argument(
        "--prometheus",
        default="http://localhost:9090",
        metavar="URL",
        help="Prometheus base URL (default %(default)s)",
    )
    parser.add_argument(
        "--dashboard",
        type=Path,
        default=None,
        metavar="FILE",
        help="dashboard JSON (default: the chart's charts/hrl-autoscaler/dashboards/"
        "hrl-autoscaler.json in this checkout)",
    )
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template variable's value(s), e.g. namespace=streaming or application=a,b",
    )
    parser.add_argument(
        "--since",
        default="1h",
        metavar="DURATION",
        help="time range ending now, e.g. 10m, 1h (default %(default)s)",
    )
    parser.add_argument(
        "--end",
        type=float,
        default=None,
        metavar="UNIX_S",
        help="end of the time range as unix seconds (default: now)",
    )
    parser.add_argument(
        "--scrape-interval",
        default="15s",
        metavar="DURATION",
        help="the data source's scrape interval: sets $__rate_interval (default %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("dashboard.png"),
        metavar="PNG",
        help="render only: the PNG to write (default %(default)s)",
    )
    parser.add_argument("--dpi", type=int, default=100, help="render only (default %(default)s)")
    parser.add_argument(
        "--colors",
        type=int,
        default=None,
        metavar="N",
        help="render only: write a palette PNG of N colours (256: a third of the size)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="OUT", help="check only: also write the results as JSON"
    )


def parse_vars(items: Sequence[str]) -> dict[str, list[str]]:
    """``["namespace=a", "application=b,c"]`` -> ``{"namespace": ["a"], "application": ["b",
    "c"]}`` (a repeated name adds values)."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--var {item!r}: expected NAME=VALUE")
        values = [v.strip() for v in value.split(",") if v.strip()]
        if not values:
            raise ValueError(f"--var {item!r}: no value")
        out.setdefault(name.strip(), []).extend(values)
    return out


def results_table(results: Sequence[QueryResult]) -> Table:
    table = Table(title="dashboard queries", title_justify="left", show_lines=False)
    for column in ("", "row", "panel / annotation", "ref", "series", "points", "query / error"):
        table.add_column(column, overflow="fold")
    for r in results:
        mark = "[green]ok[/]" if r.ok else "[red]EMPTY[/]" if r.error is None else "[red]ERROR[/]"
        detail = escape(r.expr) if r.error is None else f"[red]{escape(r.error)}[/]"
        table.add_row(
            mark,
            escape(r.section),
            escape(r.title),
            r.ref_id,
            str(r.series_with_data),
            str(r.points),
            detail,
        )
    return table


def results_json(results: Sequence[QueryResult]) -> list[dict[str, object]]:
    return [
        {
            "kind": r.kind,
            "section": r.section,
            "title": r.title,
            "ref_id": r.ref_id,
            "expr": r.expr,
            "series_with_data": r.series_with_data,
            "points": r.points,
            "error": r.error,
            "ok": r.ok,
        }
        for r in results
    ]


def _load(args: argparse.Namespace) -> Dashboard:
    path = args.dashboard or default_dashboard_path()
    if args.dashboard is None and not path.exists():
        raise ValueError(f"no dashboard at {path}; pass --dashboard FILE")
    return load_dashboard(path)


def run(args: argparse.Namespace) -> int:
    """The subcommand; 0 when every query returned data (check) or the PNG was written."""
    try:
        dashboard = _load(args)
        window = TimeRange.last(parse_duration(args.since), args.end)
        settings = QuerySettings(scrape_interval_s=parse_duration(args.scrape_interval))
        given = parse_vars(args.var)
    except (DashboardError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 2
    with PrometheusClient(args.prometheus) as client:
        try:
            values = resolve_variables(dashboard, client, window, given)
        except VariableError as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}")
            return 1
        _print_variables(dashboard, values)
        if args.action == "check":
            return _check(client, dashboard, values, window, settings, args.json)
        from hrl_autoscaler.tools.dashboard.render import render_dashboard

        summary = render_dashboard(
            client, dashboard, values, window, args.out, settings, dpi=args.dpi, colors=args.colors
        )
    console.print(
        f"wrote {summary.path} ({summary.width_px}x{summary.height_px} px): {summary.panels} "
        f"panels, {summary.queries} queries, {summary.events} annotation events"
    )
    if summary.empty_panels:
        console.print(f"[yellow]no data:[/] {escape('; '.join(summary.empty_panels))}")
    return 0


def _print_variables(dashboard: Dashboard, values: dict[str, VariableValue]) -> None:
    for variable in dashboard.variables:
        if variable.type == "datasource":
            continue
        chosen = values[variable.name]
        console.print(f"${variable.name} = {escape(', '.join(chosen.values))}")


def _check(
    client: PrometheusClient,
    dashboard: Dashboard,
    values: dict[str, VariableValue],
    window: TimeRange,
    settings: QuerySettings,
    json_out: Path | None,
) -> int:
    results = check_queries(client, dashboard, values, window, settings)
    Console(width=200).print(results_table(results))
    failed = [r for r in results if not r.ok]
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results_json(results), indent=2) + "\n", encoding="utf-8")
    if failed:
        console.print(f"[red]{len(failed)} of {len(results)} queries returned no data[/]")
        return 1
    console.print(f"[green]all {len(results)} queries returned data[/]")
    return 0
