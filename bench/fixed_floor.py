"""``hrl`` under fixed executor floors on one validation case: what docs/headroom.md's first
table comes from (why a floor has to come from the application's own load).

Each floor is the application's ``min-executors``, set as a user would; ``--tempo`` plays the
scenario at that many times its speed, ``--peak`` at that many times its default peak.
Seeds 200-204 (validation), one-day episodes, the SLO score.

    PYTHONPATH=operator .venv/bin/python bench/fixed_floor.py smart-hospital --tempo 1.4 \\
        --floors 8,12,14,16 --controllers tuned
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.baselines.registry import build_controller, register_controller
from hrl_autoscaler.research.evaluation.heldout import Case
from hrl_autoscaler.research.evaluation.runner import run_on_load
from hrl_autoscaler.research.sim.workloads import SCENARIOS, scenario
from hrl_autoscaler.runtime.core.controller import ControlContext, Controller

SEEDS = range(200, 205)


def floored(base: str, floor: int) -> None:
    """Register ``<base>@floor<floor>``: ``base`` with the application's minimum at ``floor``."""

    def build(objective: str, latency_slo_ms: float) -> Controller:
        controller = build_controller(base, objective, latency_slo_ms)
        reset = controller.reset

        def at_floor(ctx: ControlContext) -> None:
            reset(replace(ctx, min_executors=floor))

        controller.reset = at_floor  # type: ignore[method-assign]
        return controller

    register_controller(f"{base}@floor{floor}", build)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--tempo", type=float, default=1.0, help="times the scenario's speed")
    parser.add_argument("--peak", type=float, default=1.0, help="times the default peak")
    parser.add_argument("--floors", default="8,12,16", help="comma-separated executor floors")
    parser.add_argument("--base", default="hrl-unpadded", help="the controller floored")
    parser.add_argument("--controllers", default="tuned", help="also run, unfloored")
    args = parser.parse_args()
    s = scenario(args.scenario)
    # named as the validation and held-out suites name their cases: the same names, the same load
    speed = args.tempo != 1.0
    case = Case(
        f"{args.scenario}@speed{args.tempo:g}x" if speed else f"{args.scenario}@peak{args.peak:g}x",
        "speed" if speed else "peak",
        s.latency_slo_ms,
        s.peak_rate_eps * args.peak,
        scenarios=(args.scenario,),
        speed=args.tempo,
    )
    names = [args.base]
    for floor in (int(f) for f in args.floors.split(",") if f):
        floored(args.base, floor)
        names.append(f"{args.base}@floor{floor}")
    names += [c for c in args.controllers.split(",") if c]
    params = SimParams()
    for name in names:
        scores = [
            run_on_load(
                name,
                case.load(seed, 2880, params.decision_interval_s),
                params,
                "slo",
                s.latency_slo_ms,
                seed,
            )[0].slo_score
            for seed in SEEDS
        ]
        print(f"{case.name:24s} {name:28s} SLO score {np.mean(scores):7.3f}  {np.round(scores, 3)}")


if __name__ == "__main__":
    main()
