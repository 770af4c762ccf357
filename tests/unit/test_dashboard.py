"""The Grafana dashboard file and the code that runs it without Grafana (no Prometheus here).

The file is checked for what Grafana would only reveal by showing an empty or broken panel:
structure, ids, data sources, variables, layout, units, and that every metric it names is one
the operator exports (read from the operator's own registry) or one of the Spark metric names
of the operator's default queries. The e2e test (tests/e2e/test_dashboard.py) then runs every
query against a real Prometheus.
"""

from __future__ import annotations

import json
import re
from itertools import combinations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hrl_autoscaler.config import PrometheusQueries
from hrl_autoscaler.runtime.service.telemetry import OperatorMetrics
from hrl_autoscaler.tools.dashboard import default_dashboard_path, load_dashboard
from hrl_autoscaler.tools.dashboard.command import parse_vars
from hrl_autoscaler.tools.dashboard.model import (
    Dashboard,
    DashboardError,
    expand_layout,
)
from hrl_autoscaler.tools.dashboard.parsing import parse_dashboard
from hrl_autoscaler.tools.dashboard.prometheus import Series
from hrl_autoscaler.tools.dashboard.runner import (
    AnnotationEvent,
    QueryResult,
    VariableError,
    annotation_events,
    parse_label_values,
)
from hrl_autoscaler.tools.dashboard.templating import (
    TemplateError,
    VariableValue,
    builtin_variables,
    duration_text,
    format_value,
    interpolate,
    intervals,
    parse_duration,
    referenced_variables,
    render_legend,
    round_interval,
)
from hrl_autoscaler.tools.dashboard.units import format_value as format_unit

PATH = default_dashboard_path()
DS = "${datasource}"
UNITS = {"none", "short", "ops", "opm", "ms", "s", "currencyUSD", "percentunit"}
BUILTINS = set(builtin_variables(intervals(3600, 1000)))


@pytest.fixture(scope="module")
def board() -> Dashboard:
    return load_dashboard(PATH)


@pytest.fixture(scope="module")
def raw() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(PATH.read_text())
    return loaded


def _all_exprs(board: Dashboard) -> list[str]:
    exprs = [t.expr for _, p in board.query_panels() for t in p.targets]
    return exprs + [a.expr for a in board.annotations]


# -- the file --------------------------------------------------------------------------------


def test_the_chart_ships_a_grafana_dashboard_model(board: Dashboard) -> None:
    assert PATH.exists()
    assert board.uid == "hrl-autoscaler"
    assert board.schema_version >= 39
    # a ConfigMap holds at most 1 MiB; the Grafana sidecar loads the file from one
    assert PATH.stat().st_size < 900_000
    datasource = board.variable("datasource")
    assert datasource is not None
    assert (datasource.type, datasource.query) == ("datasource", "prometheus")
    for name in ("namespace", "application"):
        variable = board.variable(name)
        assert variable is not None
        assert variable.type == "query"
        assert variable.multi
        assert variable.include_all
        assert variable.datasource_uid == DS
        _, label = parse_label_values(variable.query)
        assert label == name
    assert [v.name for v in board.variables] == ["datasource", "namespace", "application"]


def test_panel_ids_are_unique_across_rows_and_their_children(raw: dict[str, object]) -> None:
    ids: list[int] = []

    def walk(panels: object) -> None:
        assert isinstance(panels, list)
        for p in panels:
            ids.append(p["id"])
            walk(p.get("panels", []))

    walk(raw["panels"])
    assert len(ids) == len(set(ids)), sorted(ids)


def test_every_panel_queries_the_datasource_variable(board: Dashboard) -> None:
    panels = board.query_panels()
    assert len(panels) >= 20
    for _, panel in panels:
        assert panel.type in ("timeseries", "stat"), panel.title
        assert panel.datasource_uid == DS, panel.title
        assert panel.targets, f"{panel.title} has no targets"
        refs = [t.ref_id for t in panel.targets]
        assert len(refs) == len(set(refs)), panel.title
        for target in panel.targets:
            assert target.datasource_uid == DS, f"{panel.title} {target.ref_id}"
    for annotation in board.annotations:
        assert annotation.datasource_uid == DS, annotation.name


