"""Grafana's value formats for the units the dashboard uses, and its named colours.

Only the unit ids the project's dashboard sets are implemented (``ops``, ``opm``, ``ms``,
``s``, ``currencyUSD``, ``percentunit``, ``percent``, ``none``/``short``); an unknown id is
shown as a plain number followed by the id, which is also what Grafana does with a custom
suffix it does not know.
"""

from __future__ import annotations

import math

#: Grafana's dark-theme colours for the names a dashboard may use.
NAMED_COLORS = {
    "green": "#73BF69",
    "dark-green": "#37872D",
    "red": "#F2495C",
    "dark-red": "#C4162A",
    "orange": "#FF9830",
    "dark-orange": "#FA6400",
    "yellow": "#FADE2A",
    "blue": "#5794F2",
    "purple": "#B877D9",
    "text": "#CCCCDC",
    "transparent": "#00000000",
}
#: The "classic palette" series colours, in Grafana's order.
PALETTE = (
    "#73BF69",
    "#F2CC0C",
    "#8AB8FF",
    "#FF780A",
    "#F2495C",
    "#5794F2",
    "#B877D9",
    "#705DA0",
    "#37872D",
    "#FADE2A",
)


def color(name: str) -> str:
    """A matplotlib colour for a Grafana colour name, hex code or ``rgba(...)``."""
    if name in NAMED_COLORS:
        return NAMED_COLORS[name]
    if name.startswith("rgba(") or name.startswith("rgb("):
        parts = [p.strip() for p in name[name.index("(") + 1 : name.rindex(")")].split(",")]
        r, g, b = (int(float(p)) for p in parts[:3])
        alpha = float(parts[3]) if len(parts) > 3 else 1.0
        return f"#{r:02x}{g:02x}{b:02x}{round(alpha * 255):02x}"
    return name


def _auto_decimals(value: float) -> int:
    magnitude = abs(value)
    if magnitude == 0 or magnitude >= 100 or float(value).is_integer():
        return 0
    if magnitude >= 10:
        return 1
    if magnitude >= 0.1:
        return 2
    return 3


def _number(value: float, decimals: int | None) -> str:
    d = _auto_decimals(value) if decimals is None else decimals
    return f"{value:.{d}f}"


def _scaled(value: float, decimals: int | None, factor: float, suffixes: tuple[str, ...]) -> str:
    scaled, i = value, 0
    while abs(scaled) >= factor and i < len(suffixes) - 1:
        scaled /= factor
        i += 1
    places = decimals if i == 0 or decimals is not None else 1
    return _number(scaled, places) + suffixes[i]


def _short(value: float, decimals: int | None) -> str:
    return _scaled(value, decimals, 1000.0, ("", "K", "Mil", "Bil", "Tri"))


def _seconds(value: float, decimals: int | None) -> str:
    magnitude = abs(value)
    if magnitude == 0:
        return "0 s"
    if magnitude < 1e-3:
        return f"{_number(value * 1e6, decimals)} µs"
    if magnitude < 1:
        return f"{_number(value * 1e3, decimals)} ms"
    if magnitude < 60:
        return f"{_number(value, decimals)} s"
    if magnitude < 3600:
        return f"{_number(value / 60, decimals)} min"
    return f"{_number(value / 3600, decimals)} hour"


def format_value(value: float, unit: str, decimals: int | None = None) -> str:
    """``value`` as Grafana shows it in ``unit``."""
    if not math.isfinite(value):
        return str(value)
    if unit in ("", "none", "short"):
        return _short(value, decimals)
    if unit == "ops":
        return f"{_short(value, decimals)} ops/s"
    if unit == "opm":
        return f"{_short(value, decimals)} ops/min"
    if unit == "ms":
        return _seconds(value / 1000.0, decimals)
    if unit == "s":
        return _seconds(value, decimals)
    if unit == "currencyUSD":
        return "$" + _short(value, decimals)
    if unit == "percentunit":
        return f"{_number(value * 100, decimals)}%"
    if unit == "percent":
        return f"{_number(value, decimals)}%"
    return f"{_short(value, decimals)} {unit}"
