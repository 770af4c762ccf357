"""argparse ``type=`` callables shared by every subcommand.

argparse puts the option's name in front of an :class:`argparse.ArgumentTypeError`
(``argument --speed: must be a finite number > 0, got -1``), so these messages say only what
was wrong with the value and what is accepted.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def number(minimum: float = 0.0, *, strict: bool = True) -> Callable[[str], float]:
    """A finite number above ``minimum`` (or at least it, with ``strict=False``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        ok = value > minimum if strict else value >= minimum
        if not math.isfinite(value) or not ok:
            relation = ">" if strict else ">="
            raise argparse.ArgumentTypeError(
                f"must be a finite number {relation} {minimum:g}, got {text}"
            )
        return value

    return parse


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An integer in ``[minimum, maximum]`` (no upper bound when ``maximum`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text}")
        return value

    return parse


def positive_list(kind: Callable[[str], float], what: str) -> Callable[[str], tuple[float, ...]]:
    """A comma-separated, non-empty list of positive finite numbers parsed by ``kind``."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of {what}"
            ) from None
        if not values or any(not math.isfinite(v) or v <= 0 for v in values):
            raise argparse.ArgumentTypeError(f"expected positive {what}, got {text!r}")
        return values

    return parse
