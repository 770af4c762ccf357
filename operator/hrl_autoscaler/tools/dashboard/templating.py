"""Grafana's variable substitution for Prometheus queries, and its built-in intervals.

What a panel query becomes in Grafana depends on how the variable is declared, so the same
rules are applied here (Grafana's Prometheus data source, ``interpolateQueryExpr``):

- a single-value variable is inserted as is (backslashes and single quotes escaped);
- a multi-value or All-capable variable is meant for ``=~``: each value has its regex
  metacharacters escaped (with a doubled backslash, since PromQL strings unescape once), and
  several values become ``(a|b|c)``; All uses the variable's ``allValue`` verbatim when it has
  one, else the alternation of every value;
- ``${var:format}`` overrides that (``regex``, ``pipe``, ``csv``, ``raw``, ``text``).

Built-ins (:func:`builtin_variables`): ``$__interval`` is the range divided by the panel's
data points, rounded to Grafana's steps and at least the scrape interval;
``$__rate_interval`` is ``max($__interval + scrape interval, 4 x scrape interval)``, so a
``rate`` always spans at least four scrapes; ``$__range`` is the whole time range.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Grafana's Prometheus data source assumes 15 s when its "scrape interval" is not set.
DEFAULT_SCRAPE_INTERVAL_S = 15.0
#: Prometheus refuses range queries of more than 11,000 points; Grafana widens the step.
MAX_POINTS_PER_SERIES = 11_000

_VARIABLE = re.compile(
    r"\$(?P<plain>\w+)"
    r"|\$\{(?P<braced>\w+)(?::(?P<fmt>\w+))?\}"
    r"|\[\[(?P<old>\w+)(?::(?P<oldfmt>\w+))?\]\]"
)
_REGEX_META = re.compile(r"[$^*{}\[\]+?.()|]")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_UNIT_S["y"] = 365 * 86400.0


class TemplateError(ValueError):
    """A query names a variable that is not defined, or a format that is not supported."""


@dataclass(frozen=True)
class VariableValue:
    """The selected value(s) of one template variable."""

    values: tuple[str, ...]
    regex_form: bool = False
    """True for multi-value and All-capable variables (Grafana formats them for ``=~``)."""
    all_value: str | None = None
    """Set when All is selected and the variable declares an ``allValue``: used verbatim."""

    @classmethod
    def single(cls, value: str) -> VariableValue:
        return cls((value,))


def regular_escape(value: str) -> str:
    """Grafana's ``prometheusRegularEscape``: for values inside a quoted label matcher."""
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


def regex_escape(value: str) -> str:
    """Grafana's ``prometheusSpecialRegexEscape``: a literal inside a ``=~`` regex."""
    return _REGEX_META.sub(lambda m: "\\\\" + m.group(0), value.replace("\\", "\\\\\\\\"))


def format_value(value: VariableValue, fmt: str | None = None) -> str:
    """The text Grafana substitutes for ``value`` (``fmt``: a ``${var:fmt}`` format)."""
    values = value.values
    if fmt is None:
        if not value.regex_form:
            return regular_escape(values[0]) if values else ""
        if value.all_value is not None:
            return value.all_value
        escaped = [regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "regex":
        if value.all_value is not None:
            return value.all_value
        escaped = [re.escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt in ("raw", "text"):
        return value.all_value if value.all_value is not None else ",".join(values)
    raise TemplateError(f"variable format {fmt!r} is not supported (regex, pipe, csv, raw)")


def referenced_variables(text: str) -> set[str]:
    """Names of every variable ``text`` refers to (built-ins included)."""
    return {
        m.group("plain") or m.group("braced") or m.group("old") for m in _VARIABLE.finditer(text)
    }


def interpolate(text: str, scope: Mapping[str, VariableValue | str]) -> str:
    """``text`` with every ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]`` replaced.

    Plain strings in ``scope`` (the built-ins) are inserted as they are. An unknown name raises
    :class:`TemplateError`: a query with a stray ``$`` would reach Prometheus as a parse error
    or, worse, as a regex that silently matches nothing.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group("plain") or match.group("braced") or match.group("old")
        fmt = match.group("fmt") or match.group("oldfmt")
        if name not in scope:
            raise TemplateError(f"${name} is not a variable of the dashboard (in {text!r})")
        value = scope[name]
        if isinstance(value, str):
            return value
        return format_value(value, fmt)

    return _VARIABLE.sub(substitute, text)


def render_legend(legend_format: str, labels: Mapping[str, str]) -> str:
    """A series name from Grafana's ``{{label}}`` legend format (missing labels are empty);
    with no format, the series' labels as Grafana shows them."""
    if legend_format and legend_format != "__auto":
        return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), legend_format)
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


