"""Resolve a dashboard's variables and run its queries against Prometheus, as Grafana would.

:func:`resolve_variables` fills the template variables in declaration order (a later query may
use an earlier variable, as ``application`` uses ``$namespace``): a value given by the user
wins, else a ``label_values`` query lists the options in the time range and All (or the first
option) is selected. :func:`check_queries` runs every panel target and annotation query once
with those values and says how many series with data each returned; that is the contract the
e2e test and ``hrl-autoscaler dashboard check`` enforce. :func:`annotation_events` turns an
annotation query's series into Grafana's events (a series is "on" where its value is > 0;
points at most one step apart merge into one region).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from hrl_autoscaler.tools.dashboard.model import AnnotationQuery, Dashboard, Panel, Target, Variable
from hrl_autoscaler.tools.dashboard.prometheus import PrometheusClient, PrometheusQueryError, Series
from hrl_autoscaler.tools.dashboard.templating import (
    DEFAULT_SCRAPE_INTERVAL_S,
    Intervals,
    TemplateError,
    VariableValue,
    all_values,
    data_points_for_width,
    interpolate,
    intervals,
    parse_duration,
    render_legend,
    scope_for,
)

ALL = ("All", "$__all")
"""Values that select every option of a variable (Grafana's All)."""
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<args>.*)\)\s*$", re.DOTALL)
#: Annotation queries have no panel width; Grafana's default step for them is 60 s at most.
ANNOTATION_DATA_POINTS = 1000


class VariableError(ValueError):
    """A variable cannot be resolved (no values, unsupported query); the message says why."""


@dataclass(frozen=True)
class TimeRange:
    start: float
    end: float

    @classmethod
    def last(cls, seconds: float, end: float | None = None) -> TimeRange:
        stop = time.time() if end is None else end
        return cls(stop - seconds, stop)

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class QuerySettings:
    """How Grafana's data source is configured: its scrape interval sets ``$__rate_interval``."""

    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
    dashboard_px: int = 1800
    """Width the panels are assumed to have (their maxDataPoints)."""


def parse_label_values(query: str) -> tuple[str | None, str]:
    """``label_values(selector, label)`` or ``label_values(label)`` -> (selector, label)."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise VariableError(f"only label_values(...) variable queries are supported: {query!r}")
    args = match.group("args").strip()
    selector, _, label = args.rpartition(",")
    label = label.strip()
    if not re.fullmatch(r"[a-zA-Z_]\w*", label):
        raise VariableError(f"{query!r}: {label!r} is not a label name")
    return (selector.strip() or None), label


def resolve_variables(
    dashboard: Dashboard,
    client: PrometheusClient,
    window: TimeRange,
    given: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, VariableValue]:
    """Every template variable's selected value(s); ``given`` overrides the defaults."""
    chosen = dict(given or {})
    unknown = sorted(set(chosen) - {v.name for v in dashboard.variables})
    if unknown:
        declared = ", ".join(v.name for v in dashboard.variables)
        raise VariableError(f"unknown variable(s) {', '.join(unknown)} (declared: {declared})")
    resolved: dict[str, VariableValue] = {}
    for variable in dashboard.variables:
        resolved[variable.name] = _resolve(
            variable, client, window, chosen.get(variable.name), resolved
        )
    return resolved


def _resolve(
    variable: Variable,
    client: PrometheusClient,
    window: TimeRange,
    given: Sequence[str] | None,
    earlier: Mapping[str, VariableValue],
) -> VariableValue:
    if variable.type == "datasource":
        return VariableValue.single(given[0] if given else variable.query or "prometheus")
    if given and not any(v in ALL for v in given):
        if len(given) > 1 and not variable.multi:
            raise VariableError(f"${variable.name} takes one value, got {', '.join(given)}")
        return VariableValue(tuple(given), variable.regex_form)
    options = _options(variable, client, window, earlier)
    if not options:
        raise VariableError(
            f"${variable.name}: {variable.query!r} lists no values in the time range "
            "(is Prometheus scraping the operator?)"
        )
    if given or variable.include_all:  # All
        return all_values(options, variable.all_value, variable.regex_form)
    return VariableValue((options[0],), variable.regex_form)


def _options(
    variable: Variable,
    client: PrometheusClient,
    window: TimeRange,
    earlier: Mapping[str, VariableValue],
) -> list[str]:
    if variable.type in ("custom", "constant", "textbox"):
        return [v.strip() for v in variable.query.split(",") if v.strip()]
    if variable.type != "query":
        raise VariableError(f"${variable.name}: variables of type {variable.type!r} unsupported")
    try:
        query = interpolate(variable.query, earlier)
    except TemplateError as exc:
        raise VariableError(f"${variable.name}: {exc}") from None
    selector, label = parse_label_values(query)
    try:
        options = client.label_values(label, selector, window.start, window.end)
    except PrometheusQueryError as exc:
        raise VariableError(f"${variable.name}: {exc}") from None
    if variable.regex:
        pattern = re.compile(variable.regex.strip("/"))
        options = [o for o in options if pattern.search(o)]
    return options


