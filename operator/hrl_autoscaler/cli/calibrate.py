"""``hrl-autoscaler calibrate``: the options and the run live in
:mod:`research.calibration.command`."""

from __future__ import annotations

import argparse

from hrl_autoscaler.cli.common import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hrl_autoscaler.tools.calibration.command import DESCRIPTION, add_calibrate_arguments

    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_calibrate_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from hrl_autoscaler.tools.calibration.command import run_calibrate_command

    return run_calibrate_command(args, console)
