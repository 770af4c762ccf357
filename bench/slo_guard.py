"""The SLO guard's effect on the simulator: each RL controller with and without it.

For every scenario, under the SLO objective, runs ``hrl`` and ``ppo-fixed`` as shipped (guard
on), the same without the guard, and PPO under ``cost-first`` weights (the case the guard was
built for: the clipped latency reward lets it park at one executor) with and without it, on the
same seeds. Prints one table (SLO score, SLO attainment, cost per hour, scaling actions per
hour) and optionally writes JSON.

    .venv/bin/python bench/slo_guard.py --seeds 5 --json reports/bench/slo_guard.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hrl_autoscaler.config import OperatorSettings
from hrl_autoscaler.research.baselines.registry import register_controller
from hrl_autoscaler.research.evaluation.pipeline_controller import (
    pipeline_controller,
)
from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, run_evaluation
from hrl_autoscaler.research.sim.workloads import SCENARIOS


def _settings(guard: bool) -> OperatorSettings:
    """The operator's defaults with the SLO guard on or off."""
    s = OperatorSettings.built_in()
    return s.model_copy(update={"guardrails": s.guardrails.model_copy(update={"slo_guard": guard})})


def _register() -> tuple[str, ...]:
    off = _settings(False)
    register_controller(
        "hrl-noguard",
        lambda o, s: pipeline_controller("hrl", o, s, settings=off, name="hrl-noguard"),
    )
    register_controller(
        "ppo-fixed-noguard",
        lambda o, s: pipeline_controller("ppo-fixed", o, s, settings=off, name="ppo-fixed-noguard"),
    )
    register_controller(
        "ppo-cost-first",
        lambda o, s: pipeline_controller(
            "ppo-fixed", o, s, weight_policy="cost-first", name="ppo-cost-first"
        ),
    )
    register_controller(
        "ppo-cost-first-noguard",
        lambda o, s: pipeline_controller(
            "ppo-fixed", o, s, off, weight_policy="cost-first", name="ppo-cost-first-noguard"
        ),
    )
    return (
        "hrl",
        "hrl-noguard",
        "ppo-fixed",
        "ppo-fixed-noguard",
        "ppo-cost-first",
        "ppo-cost-first-noguard",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    controllers = _register()
    table = Table(title="SLO guard on/off (objective slo, mean over seeds)")
    for column in ("scenario", "controller", "slo score", "violations %", "$/h", "actions/h"):
        table.add_column(column)
    out: dict[str, list[dict[str, object]]] = {}
    for name in SCENARIOS:
        spec = EvaluationSpec(controllers=controllers, scenario=name, seeds=args.seeds)
        rows = run_evaluation(spec).rows
        out[name] = [row.to_dict() for row in rows]
        for row in rows:
            table.add_row(
                name,
                row.controller,
                f"{row.slo_score_mean:.3f} ± {row.slo_score_ci95:.3f}",
                f"{row.slo_violation_pct:.1f}",
                f"{row.cost_per_hour:.2f}",
                f"{row.scaling_actions_per_hour:.1f}",
            )
    Console().print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