# -- durations and Grafana's intervals -------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds in a Grafana/Prometheus duration such as ``15s``, ``10m``, ``1h30m``, ``500ms``."""
    cleaned = text.strip()
    parts = list(_DURATION.finditer(cleaned))
    if not parts or "".join(p.group(0) for p in parts) != cleaned:
        raise ValueError(f"{text!r} is not a duration (e.g. 15s, 10m, 1h30m, 500ms)")
    return sum(float(p.group(1)) * _UNIT_S[p.group(2)] for p in parts)


def duration_text(seconds: float) -> str:
    """A PromQL duration: whole seconds as ``Ns``, anything finer in milliseconds."""
    if seconds >= 1 and abs(seconds - round(seconds)) < 1e-9:
        return f"{round(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


_ROUND_STEPS_MS: tuple[tuple[float, float], ...] = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)


def round_interval(seconds: float) -> float:
    """Grafana's ``roundInterval``: the nearest of its "nice" steps (10 ms ... 1 y)."""
    ms = seconds * 1000.0
    for below, step in _ROUND_STEPS_MS:
        if ms < below:
            return step / 1000.0
    return 31_536_000.0


@dataclass(frozen=True)
class Intervals:
    """What Grafana computes for one panel query over one time range."""

    interval_s: float
    rate_interval_s: float
    range_s: float

    @property
    def step_s(self) -> float:
        """The range query's step: ``$__interval``, widened to stay under 11,000 points."""
        return max(self.interval_s, self.range_s / MAX_POINTS_PER_SERIES)


def intervals(
    range_s: float,
    max_data_points: int,
    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S,
    min_interval_s: float | None = None,
) -> Intervals:
    """``$__interval`` and ``$__rate_interval`` as Grafana derives them (``calculateInterval``
    then the Prometheus data source's rate-interval rule). ``min_interval_s`` is the panel's
    "Min interval" option; without it the scrape interval is the lower limit."""
    low = min_interval_s if min_interval_s is not None else scrape_interval_s
    interval = max(round_interval(range_s / max(max_data_points, 1)), low)
    scrape = min_interval_s if min_interval_s is not None else scrape_interval_s
    return Intervals(interval, max(interval + scrape, 4 * scrape), range_s)


def builtin_variables(iv: Intervals) -> dict[str, str]:
    """The built-in variables Grafana's Prometheus data source substitutes."""
    return {
        "__interval": duration_text(iv.interval_s),
        "__interval_ms": str(round(iv.interval_s * 1000)),
        "__rate_interval": duration_text(iv.rate_interval_s),
        "__rate_interval_ms": str(round(iv.rate_interval_s * 1000)),
        "__range": f"{round(iv.range_s)}s",
        "__range_s": str(round(iv.range_s)),
        "__range_ms": str(round(iv.range_s * 1000)),
    }


def data_points_for_width(grid_w: int, dashboard_px: int = 1800) -> int:
    """Grafana asks for about one point per pixel of the panel's width (its maxDataPoints)."""
    return max(1, round(dashboard_px * grid_w / 24))


def scope_for(
    values: Mapping[str, VariableValue], iv: Intervals, overrides: Mapping[str, str] | None = None
) -> dict[str, VariableValue | str]:
    """The substitution scope of one query: the variables (with a repeated row's variable
    fixed to the copy's value, in ``overrides``) and the built-ins."""
    scope: dict[str, VariableValue | str] = dict(values)
    for name, value in (overrides or {}).items():
        declared = values.get(name)
        regex_form = declared.regex_form if declared is not None else False
        scope[name] = VariableValue((value,), regex_form)
    scope.update(builtin_variables(iv))
    return scope


def all_values(options: Sequence[str], all_value: str | None, regex_form: bool) -> VariableValue:
    """The All selection of a variable with ``options``."""
    return VariableValue(tuple(options), regex_form, all_value)
