"""``hrl-autoscaler scenarios``: list the built-in IoT workload scenarios."""

from __future__ import annotations

import argparse

from hrl_autoscaler.cli.common import out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hrl_autoscaler.research.sim.workloads import SCENARIOS

    table = Table(title="IoT workload scenarios")
    for col in ("name", "peak events/s", "latency SLO ms", "description"):
        table.add_column(col)
    for s in SCENARIOS.values():
        table.add_row(s.name, f"{s.peak_rate_eps:,.0f}", f"{s.latency_slo_ms:,.0f}", s.description)
    out.print(table)
    return 0
