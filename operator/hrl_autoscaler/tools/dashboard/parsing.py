"""Reading a Grafana dashboard JSON file into the typed records of :mod:`.model`; a field this
package needs that is missing or malformed raises :class:`~.model.DashboardError` naming the
panel."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from hrl_autoscaler.tools.dashboard.model import (
    AnnotationQuery,
    Dashboard,
    DashboardError,
    GridPos,
    Panel,
    SeriesStyle,
    Target,
    Threshold,
    Variable,
)

# -- parsing ---------------------------------------------------------------------------------


def _uid(datasource: Any) -> str | None:
    if isinstance(datasource, Mapping):
        uid = datasource.get("uid")
        return str(uid) if uid is not None else None
    if isinstance(datasource, str):  # the pre-8.x form: a data source name or "$var"
        return datasource
    return None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _styles(overrides: Any, where: str) -> dict[str, SeriesStyle]:
    styles: dict[str, SeriesStyle] = {}
    for override in overrides or []:
        matcher = override.get("matcher") or {}
        if matcher.get("id") != "byName":
            continue
        name = str(matcher.get("options", ""))
        style = SeriesStyle()
        for prop in override.get("properties") or []:
            key, value = prop.get("id"), prop.get("value")
            if key == "color" and isinstance(value, Mapping):
                style = replace(style, color=str(value.get("fixedColor") or "") or None)
            elif key == "custom.lineStyle" and isinstance(value, Mapping):
                style = replace(style, dashed=value.get("fill") == "dash")
            elif key == "custom.fillOpacity":
                style = replace(style, fill_opacity=_float(value))
            elif key == "custom.lineWidth":
                style = replace(style, line_width=_float(value))
            elif key == "custom.showPoints":
                style = replace(style, show_points=str(value))
        if not name:
            raise DashboardError(f"{where}: a byName override without a name")
        styles[name] = style
    return styles


def _targets(raw: Any, where: str) -> tuple[Target, ...]:
    targets = []
    for i, t in enumerate(raw or []):
        if not isinstance(t, Mapping):
            raise DashboardError(f"{where}: target {i} is not an object")
        expr = t.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            raise DashboardError(f"{where}: target {t.get('refId', i)} has no expr")
        targets.append(
            Target(
                ref_id=str(t.get("refId") or chr(ord("A") + i)),
                expr=expr,
                legend_format=str(t.get("legendFormat") or ""),
                datasource_uid=_uid(t.get("datasource")),
                hide=bool(t.get("hide", False)),
            )
        )
    return tuple(targets)


def parse_panel(raw: Mapping[str, Any]) -> Panel:
    where = f"panel {raw.get('id')} ({raw.get('title', '')!r})"
    grid = raw.get("gridPos")
    if not isinstance(grid, Mapping) or not all(k in grid for k in ("x", "y", "w", "h")):
        raise DashboardError(f"{where}: gridPos needs x, y, w and h")
    pid = raw.get("id")
    if not isinstance(pid, int):
        raise DashboardError(f"{where}: id must be an integer")
    field_config = raw.get("fieldConfig") or {}
    defaults = field_config.get("defaults") or {}
    custom = defaults.get("custom") or {}
    options = raw.get("options") or {}
    reduce = options.get("reduceOptions") or {}
    steps = (defaults.get("thresholds") or {}).get("steps") or []
    decimals = defaults.get("decimals")
    return Panel(
        id=pid,
        type=str(raw.get("type", "")),
        title=str(raw.get("title", "")),
        grid=GridPos(int(grid["x"]), int(grid["y"]), int(grid["w"]), int(grid["h"])),
        description=str(raw.get("description", "")),
        datasource_uid=_uid(raw.get("datasource")),
        targets=_targets(raw.get("targets"), where),
        unit=str(defaults.get("unit") or ""),
        decimals=int(decimals) if isinstance(decimals, int) else None,
        min=_float(defaults.get("min")),
        max=_float(defaults.get("max")),
        soft_min=_float(custom.get("axisSoftMin")),
        soft_max=_float(custom.get("axisSoftMax")),
        no_value=str(defaults["noValue"]) if defaults.get("noValue") else None,
        thresholds=tuple(
            Threshold(str(s.get("color", "green")), _float(s.get("value"))) for s in steps
        ),
        styles=_styles(field_config.get("overrides"), where),
        line_interpolation=str(custom.get("lineInterpolation", "linear")),
        fill_opacity=_float(custom.get("fillOpacity")) or 0.0,
        line_width=_float(custom.get("lineWidth")) or 1.0,
        show_points=str(custom.get("showPoints", "auto")),
        reduce_calc=str((reduce.get("calcs") or ["lastNotNull"])[0]),
        text_mode=str(options.get("textMode", "auto")),
        color_mode=str(options.get("colorMode", "value")),
        graph_mode=str(options.get("graphMode", "area")),
        repeat=str(raw["repeat"]) if raw.get("repeat") else None,
        collapsed=bool(raw.get("collapsed", False)),
        children=tuple(parse_panel(p) for p in raw.get("panels") or []),
        max_data_points=int(raw["maxDataPoints"]) if raw.get("maxDataPoints") else None,
        min_interval=str(raw["interval"]) if raw.get("interval") else None,
    )


def _variable_query(raw: Mapping[str, Any]) -> str:
    query = raw.get("query")
    if isinstance(query, Mapping):  # Grafana 10+: {"query": "label_values(...)", "qryType": 1}
        return str(query.get("query", ""))
    if isinstance(query, str):
        return query
    return str(raw.get("definition", ""))


def parse_variable(raw: Mapping[str, Any]) -> Variable:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise DashboardError(f"a template variable without a name: {dict(raw)}")
    all_value = raw.get("allValue")
    return Variable(
        name=name,
        type=str(raw.get("type", "")),
        label=str(raw.get("label") or name),
        query=_variable_query(raw),
        multi=bool(raw.get("multi", False)),
        include_all=bool(raw.get("includeAll", False)),
        all_value=str(all_value) if all_value else None,
        regex=str(raw.get("regex") or ""),
        datasource_uid=_uid(raw.get("datasource")),
    )


def parse_annotation(raw: Mapping[str, Any]) -> AnnotationQuery | None:
    """A Prometheus annotation query, or None for Grafana's built-in and other kinds."""
    if raw.get("builtIn"):
        return None
    given = raw.get("target")
    target: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    expr = target.get("expr") or raw.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        return None
    tag_keys = str(raw.get("tagKeys") or "")
    return AnnotationQuery(
        name=str(raw.get("name", "")),
        expr=expr,
        color=str(raw.get("iconColor") or "red"),
        title_format=str(raw.get("titleFormat") or ""),
        text_format=str(raw.get("textFormat") or ""),
        tag_keys=tuple(k.strip() for k in tag_keys.split(",") if k.strip()),
        step=str(target.get("interval") or raw.get("step") or ""),
        enabled=bool(raw.get("enable", True)),
        datasource_uid=_uid(raw.get("datasource")),
    )


def parse_dashboard(raw: Mapping[str, Any]) -> Dashboard:
    panels = raw.get("panels")
    if not isinstance(panels, list):
        raise DashboardError("the dashboard has no panels list")
    templating = (raw.get("templating") or {}).get("list") or []
    annotations = [parse_annotation(a) for a in (raw.get("annotations") or {}).get("list") or []]
    return Dashboard(
        title=str(raw.get("title", "")),
        uid=str(raw.get("uid", "")),
        schema_version=int(raw.get("schemaVersion", 0)),
        panels=tuple(parse_panel(p) for p in panels),
        variables=tuple(parse_variable(v) for v in templating),
        annotations=tuple(a for a in annotations if a is not None),
        raw=raw,
    )


def load_dashboard(path: Path) -> Dashboard:
    """Read and parse a dashboard JSON file (raises DashboardError naming the file)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DashboardError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DashboardError(f"{path} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise DashboardError(f"{path}: a dashboard is a JSON object")
    try:
        return parse_dashboard(raw)
    except DashboardError as exc:
        raise DashboardError(f"{path}: {exc}") from None


__all__ = [
    "load_dashboard",
    "parse_annotation",
    "parse_dashboard",
    "parse_panel",
    "parse_variable",
]