# -- running queries ---------------------------------------------------------------------------


def panel_intervals(panel: Panel, window: TimeRange, settings: QuerySettings) -> Intervals:
    points = panel.max_data_points or data_points_for_width(panel.grid.w, settings.dashboard_px)
    minimum = parse_duration(panel.min_interval) if panel.min_interval else None
    return intervals(window.seconds, points, settings.scrape_interval_s, minimum)


def annotation_intervals(
    annotation: AnnotationQuery, window: TimeRange, settings: QuerySettings
) -> Intervals:
    minimum = parse_duration(annotation.step) if annotation.step else None
    return intervals(window.seconds, ANNOTATION_DATA_POINTS, settings.scrape_interval_s, minimum)


@dataclass(frozen=True)
class QueryResult:
    """One query as run: where it comes from, what was sent, what came back."""

    kind: str
    """``panel`` or ``annotation``."""
    section: str
    title: str
    ref_id: str
    expr: str
    series: tuple[Series, ...] = ()
    error: str | None = None
    step_s: float = 0.0

    @property
    def series_with_data(self) -> int:
        return sum(s.has_data for s in self.series)

    @property
    def points(self) -> int:
        return sum(len(s.points) for s in self.series)

    @property
    def ok(self) -> bool:
        return self.error is None and self.series_with_data > 0


def run_target(
    client: PrometheusClient,
    target: Target,
    scope: Mapping[str, VariableValue | str],
    window: TimeRange,
    iv: Intervals,
) -> tuple[str, list[Series], str | None]:
    """(interpolated expr, series, error) of one target; never raises for a bad query."""
    try:
        expr = interpolate(target.expr, scope)
    except TemplateError as exc:
        return target.expr, [], str(exc)
    try:
        return expr, client.query_range(expr, window.start, window.end, iv.step_s), None
    except PrometheusQueryError as exc:
        return expr, [], str(exc)


def _panel_results(
    client: PrometheusClient,
    dashboard: Dashboard,
    values: Mapping[str, VariableValue],
    window: TimeRange,
    settings: QuerySettings,
) -> Iterator[QueryResult]:
    for section, panel in dashboard.query_panels():
        iv = panel_intervals(panel, window, settings)
        scope = scope_for(values, iv)
        for target in panel.targets:
            if target.hide:
                continue
            expr, series, error = run_target(client, target, scope, window, iv)
            yield QueryResult(
                "panel",
                section.title,
                panel.title,
                target.ref_id,
                expr,
                tuple(series),
                error,
                iv.step_s,
            )


def run_annotation(
    client: PrometheusClient,
    annotation: AnnotationQuery,
    values: Mapping[str, VariableValue],
    window: TimeRange,
    settings: QuerySettings,
) -> QueryResult:
    iv = annotation_intervals(annotation, window, settings)
    target = Target("Anno", annotation.expr, "", annotation.datasource_uid)
    expr, series, error = run_target(client, target, scope_for(values, iv), window, iv)
    return QueryResult(
        "annotation",
        "annotations",
        annotation.name,
        "Anno",
        expr,
        tuple(series),
        error,
        iv.step_s,
    )


def check_queries(
    client: PrometheusClient,
    dashboard: Dashboard,
    values: Mapping[str, VariableValue],
    window: TimeRange,
    settings: QuerySettings | None = None,
) -> list[QueryResult]:
    """Every panel target and enabled annotation query, run once with ``values``."""
    qs = settings or QuerySettings()
    results = list(_panel_results(client, dashboard, values, window, qs))
    for annotation in dashboard.annotations:
        if annotation.enabled:
            results.append(run_annotation(client, annotation, values, window, qs))
    return results


# -- annotation events -------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnotationEvent:
    name: str
    color: str
    time: float
    time_end: float
    title: str
    text: str
    tags: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)


def annotation_events(annotation: AnnotationQuery, result: QueryResult) -> list[AnnotationEvent]:
    """Grafana's events from an annotation query's series (``processEvents`` of its
    Prometheus data source): values > 0 are "on"; "on" points no more than one step apart
    form one region."""
    events: list[AnnotationEvent] = []
    for series in result.series:
        labels = series.labels
        title = render_legend(annotation.title_format, labels) if annotation.title_format else ""
        text = render_legend(annotation.text_format, labels) if annotation.text_format else ""
        tags = tuple(labels[k] for k in annotation.tag_keys if k in labels)
        active = [t for t, v in series.points if v > 0]
        start: float | None = None
        end = 0.0
        for t in active:
            if start is not None and end + result.step_s >= t - 1e-6:
                end = t
                continue
            if start is not None:
                events.append(
                    AnnotationEvent(
                        annotation.name, annotation.color, start, end, title, text, tags, labels
                    )
                )
            start = end = t
        if start is not None:
            events.append(
                AnnotationEvent(
                    annotation.name, annotation.color, start, end, title, text, tags, labels
                )
            )
    return sorted(events, key=lambda e: e.time)
