"""The part of Grafana's dashboard JSON model this project uses, read into typed records.

Grafana's model is large and loosely typed; a dashboard file is parsed once here, and a field
this package needs that is missing or malformed raises :class:`DashboardError` naming the panel,
so a broken dashboard fails the unit tests instead of showing "No data" in someone's Grafana.

Layout follows Grafana's rules: the grid is 24 columns wide, a unit of height is 30 px; a row
owns the panels below it up to the next row (or, when collapsed, the panels in its own
``panels`` list); a row with ``repeat: VAR`` is drawn once per value of ``VAR``, each copy below
the previous one, pushing everything under it down (:func:`expand_layout`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

GRID_COLUMNS = 24


class DashboardError(ValueError):
    """The dashboard JSON lacks something this package needs; the message says where."""


@dataclass(frozen=True)
class GridPos:
    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    def overlaps(self, other: GridPos) -> bool:
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )

    def shifted(self, dy: int) -> GridPos:
        return replace(self, y=self.y + dy)


@dataclass(frozen=True)
class Target:
    """One query of a panel."""

    ref_id: str
    expr: str
    legend_format: str
    datasource_uid: str | None
    hide: bool = False


@dataclass(frozen=True)
class Threshold:
    color: str
    value: float | None
    """None for the base step (everything below the first value)."""


@dataclass(frozen=True)
class SeriesStyle:
    """A ``byName`` field override: how one named series is drawn."""

    color: str | None = None
    dashed: bool = False
    fill_opacity: float | None = None
    line_width: float | None = None
    show_points: str | None = None


@dataclass(frozen=True)
class Panel:
    id: int
    type: str
    title: str
    grid: GridPos
    description: str = ""
    datasource_uid: str | None = None
    targets: tuple[Target, ...] = ()
    unit: str = ""
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    soft_min: float | None = None
    soft_max: float | None = None
    """The axis reaches at least these values (Grafana's axisSoftMin/axisSoftMax)."""
    no_value: str | None = None
    thresholds: tuple[Threshold, ...] = ()
    styles: Mapping[str, SeriesStyle] = field(default_factory=dict)
    line_interpolation: str = "linear"
    fill_opacity: float = 0.0
    line_width: float = 1.0
    show_points: str = "auto"
    reduce_calc: str = "lastNotNull"
    text_mode: str = "auto"
    color_mode: str = "value"
    graph_mode: str = "area"
    repeat: str | None = None
    collapsed: bool = False
    children: tuple[Panel, ...] = ()
    max_data_points: int | None = None
    min_interval: str | None = None

    @property
    def is_row(self) -> bool:
        return self.type == "row"


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    label: str = ""
    query: str = ""
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    regex: str = ""
    datasource_uid: str | None = None

    @property
    def regex_form(self) -> bool:
        """Grafana formats multi-value and All-capable variables as regexes for Prometheus."""
        return self.multi or self.include_all


@dataclass(frozen=True)
class AnnotationQuery:
    name: str
    expr: str
    color: str
    title_format: str = ""
    text_format: str = ""
    tag_keys: tuple[str, ...] = ()
    step: str = ""
    enabled: bool = True
    datasource_uid: str | None = None


@dataclass(frozen=True)
class Section:
    """A row and the panels it owns (``row`` is None for panels above the first row)."""

    row: Panel | None
    panels: tuple[Panel, ...]

    @property
    def title(self) -> str:
        return self.row.title if self.row is not None else ""

    @property
    def height(self) -> int:
        """Grid units from the row's top to the bottom of its lowest panel."""
        top = self.row.grid.y if self.row is not None else 0
        bottoms = [p.grid.bottom for p in self.panels]
        if self.row is not None:
            bottoms.append(self.row.grid.bottom)
        return max(bottoms, default=top) - top


@dataclass(frozen=True)
class Dashboard:
    title: str
    uid: str
    schema_version: int
    panels: tuple[Panel, ...]
    """Top-level panels (rows included), in the file's order."""
    variables: tuple[Variable, ...]
    annotations: tuple[AnnotationQuery, ...]
    """Prometheus annotation queries (Grafana's built-in annotation list is left out)."""
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    def sections(self) -> list[Section]:
        """Rows with the panels they own, top to bottom."""
        ordered = sorted(self.panels, key=lambda p: (p.grid.y, p.grid.x))
        sections: list[Section] = []
        row: Panel | None = None
        owned: list[Panel] = []
        for panel in ordered:
            if panel.is_row:
                if row is not None or owned:
                    sections.append(Section(row, tuple(owned)))
                row = panel
                owned = list(panel.children) if panel.collapsed else []
            else:
                owned.append(panel)
        if row is not None or owned:
            sections.append(Section(row, tuple(owned)))
        return sections

    def query_panels(self) -> list[tuple[Section, Panel]]:
        """Every panel that runs queries, with the section that owns it."""
        return [(s, p) for s in self.sections() for p in s.panels if not p.is_row]


@dataclass(frozen=True)
class PlacedPanel:
    """A panel where it is drawn, with the values of a repeated row's variable fixed."""

    panel: Panel
    grid: GridPos
    section: str
    scope: Mapping[str, str]
    """Repeat variable -> the one value of this copy (empty outside repeated rows)."""


def expand_layout(
    dashboard: Dashboard, values: Mapping[str, Sequence[str]]
) -> tuple[list[PlacedPanel], int]:
    """Every panel (rows included) at its drawn position, repeated rows expanded; and the
    grid height. ``values`` holds each variable's selected values."""
    placed: list[PlacedPanel] = []
    offset = 0
    for section in dashboard.sections():
        row = section.row
        repeat_values: Sequence[str | None] = [None]
        if row is not None and row.repeat:
            repeat_values = list(values.get(row.repeat, ())) or [None]
        height = section.height
        for i, value in enumerate(repeat_values):
            dy = offset + i * height
            scope = {row.repeat: value} if row is not None and row.repeat and value else {}
            members = ([row] if row is not None else []) + [
                p for p in section.panels if not (row is not None and row.collapsed)
            ]
            for panel in members:
                placed.append(PlacedPanel(panel, panel.grid.shifted(dy), section.title, scope))
        offset += (len(repeat_values) - 1) * height
    total = max((p.grid.bottom for p in placed), default=0)
    return placed, total


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
