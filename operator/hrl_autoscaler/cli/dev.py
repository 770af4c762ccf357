"""``hrl-autoscaler dev``: the options and the run live in :mod:`tools.devenv.cli` (which also
serves ``python -m hrl_autoscaler.tools.devenv``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hrl_autoscaler.tools.devenv.cli import DESCRIPTION, add_arguments

    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from hrl_autoscaler.tools.devenv.cli import run as run_dev

    return run_dev(args)