def test_every_panel_has_a_unit_and_a_description(board: Dashboard) -> None:
    for _, panel in board.query_panels():
        assert panel.unit in UNITS, f"{panel.title}: unit {panel.unit!r}"
        assert len(panel.description) > 20, panel.title
        if panel.type == "stat":
            assert panel.thresholds, panel.title
            assert panel.thresholds[0].value is None, f"{panel.title}: no base threshold"


def test_every_referenced_variable_is_declared(board: Dashboard) -> None:
    declared = {v.name for v in board.variables} | BUILTINS
    texts = _all_exprs(board) + [v.query for v in board.variables]
    texts += [p.title for p in board.panels if p.is_row]
    for text in texts:
        missing = referenced_variables(text) - declared
        assert not missing, f"{text!r} uses undeclared {missing}"
    # and each query is filtered by the variables (a panel ignoring them misleads)
    for section, panel in board.query_panels():
        if section.title.startswith("Application"):
            for t in panel.targets:
                assert "$application" in t.expr, f"{panel.title} {t.ref_id}"


def test_rows_and_layout_do_not_overlap_even_when_repeated(board: Dashboard) -> None:
    titles = [s.title for s in board.sections()]
    assert titles == ["Application: $application", "Operator health", "Budget"]
    app_row = board.sections()[0].row
    assert app_row is not None
    assert app_row.repeat == "application"
    for apps in (["a"], ["a", "b", "c"]):
        placed, height = expand_layout(board, {"application": apps})
        for p in placed:
            assert p.grid.x >= 0, p.panel.title
            assert p.grid.right <= 24, p.panel.title
            assert p.grid.w > 0, p.panel.title
            assert p.grid.h > 0, p.panel.title
        for a, b in combinations(placed, 2):
            assert not a.grid.overlaps(b.grid), (a.panel.title, a.scope, b.panel.title, b.scope)
        section = board.sections()[0].height
        rest = sum(s.height for s in board.sections()[1:])
        assert height == section * len(apps) + rest
        scopes = [p.scope for p in placed if p.panel.title == "Latency vs SLO"]
        assert scopes == [{"application": a} for a in apps]


def test_the_application_row_has_what_the_issue_asks_for(board: Dashboard) -> None:
    app = board.sections()[0]
    by_title = {p.title: p for p in app.panels}
    assert {
        "Load vs processing rate",
        "Executors: in force vs target",
        "Latency vs SLO",
        "Cost per hour",
        "Meta reward",
    } <= set(by_title)
    weights = next(p for t, p in by_title.items() if t.startswith("Reward weights"))
    assert {t.legend_format for t in weights.targets} == {
        "alpha (cost)",
        "beta (latency)",
        "gamma (throughput)",
    }
    latency = by_title["Latency vs SLO"]
    assert latency.unit == "ms"
    slo = next(t for t in latency.targets if "latency_slo" in t.expr)
    assert latency.styles[slo.legend_format].dashed
    assert by_title["Cost per hour"].unit == "currencyUSD"
    assert by_title["Load vs processing rate"].unit == "ops"
    health = {p.title for p in board.sections()[1].panels}
    assert {"Errors", "Fallbacks and holds", "Decision latency"} <= health
    names = {a.name for a in board.annotations}
    assert names == {"Scaling actions", "Weight updates"}


