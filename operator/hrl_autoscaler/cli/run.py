"""``hrl-autoscaler run``: the operator (the options live in :mod:`runtime.service.command`)."""

from __future__ import annotations

import argparse

DESCRIPTION = (
    "Watch SparkApplications labelled hrl-autoscaler.io/enabled=true, decide "
    "their executor counts from Prometheus metrics every decision interval (PPO + "
    "guardrails, DS2 fallback), retune reward weights every meta interval (TD3), and "
    "report with events, a state ConfigMap per application and /metrics. Settings: "
    "defaults < --config YAML < HRL_AUTOSCALER_* environment < flags."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hrl_autoscaler.runtime.service.command import add_run_arguments

    parser.description = DESCRIPTION
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from hrl_autoscaler.runtime.service.command import run_command

    return run_command(args)
