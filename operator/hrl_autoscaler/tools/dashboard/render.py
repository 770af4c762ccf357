"""Draw a dashboard to a PNG the way Grafana lays it out, from a real Prometheus.

The picture is for people who have no Grafana at hand (the README, a pull request, a support
ticket): each panel sits on Grafana's 24-column grid at its ``gridPos`` (a height unit is 30 px
of an 1800 px wide dashboard), repeated rows are expanded once per value of their variable,
time series carry their legend names, units, field overrides (colour, dashes, fill) and the
annotation markers, stat panels show their reduced value coloured by the thresholds.

One deliberate difference: Grafana draws every annotation on every time-series panel. In a row
repeated per application, this renderer keeps only the events whose series carry that
application in the repeated variable's label, so each copy shows its own decisions; in Grafana,
select one application to see the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from hrl_autoscaler.tools.dashboard.drawing import (
    BACKGROUND,
    DASHBOARD_PX,
    GAP_PX,
    HEADER_PX,
    MUTED,
    TEXT,
    UNIT_PX,
    Box,
    DrawnSeries,
    PanelDrawing,
)
from hrl_autoscaler.tools.dashboard.model import Dashboard, PlacedPanel, expand_layout
from hrl_autoscaler.tools.dashboard.prometheus import PrometheusClient
from hrl_autoscaler.tools.dashboard.runner import (
    AnnotationEvent,
    QuerySettings,
    TimeRange,
    annotation_events,
    panel_intervals,
    run_annotation,
    run_target,
)
from hrl_autoscaler.tools.dashboard.templating import (
    VariableValue,
    render_legend,
    scope_for,
)
from hrl_autoscaler.tools.dashboard.units import color


@dataclass
class RenderSummary:
    """What was drawn: counts a caller (the demo, the e2e test) can report or assert on."""

    path: Path
    panels: int = 0
    queries: int = 0
    empty_panels: list[str] = field(default_factory=list)
    events: int = 0
    width_px: int = 0
    height_px: int = 0


class Renderer(PanelDrawing):
    """Draws one dashboard; :meth:`render` writes the PNG."""

    def __init__(
        self,
        client: PrometheusClient,
        dashboard: Dashboard,
        values: Mapping[str, VariableValue],
        window: TimeRange,
        settings: QuerySettings | None = None,
        dpi: int = 100,
        colors: int | None = None,
    ) -> None:
        self.client = client
        self.dashboard = dashboard
        self.values = values
        self.window = window
        self.settings = settings or QuerySettings(dashboard_px=DASHBOARD_PX)
        self.dpi = dpi
        self.colors = colors
        self.events: list[AnnotationEvent] = []

    # -- geometry --------------------------------------------------------------------------

    def _box(self, placed: PlacedPanel, height_px: float) -> Box:
        """The panel's rectangle in figure fractions (left, bottom, width, height)."""
        col = DASHBOARD_PX / 24
        g = placed.grid
        left = g.x * col + GAP_PX / 2
        top = HEADER_PX + g.y * UNIT_PX + GAP_PX / 2
        width = g.w * col - GAP_PX
        height = g.h * UNIT_PX - GAP_PX
        return (
            left / DASHBOARD_PX,
            1 - (top + height) / height_px,
            width / DASHBOARD_PX,
            height / height_px,
        )

    # -- the whole picture -------------------------------------------------------------------

    def render(self, out: Path) -> RenderSummary:
        selected = {name: list(v.values) for name, v in self.values.items()}
        placed, grid_h = expand_layout(self.dashboard, selected)
        height_px = HEADER_PX + grid_h * UNIT_PX + GAP_PX
        fig = plt.figure(
            figsize=(DASHBOARD_PX / self.dpi, height_px / self.dpi),
            dpi=self.dpi,
            facecolor=BACKGROUND,
        )
        summary = RenderSummary(out, width_px=DASHBOARD_PX, height_px=height_px)
        try:
            self._annotations(summary)
            self._header(fig, height_px)
            for item in placed:
                box = self._box(item, height_px)
                if item.panel.is_row:
                    self._row(fig, item, box)
                    continue
                summary.panels += 1
                drawn = self._query(item, summary)
                if not drawn:
                    summary.empty_panels.append(_label(item))
                if item.panel.type == "stat":
                    self._stat(fig, item, box, drawn)
                else:
                    self._timeseries(fig, item, box, drawn)
            out.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(out, dpi=self.dpi, facecolor=BACKGROUND, pil_kwargs={"optimize": True})
            if self.colors:
                _palette(out, self.colors)
        finally:
            plt.close(fig)
        return summary

    def _annotations(self, summary: RenderSummary) -> None:
        for annotation in self.dashboard.annotations:
            if not annotation.enabled:
                continue
            result = run_annotation(
                self.client, annotation, self.values, self.window, self.settings
            )
            summary.queries += 1
            self.events.extend(annotation_events(annotation, result))
        summary.events = len(self.events)

    def _header(self, fig: Figure, height_px: float) -> None:
        y = 1 - 22 / height_px
        fig.text(10 / DASHBOARD_PX, y, self.dashboard.title, color=TEXT, fontsize=15, weight="bold")
        start = datetime.fromtimestamp(self.window.start, UTC).strftime("%Y-%m-%d %H:%M:%S")
        end = datetime.fromtimestamp(self.window.end, UTC).strftime("%H:%M:%S UTC")
        chosen = "   ".join(
            f"{name}: {_selection(value)}"
            for name, value in self.values.items()
            if (v := self.dashboard.variable(name)) is not None and v.type != "datasource"
        )
        fig.text(
            10 / DASHBOARD_PX,
            1 - 46 / height_px,
            f"{start} to {end}     {chosen}",
            color=MUTED,
            fontsize=9,
        )
        x = 1 - 10 / DASHBOARD_PX
        for annotation in reversed([a for a in self.dashboard.annotations if a.enabled]):
            n = sum(e.name == annotation.name for e in self.events)
            text = fig.text(
                x,
                y,
                f"▲ {annotation.name} ({n})",
                color=color(annotation.color),
                fontsize=10,
                ha="right",
            )
            x -= (len(text.get_text()) * 7.5 + 24) / DASHBOARD_PX

    # -- queries ----------------------------------------------------------------------------

    def _query(self, item: PlacedPanel, summary: RenderSummary) -> list[DrawnSeries]:
        panel = item.panel
        iv = panel_intervals(panel, self.window, self.settings)
        scope = scope_for(self.values, iv, item.scope)
        drawn: list[DrawnSeries] = []
        for target in panel.targets:
            if target.hide:
                continue
            _, series, _ = run_target(self.client, target, scope, self.window, iv)
            summary.queries += 1
            for s in series:
                if s.has_data:
                    drawn.append(DrawnSeries(render_legend(target.legend_format, s.labels), s))
        return drawn


def _selection(value: VariableValue) -> str:
    if len(value.values) > 3:
        return f"All ({len(value.values)})"
    return ", ".join(value.values)


def _label(item: PlacedPanel) -> str:
    where = ", ".join(f"{k}={v}" for k, v in item.scope.items())
    return f"{item.panel.title} ({where})" if where else item.panel.title


def _palette(path: Path, colors: int) -> None:
    """Rewrite the PNG with a palette of ``colors`` colours: about a third of the bytes, and
    a dark dashboard has few colours to lose (for pictures kept in a repository)."""
    from PIL import Image

    with Image.open(path) as image:
        reduced = image.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    reduced.save(path, optimize=True)


def render_dashboard(
    client: PrometheusClient,
    dashboard: Dashboard,
    values: Mapping[str, VariableValue],
    window: TimeRange,
    out: Path,
    settings: QuerySettings | None = None,
    dpi: int = 100,
    colors: int | None = None,
) -> RenderSummary:
    """Run every query (each copy of a repeated row with its own value) and write the PNG
    (``colors``: reduce it to a palette of that many colours)."""
    return Renderer(client, dashboard, values, window, settings, dpi, colors).render(out)
