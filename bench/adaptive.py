"""Learned restart times and ineffective-scaling detection on the simulator: on against off.

For every scenario, under the SLO objective, runs ``hrl`` and ``ppo-fixed`` as shipped and the
same with one feature switched off (``--feature ineffective``: the ineffective-scaling
detection; ``--feature restart``: restart-time tracking, which only acts in restart actuation),
on the same seeds. Prints one table (SLO score, violations, cost per hour, scaling actions per
hour, IneffectiveScaling events per episode) and optionally writes JSON.

Simulator parameters come from ``--calibration`` (the fitted cluster: its contention makes
executors beyond a few add little) and the overrides ``--contention`` and
``--restart-downtime`` (a slower restart than the operator assumes).

    .venv/bin/python bench/adaptive.py --feature ineffective --seeds 5 \\
        --calibration docs/calibration/calibration.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hrl_autoscaler.config import ACTUATIONS, EVALUATION, OperatorSettings, SimParams
from hrl_autoscaler.research.baselines.registry import (
    Factory,
    build_controller,
    register_controller,
)
from hrl_autoscaler.research.evaluation.pipeline_controller import (
    PipelineController,
    pipeline_controller,
)
from hrl_autoscaler.research.evaluation.runner import (
    EvaluationSpec,
    episode_load,
    run_evaluation,
)
from hrl_autoscaler.research.sim.rollout import rollout
from hrl_autoscaler.research.sim.workloads import SCENARIOS
from hrl_autoscaler.runtime.core.controller import Controller
from hrl_autoscaler.runtime.core.reporting import Reason

#: feature -> the AnnotationDefaults field that switches it
FEATURES = {
    "ineffective": "ineffective_scaling_detection",
    "restart": "restart_time_tracking",
}


def _settings(feature: str, on: bool, samples: int | None) -> OperatorSettings:
    """The operator's defaults with ``feature`` on or off for every application (and the
    capacity samples an ineffective-scaling verdict averages, when given)."""
    s = OperatorSettings.built_in()
    defaults = s.defaults.model_copy(update={FEATURES[feature]: on})
    guardrails = s.guardrails
    if samples is not None:
        guardrails = guardrails.model_copy(update={"ineffective_scaling_samples": samples})
    return s.model_copy(update={"defaults": defaults, "guardrails": guardrails})


def _factory(kind: str, name: str, settings: OperatorSettings) -> Factory:
    def build(objective: str, slo_ms: float) -> Controller:
        return pipeline_controller(kind, objective, slo_ms, settings=settings, name=name)

    return build


def _register(feature: str, samples: int | None) -> tuple[str, ...]:
    names: list[str] = []
    for kind in ("hrl", "ppo-fixed"):
        for on in (True, False):
            name = f"{kind}{'+' if on else '-no-'}{feature}"
            register_controller(name, _factory(kind, name, _settings(feature, on, samples)))
            names.append(name)
    return tuple(names)


def _events(spec: EvaluationSpec, seed: int) -> dict[str, int]:
    """The IneffectiveScaling and RestartTimeLearned events of one episode per controller
    (rerun in this process: the evaluation's workers keep theirs)."""
    load = episode_load(spec, seed)
    p = spec.params
    initial = p.executors_for_rate(float(load[0]), EVALUATION.target_utilisation)
    counts: dict[str, int] = {}
    for name in spec.controllers:
        controller = build_controller(name, spec.objective, spec.slo_ms)
        assert isinstance(controller, PipelineController)
        rollout(controller, load, p, spec.weights, seed, initial)
        for reason in (Reason.INEFFECTIVE_SCALING, Reason.RESTART_TIME_LEARNED):
            counts[f"{name} {reason.value}"] = controller.events.reasons[reason.value]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feature", choices=sorted(FEATURES), default="ineffective")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episode-steps", type=int, default=None)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--actuation", choices=ACTUATIONS, default=SimParams.actuation)
    parser.add_argument("--calibration", type=Path)
    parser.add_argument("--contention", type=float, help="override scaling_contention")
    parser.add_argument("--restart-downtime", type=float, help="override restart_downtime_s")
    parser.add_argument(
        "--latency-slo-ms", type=float, help="SLO for every scenario (default: each one's own)"
    )
    parser.add_argument("--samples", type=int, help="override ineffective_scaling_samples")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from hrl_autoscaler.cli.common import calibrated, calibrated_peak

    params = calibrated(args.calibration, SimParams(actuation=args.actuation))
    overrides: dict[str, float] = {}
    if args.contention is not None:
        overrides["scaling_contention"] = args.contention
    if args.restart_downtime is not None:
        overrides["restart_downtime_s"] = args.restart_downtime
    params = params.with_overrides(**overrides)
    controllers = _register(args.feature, args.samples)
    table = Table(title=f"{args.feature} on/off (objective slo, mean over {args.seeds} seeds)")
    for column in ("scenario", "controller", "slo score", "violations %", "$/h", "actions/h"):
        table.add_column(column)
    out: dict[str, list[dict[str, object]]] = {}
    for name in args.scenarios.split(","):
        peak = calibrated_peak(name, params) if args.calibration is not None else None
        spec = EvaluationSpec(
            controllers=controllers,
            scenario=name,
            seeds=args.seeds,
            params=params,
            peak_rate_eps=peak,
            latency_slo_ms=args.latency_slo_ms,
            **({"episode_steps": args.episode_steps} if args.episode_steps else {}),
        )
        rows = run_evaluation(spec, workers=args.workers).rows
        out[name] = [row.to_dict() for row in rows]
        events = _events(spec, spec.first_seed)
        Console(width=200).print(f"{name} seed {spec.first_seed} events: {events}")
        out[name].append({"events_first_seed": events})
        for row in rows:
            table.add_row(
                name,
                row.controller,
                f"{row.slo_score_mean:.3f} ± {row.slo_score_ci95:.3f}",
                f"{row.slo_violation_pct:.2f}",
                f"{row.cost_per_hour:.3f}",
                f"{row.scaling_actions_per_hour:.2f}",
            )
    Console(width=200).print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
