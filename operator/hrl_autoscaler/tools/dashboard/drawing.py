"""How the dashboard renderer (:mod:`.render`) draws each panel: the frame and title, a row
header, a stat panel with its sparkline, a time series with its legend and annotation markers,
in Grafana's dark theme on an 1800 px wide grid."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from hrl_autoscaler.tools.dashboard.model import Panel, PlacedPanel
from hrl_autoscaler.tools.dashboard.prometheus import Series
from hrl_autoscaler.tools.dashboard.runner import AnnotationEvent, TimeRange
from hrl_autoscaler.tools.dashboard.units import PALETTE, color, format_value

Box = tuple[float, float, float, float]
"""A rectangle in figure fractions: left, bottom, width, height."""

DASHBOARD_PX = 1800
UNIT_PX = 30
GAP_PX = 8
HEADER_PX = 64
BACKGROUND = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3036"
TEXT = "#ccccdc"
MUTED = "#8e8e9a"
GRID = "#2a2d33"


@dataclass
class DrawnSeries:
    name: str
    series: Series


def _threshold_color(panel: Panel, value: float) -> str:
    chosen = "green"
    for step in panel.thresholds:
        if step.value is None or value >= step.value:
            chosen = step.color
    return color(chosen)


def _reduce(points: Sequence[tuple[float, float]], calc: str) -> float | None:
    values = [v for _, v in points]
    if not values:
        return None
    if calc == "mean":
        return sum(values) / len(values)
    if calc == "max":
        return max(values)
    if calc == "min":
        return min(values)
    if calc == "sum":
        return sum(values)
    return values[-1]  # lastNotNull / last: NaN points were dropped on reading


class PanelDrawing:
    """The drawing half of :class:`~.render.Renderer`: one method per kind of panel, on the
    figure the renderer lays out (it sets these attributes)."""

    dpi: int
    window: TimeRange
    events: list[AnnotationEvent]

    def _panel_events(self, item: PlacedPanel) -> list[AnnotationEvent]:
        """The events to draw on this copy of the panel (see the module docstring)."""
        events = self.events
        for name, value in item.scope.items():
            events = [e for e in events if e.labels.get(name, value) == value]
        return events

    # -- drawing ----------------------------------------------------------------------------

    def _frame(self, fig: Figure, item: PlacedPanel, box: Box) -> Axes:
        frame = fig.add_axes(box)
        frame.set_xlim(0, 1)
        frame.set_ylim(0, 1)
        frame.axis("off")
        frame.add_patch(
            Rectangle(
                (0, 0),
                1,
                1,
                transform=frame.transAxes,
                facecolor=PANEL,
                edgecolor=BORDER,
                linewidth=1,
            )
        )
        title = _interpolate_title(item.panel.title, item.scope)
        frame.text(
            8 / (box[2] * DASHBOARD_PX),
            1 - 16 / (box[3] * fig.get_figheight() * self.dpi),
            title,
            color=TEXT,
            fontsize=9.5,
            weight="bold",
            va="center",
            clip_on=True,
        )
        return frame

    def _row(self, fig: Figure, item: PlacedPanel, box: Box) -> None:
        axes = fig.add_axes(box)
        axes.axis("off")
        title = _interpolate_title(item.panel.title, item.scope)
        axes.text(0, 0.5, title, color=TEXT, fontsize=12, weight="bold", va="center")
        axes.axhline(0.02, color=BORDER, linewidth=1)

    def _stat(
        self,
        fig: Figure,
        item: PlacedPanel,
        box: Box,
        drawn: list[DrawnSeries],
    ) -> None:
        panel = item.panel
        frame = self._frame(fig, item, box)
        height_px = box[3] * fig.get_figheight() * self.dpi
        width_px = box[2] * DASHBOARD_PX
        if not drawn:
            frame.text(
                0.5,
                0.42,
                panel.no_value or "No data",
                color=MUTED,
                fontsize=11,
                ha="center",
                va="center",
            )
            return
        n = len(drawn)
        for i, d in enumerate(drawn):
            value = _reduce(d.series.points, panel.reduce_calc)
            assert value is not None  # drawn series have points
            shade = _threshold_color(panel, value)
            text_color = TEXT if panel.color_mode == "none" else shade
            if panel.text_mode == "name":
                big, small = d.name, ""
            elif panel.text_mode == "value_and_name" or (panel.text_mode == "auto" and n > 1):
                big, small = format_value(value, panel.unit, panel.decimals), d.name
            else:
                big, small = format_value(value, panel.unit, panel.decimals), ""
            x0, x1 = i / n, (i + 1) / n
            cx = (x0 + x1) / 2
            if panel.graph_mode == "area" and len(d.series.points) > 1:
                self._sparkline(fig, box, x0, x1, d.series, shade)
            size_px = min(height_px * 0.32, (width_px / n) / max(len(big), 1) * 1.7)
            frame.text(
                cx,
                0.42,
                big,
                color=text_color,
                fontsize=size_px * 72 / self.dpi,
                ha="center",
                va="center",
                weight="bold",
                clip_on=True,
            )
            if small:
                frame.text(
                    cx, 0.14, small, color=MUTED, fontsize=8, ha="center", va="center", clip_on=True
                )

    def _sparkline(
        self,
        fig: Figure,
        box: Box,
        x0: float,
        x1: float,
        series: Series,
        shade: str,
    ) -> None:
        left, bottom, width, height = box
        axes = fig.add_axes(
            (left + x0 * width, bottom + 0.04 * height, (x1 - x0) * width, 0.45 * height)
        )
        axes.axis("off")
        xs = [t for t, _ in series.points]
        ys = [v for _, v in series.points]
        axes.fill_between(xs, ys, min(min(ys), 0.0), color=shade, alpha=0.15, linewidth=0)
        axes.plot(xs, ys, color=shade, alpha=0.5, linewidth=1)
        axes.set_xlim(self.window.start, self.window.end)

    def _timeseries(
        self,
        fig: Figure,
        item: PlacedPanel,
        box: Box,
        drawn: list[DrawnSeries],
    ) -> None:
        panel = item.panel
        self._frame(fig, item, box)
        left, bottom, width, height = box
        height_px = height * fig.get_figheight() * self.dpi
        width_px = width * DASHBOARD_PX
        legend_rows = max(1, math.ceil(len(drawn) / max(1, int(width_px // 190)))) if drawn else 0
        top_px, bottom_px, left_px, right_px = 28, 22 + 15 * legend_rows, 62, 12
        axes = fig.add_axes(
            (
                left + left_px / DASHBOARD_PX,
                bottom + bottom_px / (fig.get_figheight() * self.dpi),
                width - (left_px + right_px) / DASHBOARD_PX,
                height - (top_px + bottom_px) / (fig.get_figheight() * self.dpi),
            )
        )
        axes.set_facecolor(PANEL)
        for spine in axes.spines.values():
            spine.set_visible(False)
        axes.tick_params(colors=MUTED, labelsize=7, length=0)
        axes.grid(True, color=GRID, linewidth=0.6)
        axes.set_xlim(self.window.start, self.window.end)
        span = self.window.seconds
        fmt = "%H:%M:%S" if span <= 3 * 3600 else "%m-%d %H:%M"
        axes.xaxis.set_major_formatter(FuncFormatter(lambda t, _: _clock(t, fmt)))
        axes.xaxis.set_major_locator(MaxNLocator(max(2, int(width_px // 110))))
        axes.yaxis.set_major_locator(MaxNLocator(5))
        axes.yaxis.set_major_formatter(
            FuncFormatter(lambda v, _: format_value(v, panel.unit, None))
        )
        if not drawn:
            axes.text(
                0.5,
                0.5,
                panel.no_value or "No data",
                transform=axes.transAxes,
                color=MUTED,
                fontsize=10,
                ha="center",
                va="center",
            )
            axes.set_yticks([])
        lows: list[float] = []
        highs: list[float] = []
        for i, d in enumerate(drawn):
            style = panel.styles.get(d.name)
            line_color = (style.color if style and style.color else None) or PALETTE[
                i % len(PALETTE)
            ]
            line_color = color(line_color)
            xs = [t for t, _ in d.series.points]
            ys = [v for _, v in d.series.points]
            lows.append(min(ys))
            highs.append(max(ys))
            width_lw = style.line_width if style and style.line_width else panel.line_width
            points = style.show_points if style and style.show_points else panel.show_points
            step = panel.line_interpolation == "stepAfter"
            axes.plot(
                xs,
                ys,
                color=line_color,
                linewidth=width_lw * 0.75,
                linestyle=(0, (5, 4)) if style and style.dashed else "-",
                drawstyle="steps-post" if step else "default",
                marker="o" if points == "always" or (points == "auto" and len(ys) < 30) else None,
                markersize=3,
                label=d.name,
            )
            fill = (
                style.fill_opacity
                if style and style.fill_opacity is not None
                else (panel.fill_opacity)
            )
            if fill > 0:
                axes.fill_between(
                    xs,
                    ys,
                    0,
                    color=line_color,
                    alpha=fill / 100 * 0.8,
                    linewidth=0,
                    step="post" if step else None,
                )
        if drawn:
            lo = min(lows)
            hi = max(highs)
            if panel.soft_min is not None:
                lo = min(lo, panel.soft_min)
            if panel.soft_max is not None:
                hi = max(hi, panel.soft_max)
            lo = panel.min if panel.min is not None else lo
            hi = panel.max if panel.max is not None else hi
            pad = (hi - lo) * 0.05 or max(abs(hi) * 0.1, 1.0 if panel.decimals == 0 else 0.1)
            axes.set_ylim(
                lo if panel.min is not None or lo == 0 else lo - pad,
                hi if panel.max is not None else hi + pad,
            )
            columns = max(1, int(width_px // 190))
            axes.legend(
                loc="upper left",
                bbox_to_anchor=(0, -0.1 - 14 / max(height_px, 1)),
                ncol=min(columns, len(drawn)),
                frameon=False,
                fontsize=7.5,
                labelcolor=TEXT,
                handlelength=1.6,
                borderaxespad=0,
            )
        self._draw_events(axes, item)

    def _draw_events(self, axes: Axes, item: PlacedPanel) -> None:
        for event in self._panel_events(item):
            c = color(event.color)
            start = event.time
            if event.time_end > event.time:
                axes.axvspan(start, event.time_end, color=c, alpha=0.10, linewidth=0)
            axes.axvline(start, color=c, alpha=0.55, linewidth=0.8, linestyle=(0, (2, 2)))
            axes.plot(
                [start],
                [0],
                marker="^",
                color=c,
                markersize=5,
                clip_on=False,
                transform=axes.get_xaxis_transform(),
                linestyle="none",
            )


def _clock(t: float, fmt: str) -> str:
    """A time axis label (UTC): the x axes are in unix seconds, as Prometheus returns them."""
    return datetime.fromtimestamp(t, UTC).strftime(fmt)


def _interpolate_title(title: str, scope: Mapping[str, str]) -> str:
    for name, value in scope.items():
        title = title.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return title


__all__ = [
    "BACKGROUND",
    "BORDER",
    "DASHBOARD_PX",
    "GAP_PX",
    "GRID",
    "HEADER_PX",
    "MUTED",
    "PANEL",
    "TEXT",
    "UNIT_PX",
    "Box",
    "DrawnSeries",
    "PanelDrawing",
]
