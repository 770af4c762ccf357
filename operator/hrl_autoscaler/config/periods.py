"""Excluded periods: maintenance windows in which the operator only recommends.

Flink's autoscaler users set ``excluded.periods`` so that a job is not rescaled during a batch
window, a release freeze or month-end closing. The annotation ``hrl-autoscaler.io/excluded-periods``
holds one or more periods separated by ``;``, each in one of two forms:

``[DAYS] HH:MM-HH:MM [ZONE]``
    A daily time range, start included and end excluded. ``DAYS`` is a comma-separated list of
    weekdays or weekday ranges (``Mon-Fri``, ``Sat,Sun``, ``Mon,Wed-Fri``; English three-letter
    names, any case); without it, every day. A range that ends at or before it starts crosses
    midnight and belongs to the day it starts on: ``Fri 22:00-02:00`` covers Friday 22:00 to
    Saturday 02:00. ``24:00`` is accepted as an end (``Sat 00:00-24:00`` is all Saturday).

``MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK [ZONE]``
    A cron expression, read as Flink reads its cron periods: a minute is excluded when it matches
    all five fields (an exclusion window, not a schedule; unlike crontab, a restricted day of the
    month and day of the week must *both* match). Each field is ``*``, a number, a range
    ``A-B``, a step ``*/S`` or ``A-B/S``, or a comma-separated list of those; day of week 0-7
    (0 and 7 are Sunday). ``* * 28-31 * *`` is the last days of every month, ``* 9-11 * * 1-5``
    weekday mornings 09:00-11:59.

``ZONE`` is an IANA time zone name (``Europe/Berlin``, ``America/New_York``, ``UTC``); without
it, UTC. Windows follow the zone's local clock, daylight saving time included.

Why not ``croniter``: it computes when a schedule fires next, but a window is a question of
whether *now* matches, which is a few set lookups; the standard library's :mod:`zoneinfo` (with
the pinned ``tzdata`` package when the image has no zone database) does the time zones. No
dependency is added to the decision path for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Most periods in one annotation and longest annotation read: a cap on the work per cycle.
MAX_PERIODS = 32
MAX_TEXT = 2000

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names, in :meth:`datetime.weekday` order (Monday is 0)."""
_DAY = "(?:" + "|".join(DAY_NAMES) + ")"
_DAYS = re.compile(rf"{_DAY}(?:-{_DAY})?(?:,{_DAY}(?:-{_DAY})?)*", re.IGNORECASE)
_RANGE = re.compile(r"([0-9]{1,2}):([0-9]{2})-([0-9]{1,2}):([0-9]{2})")
_CRON_FIELD = re.compile(r"[0-9*,/-]+")
#: (lowest, highest) of each cron field: minute, hour, day of month, month, day of week.
_CRON_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class PeriodError(ValueError):
    """What is wrong with one period, in words fit for an InvalidAnnotation event."""


ACCEPTED = (
    "periods separated by ';', each '[DAYS] HH:MM-HH:MM [ZONE]' (e.g. 'Mon-Fri 22:00-02:00 "
    "Europe/Berlin') or a 5-field cron 'MIN HOUR DOM MONTH DOW [ZONE]' matched minute by minute "
    "(e.g. '* * 28-31 * * UTC'); ZONE an IANA time zone, UTC if omitted"
)


