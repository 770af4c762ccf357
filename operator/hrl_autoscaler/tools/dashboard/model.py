"""The part of Grafana's dashboard JSON model this project uses, read into typed records.

Grafana's model is large and loosely typed; a dashboard file is parsed once (:mod:`.parsing`),
and a field this package needs that is missing or malformed raises :class:`DashboardError`
naming the panel, so a broken dashboard fails the unit tests instead of showing "No data" in
someone's Grafana.

Layout follows Grafana's rules: the grid is 24 columns wide, a unit of height is 30 px; a row
owns the panels below it up to the next row (or, when collapsed, the panels in its own
``panels`` list); a row with ``repeat: VAR`` is drawn once per value of ``VAR``, each copy below
the previous one, pushing everything under it down (:func:`expand_layout`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
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
