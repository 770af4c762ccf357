"""Check the anticipation stage on validation load, never on the reported seeds.

Validation: seeds 200-204 (the load ``tuned`` and the margin trim were chosen on; not the
README's 0-9 nor the held-out 1000+), the five scenarios at 0.7x, 1x and 1.3x their default
peaks, and at 0.7x and 1.4x their default speed (the held-out suite replays them at 0.5x and
2x: the periods found here are not the held-out ones). Objective slo, in-place actuation,
one-day episodes, one process (``--workers 1`` by default: the machine is shared). Runs the
reference controllers and ``hrl`` with the anticipation at each correlation threshold and
season count asked for, alone and beside the margin trim, and writes one JSON row per
(controller, case).

    nice -n 19 .venv/bin/python bench/anticipation.py --json reports/bench/anticipation.json
    .venv/bin/python bench/stage_tables.py validation reports/bench/anticipation.json
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import validation  # bench/validation.py, beside this script

from hrl_autoscaler.research.evaluation.pipeline_controller import UNTRIMMED, with_stages
from hrl_autoscaler.runtime.core.anticipation import AnticipationSettings
from hrl_autoscaler.runtime.core.margintrim import MarginTrimSettings

VALIDATION_SPEEDS = (0.7, 1.4)
"""Tempos of the validation cases: the held-out suite's are 0.5x and 2x."""


def register(
    kind: str, window: int | None, ahead: AnticipationSettings, guard: float | None
) -> str:
    """``kind`` with the anticipation, the evaluated margin trim (the default since session
    14) at peak window ``window`` (None: no trim) and the SLO guard's latency factor at
    ``guard`` (None: the default, 1 x SLO since session 14; 3 when docs/anticipation.md was
    measured)."""
    trim = UNTRIMMED if window is None else replace(MarginTrimSettings(), peak_window=window)
    label = "" if window is None else f"-trim(w={window})"
    label += "" if guard is None else f"-guard({guard:g})"
    name = f"{kind}{label}-ahead(c={ahead.correlation:g},s={ahead.seasons})"
    guard_settings = None if guard is None else {"slo_guard_latency_factor": guard}
    settings = with_stages(trim=trim, anticipation=ahead, slo_guard=guard_settings)
    return validation.register_variant(kind, name, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--correlations", default="0.6", help="comma-separated thresholds")
    parser.add_argument("--seasons", default="2", help="comma-separated season counts")
    parser.add_argument("--kind", default="hrl", choices=("hrl", "ppo-fixed"))
    parser.add_argument(
        "--trim-windows",
        default="none,0,40",
        help="the margin trim beside the anticipation: none, or its peak windows (decisions)",
    )
    parser.add_argument(
        "--slo-guard-factors",
        default="default",
        help="the SLO guard's latency factor (x SLO) beside the anticipation: default or numbers",
    )
    parser.add_argument("--baselines", default="tuned,hrl-unstaged,hrl")
    parser.add_argument("--seeds", type=int, default=len(validation.VALIDATION_SEEDS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    names = [n for n in args.baselines.split(",") if n]
    windows = [None if x == "none" else int(x) for x in args.trim_windows.split(",")]
    guards = [None if x == "default" else float(x) for x in args.slo_guard_factors.split(",")]
    for c in (float(x) for x in args.correlations.split(",")):
        for seasons in (int(x) for x in args.seasons.split(",")):
            ahead = AnticipationSettings(enabled=True, correlation=c, seasons=seasons)
            names += [register(args.kind, w, ahead, g) for w in windows for g in guards]
    suite = validation.validation_suite(args.seeds, VALIDATION_SPEEDS)
    validation.run(names, suite, args.workers, args.json)


if __name__ == "__main__":
    main()
