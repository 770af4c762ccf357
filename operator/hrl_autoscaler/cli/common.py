"""What several subcommands share: the two consoles and the ``--calibration`` option."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from hrl_autoscaler.config import SimParams

#: Progress, status and errors (stderr), so that stdout carries only results.
console = Console(stderr=True)
#: Results: tables and JSON (a fixed width when piped, so lines are not cut at 80 columns).
out = Console(width=None if sys.stdout.isatty() else 160)


def add_calibration_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="PATH",
        help="simulator parameters fitted by `hrl-autoscaler calibrate` (a calibration.json); "
        "a scenario's default peak is rescaled to the calibrated cluster's capacity",
    )


def calibrated(path: Path | None, params: SimParams) -> SimParams:
    """``params`` with a calibration file's fitted values, or unchanged without one."""
    if path is None:
        return params
    from hrl_autoscaler.tools.calibration.schema import load_sim_params

    fitted = load_sim_params(path, params)
    console.print(f"calibration {path}: {fitted.executor_rate_eps:,.0f} events/s per executor")
    return fitted


def calibrated_peak(scenario_name: str, params: SimParams) -> float:
    from hrl_autoscaler.research.sim.workloads import scenario
    from hrl_autoscaler.tools.calibration.schema import calibrated_peak_rate

    return calibrated_peak_rate(scenario(scenario_name).peak_rate_eps, params)
