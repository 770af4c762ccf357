"""Run variants of the decision step's settings on validation load, never on reported seeds.

Each ``--variant`` is the operator's defaults with some ``guardrails`` settings overridden,
written ``key=value`` and joined by ``;``; a key is a guardrails field, dotted into a stage's
settings (``breach_floor.hold_s``, ``raise_cap.target_utilisation``,
``slo_guard_target_utilisation``); a value is JSON (``true``, ``null``, ``0.7``). ``--grid``
adds the cartesian product of comma-separated values instead. Validation: seeds 200-204, the
five scenarios at 0.7x, 1x and 1.3x their default peaks and at 0.7x and 1.4x their default
speed (``bench/validation.py``); objective slo, in-place actuation unless ``--actuation
restart``, one-day episodes; one JSON row per (controller, case).

    nice -n 19 .venv/bin/python bench/stage_grid.py --variant "breach_floor.enabled=false" \\
        --grid "breach_floor.hold_s=1800,7200;breach_floor.input_tolerance=0.05,0.15" \\
        --workers 2 --json reports/bench/stage_grid.json
    .venv/bin/python bench/stage_tables.py validation reports/bench/stage_grid.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import validation  # bench/validation.py, beside this script

from hrl_autoscaler.config import OperatorSettings

VALIDATION_SPEEDS = (0.7, 1.4)
"""Tempos of the validation cases, as in ``bench/raise_cap.py``."""


def _terms(text: str, what: str, form: str) -> list[tuple[str, str, str]]:
    """``"a=1;b=x"`` -> ``[(term, key, value), ...]``, with an error naming a bad term."""
    terms = []
    for term in filter(None, (t.strip() for t in text.split(";"))):
        key, sep, value = term.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"bad {what} {term!r}: expected {form}")
        terms.append((term, key.strip(), value))
    return terms


def _json(term: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise SystemExit(f"bad value in {term!r}: expected JSON (true, null, 0.7)") from None


def parse_overrides(text: str) -> dict[str, Any]:
    """``"a.b=1;c=true"`` -> ``{"a.b": 1, "c": True}``, with an error naming a bad term."""
    terms = _terms(text, "override", "key=value (JSON value)")
    return {key: _json(term, value) for term, key, value in terms}


def apply_overrides(settings: OperatorSettings, overrides: dict[str, Any]) -> OperatorSettings:
    """``settings`` with the ``guardrails`` overrides, validated as the settings file is."""
    guardrails = settings.guardrails.model_dump()
    for key, value in overrides.items():
        *path, leaf = key.split(".")
        node = guardrails
        for part in path:
            if not isinstance(node.get(part), dict):
                raise SystemExit(f"unknown guardrails setting {key!r}")
            node = node[part]
        if leaf not in node:
            raise SystemExit(f"unknown guardrails setting {key!r}")
        node[leaf] = value
    data = settings.model_dump()
    data["guardrails"] = guardrails
    return OperatorSettings.model_validate(data)


def grid(text: str) -> list[dict[str, Any]]:
    """``"a=1,2;b=x,y"`` -> every combination of the values, as override dicts."""
    axes = [
        (key, [_json(term, v) for v in values.split(",")])
        for term, key, values in _terms(text, "grid axis", "key=v1,v2")
    ]
    return [
        dict(zip([k for k, _ in axes], combo, strict=True))
        for combo in itertools.product(*(vs for _, vs in axes))
    ]


def variant_name(kind: str, overrides: dict[str, Any]) -> str:
    """``hrl(a.b=1,c=true)``: the controller's name in the rows and tables."""
    terms = ",".join(f"{k}={json.dumps(v)}" for k, v in overrides.items())
    return f"{kind}({terms})" if terms else kind


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", action="append", default=[], help="key=value;key=value")
    parser.add_argument("--grid", default="", help="key=v1,v2;key=v1,v2 (cartesian product)")
    parser.add_argument(
        "--base", default="", help="overrides under every variant (not in their names)"
    )
    parser.add_argument("--kind", default="hrl", choices=("hrl", "ppo-fixed"))
    parser.add_argument("--baselines", default="", help="e.g. tuned (comma-separated)")
    parser.add_argument("--seeds", type=int, default=len(validation.VALIDATION_SEEDS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--actuation",
        default="in-place",
        choices=("in-place", "restart"),
        help="how the simulated application is scaled (default in-place)",
    )
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    base = parse_overrides(args.base)
    variants = [parse_overrides(v) for v in args.variant]
    variants += grid(args.grid) if args.grid else []
    names = [n for n in args.baselines.split(",") if n]
    defaults = OperatorSettings.built_in()
    if base:
        print(f"every variant with {variant_name(args.kind, base)}", flush=True)
    for overrides in variants or [{}]:
        settings = apply_overrides(defaults, {**base, **overrides})
        name = variant_name(args.kind, overrides)
        names.append(validation.register_variant(args.kind, name, settings))
    suite = validation.validation_suite(args.seeds, VALIDATION_SPEEDS)
    validation.run(names, suite, args.workers, args.json, args.actuation)


if __name__ == "__main__":
    main()
