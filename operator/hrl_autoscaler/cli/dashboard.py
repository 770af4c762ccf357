"""``hrl-autoscaler dashboard``: the options and the run live in :mod:`tools.dashboard.command`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hrl_autoscaler.tools.dashboard.command import HELP, add_arguments

    parser.description = HELP
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from hrl_autoscaler.tools.dashboard.command import run as run_dashboard

    return run_dashboard(args)
