"""The ``hrl-autoscaler`` command: one entry point, a subcommand per job.

Every subcommand is a row of :data:`SUBCOMMANDS` and a module (``hrl_autoscaler.cli.<module>``,
or a tool's own command module) with two functions: ``add_arguments(parser)`` (its options,
and its description when it has one) and ``run(args) -> int`` (the exit code). Adding a
command is adding both. Modules load only when their subcommand is named, and heavy imports
wait inside ``run``, so ``--help`` stays fast (no torch, no scipy).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Subcommand:
    name: str
    """What the user types: ``hrl-autoscaler NAME``."""
    module: str
    """The module with ``add_arguments`` and ``run``: a name under ``hrl_autoscaler.cli``, or
    a dotted path where a tool's own command module serves it directly."""
    help: str
    """One line for the list in ``hrl-autoscaler --help``."""

    def load(self) -> ModuleType:
        name = self.module if "." in self.module else f"{__name__}.{self.module}"
        return importlib.import_module(name)


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(
        "evaluate",
        "evaluate",
        "compare controllers (baselines, RL agents, the oracle) on the simulator",
    ),
    Subcommand(
        "evaluate-fleet",
        "evaluate_fleet",
        "many applications under one ExecutorBudget: arbitration policies vs the oracle bound",
    ),
    Subcommand(
        "ablation",
        "ablation",
        "the seed's ablation: fixed vs meta-learned weights, every scenario and objective",
    ),
    Subcommand(
        "heldout",
        "heldout",
        "generalisation, not tuning: the train suite and a held-out suite, reported apart",
    ),
    Subcommand(
        "loadgen",
        "hrl_autoscaler.tools.loadgen.command",
        "IoT sensor events at a scenario's, a trace's or a constant rate (files or Kafka)",
    ),
    Subcommand(
        "calibrate",
        "hrl_autoscaler.tools.calibration.command",
        "measure the real Spark IoT job (standalone or executor pods) and fit the simulator",
    ),
    Subcommand(
        "train",
        "train",
        "train the PPO executor policy (train ppo) or a TD3 meta-controller (train meta)",
    ),
    Subcommand("scenarios", "scenarios", "list the built-in IoT workload scenarios"),
    Subcommand(
        "bench",
        "bench",
        "measure the simulator, one policy decision, the decision path, an evaluation or the "
        "operator",
    ),
    Subcommand("run", "run", "the operator: autoscale labelled SparkApplications (kopf)"),
    Subcommand(
        "explain",
        "explain",
        "one application's settings and their origins, its decisions, weights, holds, budget",
    ),
    Subcommand(
        "demo",
        "demo",
        "the main job: the operator live on a local control plane with emulated Spark",
    ),
    Subcommand(
        "dev",
        "hrl_autoscaler.tools.devenv.cli",
        "the local control plane (kube-apiserver, etcd, Prometheus) for tests and demos",
    ),
    Subcommand(
        "kafka-lag-exporter",
        "hrl_autoscaler.tools.kafka_lag.command",
        "serve Kafka consumer-group lag (the backlog signal) for Prometheus",
    ),
    Subcommand(
        "dashboard",
        "hrl_autoscaler.tools.dashboard.command",
        "run the Grafana dashboard's queries against Prometheus (check) or draw it (render)",
    ),
)

BY_NAME: dict[str, Subcommand] = {s.name: s for s in SUBCOMMANDS}


def description() -> str:
    """The top-level ``--help`` text, its list of subcommands generated from the table."""
    width = max(len(s.name) for s in SUBCOMMANDS)
    rows = "\n".join(f"  {s.name:<{width}}  {s.help}" for s in SUBCOMMANDS)
    return (
        "Autoscale Spark streaming applications on Kubernetes with hierarchical reinforcement "
        f"learning.\n\nSubcommands:\n{rows}\n\n"
        "Run `hrl-autoscaler SUBCOMMAND --help` for the options of each.\n"
    )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, just that subcommand's options are defined.

    ``main`` passes the subcommand it was given, so ``hrl-autoscaler evaluate ...`` imports the
    evaluate module and no other; the other subcommands stay registered (for the usage line and
    the error on an unknown name) without options.
    """
    parser = argparse.ArgumentParser(
        prog="hrl-autoscaler",
        description=description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(
        dest="command", metavar="SUBCOMMAND", help="one of the subcommands above"
    )
    for entry in SUBCOMMANDS:
        # no help= here: the description already lists every subcommand once
        sub_parser = sub.add_parser(entry.name)
        if only is None or only == entry.name:
            entry.load().add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    named = argv[0] if argv and argv[0] in BY_NAME else ""
    parser = build_parser(only=named)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(BY_NAME[args.command].load().run(args))
    except ValueError as exc:  # bad inputs (trace files, names, ranges): one clear line
        from hrl_autoscaler.cli.common import console

        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)  # one line: greppable
        return 2
