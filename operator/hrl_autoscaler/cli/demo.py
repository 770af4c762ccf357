"""``hrl-autoscaler demo``: the operator live on a local control plane with emulated Spark."""

from __future__ import annotations

import argparse
from pathlib import Path

from hrl_autoscaler.tools.argtypes import number

DESCRIPTION = (
    "Start a local kube-apiserver, etcd and Prometheus, the emulated Spark data "
    "plane (accelerated) with three applications on different scenarios and weight "
    "policies, and the operator as its own process; show a live table, then write "
    "demo.json and demo.png into --report-dir and stop everything it started."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument(
        "--duration",
        type=number(),
        default=180.0,
        help="wall seconds to run (default %(default)s)",
    )
    parser.add_argument(
        "--speed",
        type=number(),
        default=20.0,
        help="simulated seconds per wall second (default %(default)s: 3 minutes show an hour)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports/demo"),
        help="where to write (default %(default)s)",
    )
    parser.add_argument(
        "--no-live", action="store_true", help="print progress lines, no live table"
    )


def run(args: argparse.Namespace) -> int:
    try:
        from hrl_autoscaler.tools.demo.live import run_demo
    except ImportError as exc:
        raise SystemExit(f"the demo needs the [k8s] extra (kopf, kubernetes): {exc}") from None
    return run_demo(args.duration, args.speed, args.report_dir, live=not args.no_live)