@dataclass(frozen=True)
class DailyRange:
    """``[DAYS] HH:MM-HH:MM``: the days a range may start on, and its start and end."""

    days: frozenset[int]
    start: time
    end_minutes: int
    """Minutes after midnight of the start day; above 1440 when the range crosses midnight."""

    def contains(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        start = self.start.hour * 60 + self.start.minute
        if local.weekday() in self.days and start <= minute < self.end_minutes:
            return True
        yesterday = (local.weekday() - 1) % 7  # the part after midnight of a crossing range
        return yesterday in self.days and minute + 1440 < self.end_minutes


@dataclass(frozen=True)
class CronMatch:
    """A 5-field cron expression, as sets of accepted values per field."""

    fields: tuple[frozenset[int], ...]

    def contains(self, local: datetime) -> bool:
        minute, hour, dom, month, dow = self.fields
        weekday = (local.weekday() + 1) % 7  # cron: Sunday 0 (and 7), Monday 1
        return (
            local.minute in minute
            and local.hour in hour
            and local.day in dom
            and local.month in month
            and (weekday in dow or (weekday == 0 and 7 in dow))
        )


@dataclass(frozen=True)
class Period:
    """One excluded period: its rule, its zone, and its text (for events)."""

    text: str
    rule: DailyRange | CronMatch
    zone: ZoneInfo

    def contains(self, at_s: float) -> bool:
        return self.rule.contains(datetime.fromtimestamp(at_s, UTC).astimezone(self.zone))


@dataclass(frozen=True)
class ExcludedPeriods:
    """The periods of one annotation; :meth:`active` names the one ``at_s`` falls in."""

    periods: tuple[Period, ...]

    def active(self, at_s: float) -> Period | None:
        return next((p for p in self.periods if p.contains(at_s)), None)


def _zone(name: str) -> ZoneInfo | None:
    if name.upper() == "UTC":
        return ZoneInfo("UTC")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*", name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().split(","):
        first, _, last = part.partition("-")
        a = DAY_NAMES.index(first)
        b = DAY_NAMES.index(last) if last else a
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def _daily(days: frozenset[int], text: str) -> DailyRange:
    match = _RANGE.fullmatch(text)
    if match is None:
        raise PeriodError(f"{text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise PeriodError(f"{text!r} is not a time range of a day (00:00 to 24:00)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end == start:
        raise PeriodError(f"{text!r} is empty")
    return DailyRange(days, time(h1, m1), end if end > start else end + 1440)


def _cron_values(text: str, lowest: int, highest: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else (1 if not step_text else 0)
        if step < 1:
            raise PeriodError(f"{part!r}: a step is a positive integer")
        if span == "*":
            a, b = lowest, highest
        else:
            first, _, last = span.partition("-")
            if not first.isdigit() or (last and not last.isdigit()):
                raise PeriodError(f"{part!r} is not N, A-B, */S or A-B/S")
            a, b = int(first), int(last) if last else int(first)
        if not lowest <= a <= b <= highest:
            raise PeriodError(f"{part!r} is outside {lowest}-{highest}")
        values.update(range(a, b + 1, step))
    return frozenset(values)


def parse_period(text: str) -> Period:
    """One period; :class:`PeriodError` saying what is wrong with it."""
    tokens = text.split()
    if not tokens:
        raise PeriodError("an empty period")
    zone = ZoneInfo("UTC")
    last = tokens[-1]
    if not _DAYS.fullmatch(last) and not _RANGE.fullmatch(last) and not _CRON_FIELD.fullmatch(last):
        found = _zone(last)
        if found is None:
            raise PeriodError(f"{last!r} is not a known time zone")
        zone, tokens = found, tokens[:-1]
    rule: DailyRange | CronMatch
    if len(tokens) == 5 and all(_CRON_FIELD.fullmatch(t) for t in tokens):
        fields = tuple(
            _cron_values(t, lo, hi) for t, (lo, hi) in zip(tokens, _CRON_BOUNDS, strict=True)
        )
        rule = CronMatch(fields)
    elif len(tokens) == 2 and _DAYS.fullmatch(tokens[0]):
        rule = _daily(_days(tokens[0]), tokens[1])
    elif len(tokens) == 1:
        rule = _daily(frozenset(range(7)), tokens[0])
    else:
        raise PeriodError(f"{text.strip()!r} is neither '[DAYS] HH:MM-HH:MM' nor 5 cron fields")
    return Period(" ".join(text.split()), rule, zone)


@lru_cache(maxsize=256)
def parse_periods(text: str) -> ExcludedPeriods:
    """Every period of an annotation (``""`` = none); :class:`PeriodError` naming the first
    bad one.

    Cached: the same text is read for every application and every cycle."""
    if len(text) > MAX_TEXT:
        raise PeriodError(f"longer than {MAX_TEXT} characters")
    parts = [p for p in text.split(";") if p.strip()]
    if len(parts) > MAX_PERIODS:
        raise PeriodError(f"more than {MAX_PERIODS} periods")
    return ExcludedPeriods(tuple(parse_period(p) for p in parts))


def next_change(periods: ExcludedPeriods, at_s: float, horizon_s: float = 8 * 86400.0) -> float:
    """When being inside or outside the periods next changes (minute resolution), or inf when
    not within ``horizon_s``: the time events and logs give as the window's end."""
    inside = periods.active(at_s) is not None
    t = (at_s // 60 + 1) * 60
    end = at_s + horizon_s
    while t <= end:
        if (periods.active(t) is not None) != inside:
            return t
        t += 60
    return float("inf")


def clock_text(at_s: float) -> str:
    """``2026-12-05T22:00Z`` (UTC); an infinite time is beyond the search horizon."""
    if at_s == float("inf"):
        return "not within 8 days"
    return (datetime.fromtimestamp(0, UTC) + timedelta(seconds=at_s)).strftime("%Y-%m-%dT%H:%MZ")
