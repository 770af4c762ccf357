"""``hrl-autoscaler heldout``: the train suite and the held-out suite, reported separately."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hrl_autoscaler.cli.common import add_calibration_argument, calibrated, console, out
from hrl_autoscaler.config import ACTUATIONS, EVALUATION, SimParams
from hrl_autoscaler.tools.argtypes import integer

CONTROLLERS = (
    "static-max",
    "hpa",
    "spark-da",
    "spark-streaming-da",
    "ds2",
    "flink",
    "tuned",
    "ppo-fixed",
    "hrl",
    "oracle",
)
"""Every baseline, the fixed-weight PPO agent, hrl and the oracle (the reference)."""
SUITE_CHOICES = ("train", "heldout", "both")

DESCRIPTION = """\
Generalisation, not tuning: evaluate controllers on the load they were trained and tuned on
(TRAIN) and on load none of them has seen (HELD-OUT), and report the two apart.

TRAIN: the five scenarios at their default peaks, seeds 0-9 (what the README reports).
HELD-OUT: seeds 1000-1009 (used nowhere else); every scenario at 0.5x and 1.6x its default
peak (training jitters peaks within 0.7x-1.3x); the time-structured scenarios played 2x
faster and 2x slower; mixtures of 2-3 scenarios with Dirichlet weights; synthetic families
(diurnal with level changes and heavy-tailed spikes, on/off, random walk with level shifts,
sawtooth). Scenario-derived cases keep the scenario's latency SLO, the others take 2000 ms.

Per case: SLO score (mean and 95% CI), cost and scalings per hour of every controller; per
suite: whether hrl scores at least the best non-oracle controller and hrl's score as a share
of the oracle's. Writes heldout.json, heldout.md and heldout.png into --out."""


def _suite(text: str) -> str:
    if text not in SUITE_CHOICES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a suite; accepted values: {', '.join(SUITE_CHOICES)}"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--controllers",
        default=",".join(CONTROLLERS),
        help="comma-separated controllers (default: %(default)s)",
    )
    parser.add_argument(
        "--seeds",
        type=integer(1),
        default=10,
        help="episodes per controller and case, the first N of each suite's seeds "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--episode-steps",
        type=integer(1),
        default=EVALUATION.episode_steps,
        help="decision intervals per episode (default %(default)s = one day)",
    )
    parser.add_argument(
        "--actuation",
        choices=ACTUATIONS,
        default=SimParams.actuation,
        help="in-place executor changes or a restart per change (default %(default)s)",
    )
    add_calibration_argument(parser)
    parser.add_argument(
        "--suite",
        type=_suite,
        default="both",
        metavar="{train,heldout,both}",
        help="which suite(s) to evaluate (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=integer(1),
        default=None,
        help="parallel processes (default: one per CPU)",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/heldout"), help="output directory")


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from hrl_autoscaler.research.baselines.registry import parse_controllers
    from hrl_autoscaler.research.evaluation.heldout import (
        HeldoutConfig,
        evaluate_suites,
        limit_seeds,
        suites,
    )
    from hrl_autoscaler.research.evaluation.heldout_report import write_report
    from hrl_autoscaler.tools.calibration.schema import calibrated_peak_rate

    controllers = tuple(parse_controllers(args.controllers))
    params = calibrated(args.calibration, SimParams(actuation=args.actuation))
    # A calibrated cluster's capacity differs from the default's: keep every case's peak at
    # the same share of the 20-executor capacity, as `ablation --calibration` does.
    scale = calibrated_peak_rate(1.0, params) if args.calibration is not None else 1.0
    chosen = [limit_seeds(s, args.seeds) for s in suites(args.suite, scale)]
    config = HeldoutConfig(controllers, params, args.episode_steps)
    command = (
        f"hrl-autoscaler heldout --controllers {','.join(controllers)} --seeds {args.seeds} "
        f"--episode-steps {args.episode_steps} --actuation {args.actuation} "
        f"--suite {args.suite} --out {args.out}"
        + (f" --calibration {args.calibration}" if args.calibration else "")
    )
    started = time.perf_counter()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("heldout", total=None)

        def step(suite: str, case: str, total: int) -> None:
            progress.update(task, advance=1, total=total, description=f"{suite} / {case}")

        results = evaluate_suites(config, chosen, args.workers, on_episode=step)
    summary = write_report(config, chosen, results, args.out, command)
    for suite, lines in summary.items():
        out.print(f"[bold]{suite}[/]")
        for line in lines:
            out.print(f"  {line}", soft_wrap=True)
    console.print(f"heldout done in {time.perf_counter() - started:.0f} s; wrote {args.out}")
    return 0
