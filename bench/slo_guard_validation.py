"""Check the SLO guard's settings on validation load, never on the reported seeds.

Validation: seeds 200-204, the five scenarios at 0.7x, 1x and 1.3x their default peaks and at
0.7x and 1.4x their default speed (``bench/validation.py``; the held-out suite replays them at
0.5x and 2x). Objective slo, in-place actuation, one-day episodes. Runs the reference
controllers and ``hrl`` (the operator's defaults otherwise) with the guard at each (breach
cycles, latency factor, stand-down gain) asked for, and writes one JSON row per (controller,
case).

    nice -n 19 .venv/bin/python bench/slo_guard_validation.py --cycles 1,2,3 \
        --json reports/bench/slo_guard_validation.json
    .venv/bin/python bench/stage_tables.py validation reports/bench/slo_guard_validation.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import validation  # bench/validation.py, beside this script

from hrl_autoscaler.research.evaluation.pipeline_controller import with_stages

VALIDATION_SPEEDS = (0.7, 1.4)
"""Tempos of the validation cases, as in ``bench/anticipation.py``."""


def register(kind: str, cycles: int, factor: float, gain: float) -> str:
    """``kind`` with the guard acting after ``cycles`` decisions above ``factor`` x SLO and
    standing down below a latency gain of ``gain``."""
    name = f"{kind}-guard(c={cycles},f={factor:g},g={gain:g})"
    guard = {
        "slo_guard_cycles": cycles,
        "slo_guard_latency_factor": factor,
        "slo_guard_min_gain": gain,
    }
    return validation.register_variant(kind, name, with_stages(slo_guard=guard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", default="1,2,3", help="comma-separated breach cycles")
    parser.add_argument("--factors", default="1", help="comma-separated latency factors (x SLO)")
    parser.add_argument("--min-gains", default="0.1", help="comma-separated stand-down gains")
    parser.add_argument("--kind", default="hrl", choices=("hrl", "ppo-fixed"))
    parser.add_argument("--baselines", default="tuned")
    parser.add_argument("--seeds", type=int, default=len(validation.VALIDATION_SEEDS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    names = [n for n in args.baselines.split(",") if n]
    for c in (int(x) for x in args.cycles.split(",")):
        for f in (float(x) for x in args.factors.split(",")):
            for g in (float(x) for x in args.min_gains.split(",")):
                names.append(register(args.kind, c, f, g))
    suite = validation.validation_suite(args.seeds, VALIDATION_SPEEDS)
    validation.run(names, suite, args.workers, args.json)


if __name__ == "__main__":
    main()
