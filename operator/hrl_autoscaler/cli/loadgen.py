"""``hrl-autoscaler loadgen``: the options and the run live in :mod:`tools.loadgen.command`."""

from __future__ import annotations

import argparse

from hrl_autoscaler.cli.common import console, out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hrl_autoscaler.tools.loadgen.command import DESCRIPTION, add_loadgen_arguments

    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_loadgen_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from hrl_autoscaler.tools.loadgen.command import run_loadgen_command

    return run_loadgen_command(args, console, out)
