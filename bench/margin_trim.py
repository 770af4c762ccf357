"""Choose the margin trim's setting on validation load, never on the reported seeds.

Validation: seeds 200-204 (the load ``tuned`` was tuned on; not the README's 0-9 nor the
held-out 1000+), the five scenarios at 0.7x, 1x and 1.3x their default peaks, objective slo,
in-place actuation, one-day episodes. Runs ``hrl`` (and ``tuned`` for reference) and ``hrl``
with the trim at every setting of a small grid, one process (``--workers 1``: the machine is
shared), and writes one JSON row per (controller, case) plus a markdown table.

    nice -n 19 .venv/bin/python bench/margin_trim.py --json reports/bench/margin_trim.json
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import validation  # bench/validation.py, beside this script

from hrl_autoscaler.research.evaluation.pipeline_controller import (
    REACTIVE,
    with_stages,
)
from hrl_autoscaler.runtime.core.margintrim import MarginTrimSettings


def variant_name(kind: str, t: MarginTrimSettings) -> str:
    u = "ds2" if t.target_utilisation is None else f"{t.target_utilisation:g}"
    w = f",w={t.peak_window}" if t.peak_window else ""
    h = f",h={t.hold_factor:g}" if t.hold_factor is not None else ""
    return f"{kind}-trim(q={t.quiet_factor:g},c={t.quiet_cycles},m={t.margin},u={u}{w}{h})"


def register(kind: str, trim: MarginTrimSettings, reactive: bool, guard: float) -> str:
    name = variant_name(kind, trim)
    settings = with_stages(
        trim=trim,
        anticipation=REACTIVE if reactive else None,
        slo_guard={"slo_guard_latency_factor": guard},
    )
    return validation.register_variant(kind, name, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quiet-factors", default="0.5,0.7")
    parser.add_argument("--cycles", default="6,12")
    parser.add_argument("--margins", default="0,1")
    parser.add_argument("--utilisations", default="ds2", help="ds2 (0.7) and/or numbers")
    parser.add_argument("--windows", default="0", help="peak windows (decisions)")
    parser.add_argument("--holds", default="none", help="hold factors (x SLO) and/or none")
    parser.add_argument(
        "--speeds", default="", help="tempos to add to the validation cases, e.g. 0.7,1.4"
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kind", default="hrl", choices=("hrl", "ppo-fixed"))
    parser.add_argument(
        "--reactive",
        action="store_true",
        help="the anticipation off, as when docs/margin-trim.md was measured (with "
        "--baselines tuned,hrl-reactive)",
    )
    parser.add_argument(
        "--slo-guard-factor",
        type=float,
        default=1.0,
        help="the SLO guard's latency factor (x SLO) beside the trim: 1, the operator's "
        "default since session 14; 3 as when docs/margin-trim.md was measured",
    )
    parser.add_argument("--baselines", default="tuned,hrl")
    parser.add_argument("--seeds", type=int, default=len(validation.VALIDATION_SEEDS))
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    names = [n for n in args.baselines.split(",") if n]
    for q, c, m, u, w, h in itertools.product(
        [float(x) for x in args.quiet_factors.split(",")],
        [int(x) for x in args.cycles.split(",")],
        [int(x) for x in args.margins.split(",")],
        [None if x == "ds2" else float(x) for x in args.utilisations.split(",")],
        [int(x) for x in args.windows.split(",")],
        [None if x == "none" else float(x) for x in args.holds.split(",")],
    ):
        trim = MarginTrimSettings(True, q, c, m, u, w, h)
        names.append(register(args.kind, trim, args.reactive, args.slo_guard_factor))
    speeds = tuple(float(x) for x in args.speeds.split(",") if x)
    suite = validation.validation_suite(args.seeds, speeds)
    validation.run(names, suite, args.workers, args.json)


if __name__ == "__main__":
    main()
