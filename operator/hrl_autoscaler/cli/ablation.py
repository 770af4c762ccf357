"""``hrl-autoscaler ablation``: fixed vs meta-learned weights, every scenario and objective."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hrl_autoscaler.cli.common import (
    add_calibration_argument,
    calibrated,
    calibrated_peak,
    console,
    out,
)
from hrl_autoscaler.config import ACTUATIONS, EVALUATION, SimParams
from hrl_autoscaler.tools.argtypes import integer

DESCRIPTION = (
    "Evaluate static-max, hpa, spark-da, spark-streaming-da, ds2, flink, tuned, ppo-fixed, hrl "
    "and the oracle on every scenario under both objectives; write ablation.json, ablation.md "
    "(tables and targets) and ablation.png into --out."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("--seeds", type=integer(1), default=5)
    parser.add_argument("--episode-steps", type=integer(1), default=EVALUATION.episode_steps)
    parser.add_argument("--actuation", choices=ACTUATIONS, default=SimParams.actuation)
    parser.add_argument("--out", type=Path, default=Path("docs/ablation"))
    add_calibration_argument(parser)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is not met")


def run(args: argparse.Namespace) -> int:
    from hrl_autoscaler.research.evaluation.ablation import run_ablation, write_outputs
    from hrl_autoscaler.research.sim.workloads import SCENARIOS

    command = (
        f"hrl-autoscaler ablation --seeds {args.seeds} --episode-steps {args.episode_steps} "
        f"--actuation {args.actuation} --out {args.out}"
        + (f" --calibration {args.calibration}" if args.calibration else "")
    )
    params = calibrated(args.calibration, SimParams(actuation=args.actuation))
    peaks = None
    if args.calibration is not None:
        peaks = {name: calibrated_peak(name, params) for name in SCENARIOS}
        console.print(
            "scenario peaks rescaled to its capacity: "
            + ", ".join(f"{name} {peak:,.0f}" for name, peak in peaks.items())
            + " events/s"
        )
    started = time.perf_counter()
    with console.status("ablation") as status:
        rows = run_ablation(
            args.seeds,
            args.episode_steps,
            params,
            on_progress=lambda what: status.update(f"ablation: {what}"),
            peak_rates=peaks,
        )
    found = write_outputs(rows, args.out, command)
    out.print((args.out / "ablation.md").read_text())
    console.print(f"ablation done in {time.perf_counter() - started:.0f} s; wrote {args.out}")
    return 0 if all(t.met for t in found) or not args.strict else 1