def _exported_metric_names() -> set[str]:
    """Every sample name the operator serves (counters with _total, histogram _bucket...)."""
    from prometheus_client import generate_latest

    from hrl_autoscaler.config import AnnotationDefaults
    from hrl_autoscaler.runtime.core.annotations import resolve_settings
    from hrl_autoscaler.runtime.core.application import AppKey
    from hrl_autoscaler.runtime.core.metrics import SystemMetrics
    from hrl_autoscaler.runtime.core.ports import BudgetRef, CycleSummary, DecisionRecord
    from hrl_autoscaler.runtime.core.weights import Weights
    from hrl_autoscaler.runtime.service.budget_metrics import BudgetMetrics

    m = OperatorMetrics()
    key = AppKey("ns", "app")
    settings = resolve_settings({}, AnnotationDefaults(), None).settings
    m.app_seen(key, settings, Weights.of(1, 1, 1), 2)
    metrics = SystemMetrics(1.0, 1.0, 0.0, 0.5, 0.5, 100.0, 2, 2)
    m.decision(key, DecisionRecord(2, 3, 3, "ppo", "auto", 0.001, metrics))
    m.meta(key, "slo", 0.5)
    m.cycle(CycleSummary(1, 1, 1, 1, 0, 10, 0.1))
    m.leader.set(1)
    budgets = BudgetMetrics(m.registry)
    ref = BudgetRef("ns", "budget", "uid")
    row = {"application": "ns/app", "cap": 3, "executors": 2, "wanted": 4, "index": 0.5}
    status = {"usedExecutors": 2, "limitExecutors": 4, "allocatedExecutors": 3}
    budgets.status(ref, {**status, "utilisation": 0.5, "policy": "whittle", "allocations": [row]})
    budgets.limited(ref, key, 4, 3)
    text = generate_latest(m.registry).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_operator_metric_the_dashboard_reads_is_exported(board: Dashboard) -> None:
    exported = _exported_metric_names()
    used = {n for e in _all_exprs(board) for n in re.findall(r"hrl_autoscaler_\w+", e)}
    assert used, "the dashboard reads none of the operator's metrics"
    assert used <= exported, used - exported


def test_the_spark_metric_names_are_those_of_the_operators_queries(board: Dashboard) -> None:
    """The dashboard reads Spark the way the operator does (PrometheusQueries' defaults)."""
    queries = " ".join(PrometheusQueries().templates().values())
    spark = set()
    for expr in _all_exprs(board):
        spark |= set(re.findall(r"metrics_executor_\w+|kafka_\w+", expr))
        spark |= set(re.findall(r"_spark_streaming_\.\+_(\w+_Value)", expr))
    assert {"inputRate_total_Value", "processingRate_total_Value", "latency_Value"} <= spark
    for name in spark:
        assert name in queries, f"{name} is not read by the operator's default queries"


def test_a_broken_dashboard_is_refused_with_the_panel_named() -> None:
    good = {"id": 1, "type": "stat", "title": "x", "gridPos": {"x": 0, "y": 0, "w": 4, "h": 4}}
    with pytest.raises(DashboardError, match="no panels"):
        parse_dashboard({})
    with pytest.raises(DashboardError, match="gridPos"):
        parse_dashboard({"panels": [{**good, "gridPos": {"x": 0}}]})
    with pytest.raises(DashboardError, match=r"panel 1 .*no expr"):
        parse_dashboard({"panels": [{**good, "targets": [{"refId": "A"}]}]})


# -- templating ------------------------------------------------------------------------------


def test_single_multi_and_all_values_are_formatted_as_grafana_does() -> None:
    assert format_value(VariableValue(("a.b",))) == "a.b"  # single: no regex escaping
    assert format_value(VariableValue(("it's",))) == "it\\\\'s"
    assert format_value(VariableValue(("a.b",), regex_form=True)) == "a\\\\.b"
    assert format_value(VariableValue(("a", "b-c"), regex_form=True)) == "(a|b-c)"
    assert format_value(VariableValue(("x",), True, all_value=".*")) == ".*"
    multi = VariableValue(("a", "b"), regex_form=True)
    assert format_value(multi, "pipe") == "a|b"
    assert format_value(multi, "csv") == "a,b"
    with pytest.raises(TemplateError, match="format"):
        format_value(multi, "json")


def test_interpolation_of_every_syntax_and_the_regex_matcher_it_builds() -> None:
    scope: dict[str, VariableValue | str] = {
        "namespace": VariableValue(("demo",), regex_form=True),
        "application": VariableValue(("smart-hospital", "traffic.sensors"), regex_form=True),
        "__rate_interval": "4s",
    }
    expr = 'rate(x{namespace=~"$namespace", application=~"${application}"}[$__rate_interval])'
    assert interpolate(expr, scope) == (
        'rate(x{namespace=~"demo", application=~"(smart-hospital|traffic\\\\.sensors)"}[4s])'
    )
    assert interpolate("[[namespace]] ${application:pipe}", scope) == (
        "demo smart-hospital|traffic.sensors"
    )
    # what Prometheus receives is a regex that matches exactly the two names
    matcher = interpolate("${application}", scope).replace("\\\\", "\\")
    assert re.fullmatch(matcher, "traffic.sensors")
    assert not re.fullmatch(matcher, "trafficXsensors")
    with pytest.raises(TemplateError, match=r"\$cluster"):
        interpolate("x{cluster=~'$cluster'}", scope)


