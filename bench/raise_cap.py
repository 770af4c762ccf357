"""Choose the raise cap and the SLO guard's sizing on validation load, never on reported seeds.

Validation: seeds 200-204, the five scenarios at 0.7x, 1x and 1.3x their default peaks and at
0.7x and 1.4x their default speed (``bench/validation.py``). Objective slo, in-place actuation,
one-day episodes. Runs the reference controllers and ``hrl`` (the operator's defaults
otherwise) for every combination asked for of the guard's rescue sizing (utilisation,
catch-up) and the raise cap (off, or its latency factor, utilisation and margin), one JSON row
per (controller, case). ``docs/raise-cap.md`` has the grid it was chosen from.

    nice -n 19 .venv/bin/python bench/raise_cap.py --guard-utilisations 0.7,0.5 \\
        --guard-catch-ups 300,60 --cap-factors off,0.9 --json reports/bench/raise_cap.json
    .venv/bin/python bench/stage_tables.py validation reports/bench/raise_cap.json
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import validation  # bench/validation.py, beside this script

from hrl_autoscaler.research.evaluation.pipeline_controller import with_stages
from hrl_autoscaler.runtime.core.raisecap import RaiseCapSettings

VALIDATION_SPEEDS = (0.7, 1.4)
"""Tempos of the validation cases, as in ``bench/slo_guard_validation.py``."""


def register(kind: str, guard_u: float, catch_up_s: float, cap: RaiseCapSettings) -> str:
    """``kind`` with the guard's rescue at ``guard_u`` and ``catch_up_s``, and ``cap``."""
    capped = (
        f"cap(f={cap.latency_factor:g},u={cap.target_utilisation:g},m={cap.margin})"
        if cap.enabled
        else "uncapped"
    )
    name = f"{kind}-guard(u={guard_u:g},c={catch_up_s:g})-{capped}"
    guard = {"slo_guard_target_utilisation": guard_u, "slo_guard_catch_up_s": catch_up_s}
    return validation.register_variant(kind, name, with_stages(slo_guard=guard, raise_cap=cap))


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guard-utilisations", default="0.5", help="comma-separated, (0, 1]")
    parser.add_argument("--guard-catch-ups", default="60", help="comma-separated seconds")
    parser.add_argument(
        "--cap-factors", default="off,0.9", help="comma-separated x SLO, or off (no cap)"
    )
    parser.add_argument("--cap-utilisations", default="0.85", help="comma-separated, (0, 1]")
    parser.add_argument("--cap-margins", default="0", help="comma-separated executors")
    parser.add_argument("--kind", default="hrl", choices=("hrl", "ppo-fixed"))
    parser.add_argument("--baselines", default="tuned")
    parser.add_argument("--seeds", type=int, default=len(validation.VALIDATION_SEEDS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    caps: list[RaiseCapSettings] = []
    for factor in args.cap_factors.split(","):
        if factor == "off":
            caps.append(RaiseCapSettings(enabled=False))
            continue
        for u, m in itertools.product(_floats(args.cap_utilisations), args.cap_margins.split(",")):
            caps.append(RaiseCapSettings(True, float(factor), u, int(m)))
    names = [n for n in args.baselines.split(",") if n]
    for guard_u, catch_up_s, cap in itertools.product(
        _floats(args.guard_utilisations), _floats(args.guard_catch_ups), caps
    ):
        names.append(register(args.kind, guard_u, catch_up_s, cap))
    suite = validation.validation_suite(args.seeds, VALIDATION_SPEEDS)
    validation.run(names, suite, args.workers, args.json)


if __name__ == "__main__":
    main()
