"""What several subcommands share: the consoles (of :mod:`tools.terminal`) and the
``--calibration`` option."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hrl_autoscaler.tools.terminal import console, out

if TYPE_CHECKING:
    from hrl_autoscaler.config import SimParams

__all__ = ["add_calibration_argument", "calibrated", "calibrated_peak", "console", "out"]


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