def test_grafana_intervals() -> None:
    assert round_interval(0.4) == 0.5
    assert round_interval(3.6) == 5.0
    assert round_interval(50) == 60.0
    one_hour = intervals(3600, 1800, scrape_interval_s=15)
    assert one_hour.interval_s == 15.0  # 2 s rounds to 2 s, below the 15 s scrape interval
    assert one_hour.rate_interval_s == 60.0  # 4 scrapes
    day = intervals(86400, 900, scrape_interval_s=15)
    assert day.interval_s == 120.0
    assert day.rate_interval_s == 135.0  # interval + one scrape
    assert intervals(60, 900, scrape_interval_s=15, min_interval_s=1).rate_interval_s == 4.0
    builtins = builtin_variables(intervals(600, 900, scrape_interval_s=1))
    assert builtins["__range"] == "600s"
    assert builtins["__rate_interval"] == "4s"
    assert builtins["__interval"] == "1s"
    # Prometheus refuses more than 11,000 points per series: the step widens
    month = intervals(86400 * 30, 1_000_000, scrape_interval_s=1)
    assert month.interval_s == 2.0
    assert month.step_s == pytest.approx(86400 * 30 / 11000)


def test_durations() -> None:
    assert parse_duration("10m") == 600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    with pytest.raises(ValueError, match="duration"):
        parse_duration("10 minutes")
    assert duration_text(4.0) == "4s"
    assert duration_text(1.5) == "1500ms"


def test_legends_and_label_values_queries() -> None:
    labels = {"__name__": "up", "application": "a", "objective": "slo"}
    assert render_legend("{{application}} / {{ objective }}", labels) == "a / slo"
    assert render_legend("{{missing}}x", labels) == "x"
    assert render_legend("", labels) == 'up{application="a", objective="slo"}'
    assert parse_label_values('label_values(m{a="1", b=~"$x"}, application)') == (
        'm{a="1", b=~"$x"}',
        "application",
    )
    assert parse_label_values("label_values(namespace)") == (None, "namespace")
    with pytest.raises(VariableError, match="label_values"):
        parse_label_values("query_result(up)")


def test_annotation_points_one_step_apart_form_one_region() -> None:
    from hrl_autoscaler.tools.dashboard.model import AnnotationQuery

    annotation = AnnotationQuery(
        "Scaling actions",
        "x",
        "orange",
        "{{application}} scaled {{direction}}",
        "",
        ("application", "direction"),
    )
    labels = {"application": "a", "direction": "up", "namespace": "n"}
    points = ((10.0, 0.0), (11.0, 1.0), (12.0, 0.5), (13.0, 0.0), (20.0, 2.0))
    result = QueryResult(
        "annotation", "", "Scaling actions", "Anno", "x", (Series(labels, points),), step_s=1.0
    )
    events = annotation_events(annotation, result)
    assert [(e.time, e.time_end) for e in events] == [(11.0, 12.0), (20.0, 20.0)]
    assert events[0] == AnnotationEvent(
        "Scaling actions", "orange", 11.0, 12.0, "a scaled up", "", ("a", "up"), labels
    )


def test_units_as_grafana_shows_them() -> None:
    assert format_unit(5700, "ops") == "5.7K ops/s"
    assert format_unit(850, "ms") == "850 ms"
    assert format_unit(1500, "ms") == "1.50 s"
    assert format_unit(0.0002, "s") == "200 µs"
    assert format_unit(8.33, "currencyUSD", 2) == "$8.33"
    assert format_unit(0.8, "percentunit", 0) == "80%"
    assert format_unit(17, "none", 0) == "17"


def test_cli_variables() -> None:
    assert parse_vars(["namespace=demo", "application=a,b", "application=c"]) == {
        "namespace": ["demo"],
        "application": ["a", "b", "c"],
    }
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_vars(["namespace"])
