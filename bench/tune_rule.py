"""Tune the ``tuned`` baseline's rule (``research/baselines/tuned.py``) on validation data only.

Coordinate search, in one process: starting from ``START`` (a hand-picked rule; ``--start``
changes fields of it), each pass sweeps one parameter at a time over its candidate values
(``GRID``), keeping the others, and moves to the best value found; passes repeat until one
changes nothing (or ``--passes``). A configuration's score is the mean SLO score (the ``slo``
objective) over the five scenarios x VALIDATION seeds (default 200-204) x peak rates 0.7 and
1.3 times each scenario's default, ``--steps`` decisions each, in-place actuation. The test
seeds (0-4) and the artifacts' selection seeds (100-102) are refused. When the search ran
shorter than 2,880 steps, its best ``--confirm`` configurations are re-scored at full length.
Ties keep the first configuration scored (the search moves only on a strict improvement).

Prints the top configurations and optionally writes JSON: the validation split, every scored
configuration, and the winner (which the dataclass defaults must equal; a unit test checks it).

    PYTHONPATH=operator .venv/bin/python bench/tune_rule.py --json docs/tuned-baseline.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from hrl_autoscaler.config import EVALUATION, SimParams
from hrl_autoscaler.research.baselines.tuned import TunedController, TunedSettings
from hrl_autoscaler.research.evaluation.metrics import summarise
from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, episode_load
from hrl_autoscaler.research.sim.rollout import rollout
from hrl_autoscaler.research.sim.workloads import SCENARIOS, scenario
from hrl_autoscaler.runtime.core.weights import FIXED_BASELINE

GRID: dict[str, tuple[float | int, ...]] = {
    "target_utilisation": (0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9),
    "up_utilisation": (0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
    "up_latency_slo_fraction": (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    "catch_up_s": (15.0, 30.0, 60.0, 120.0, 300.0, 600.0),
    "lookahead_steps": (0.0, 0.5, 1.0, 2.0, 3.0),
    "down_confirmations": (1, 2, 4, 6, 10, 20),
    "down_max_step": (1, 2, 3, 5, 20),
    "cooldown_s": (0.0, 60.0, 120.0, 300.0, 600.0),
}
#: Where the search starts (a hand-picked rule before any tuning), so that the command gives the
#: same result whatever the committed defaults are.
START = TunedSettings(
    target_utilisation=0.6,
    up_utilisation=0.8,
    up_latency_slo_fraction=0.8,
    catch_up_s=120.0,
    lookahead_steps=1.0,
    down_confirmations=4,
    down_max_step=2,
    cooldown_s=120.0,
)
PEAK_FACTORS = (0.7, 1.3)
FORBIDDEN_SEEDS = frozenset({0, 1, 2, 3, 4, 100, 101, 102})
FULL_STEPS = EVALUATION.episode_steps


class Validation:
    """The validation episodes' loads, generated once, and the score of a configuration."""

    def __init__(self, seeds: list[int], steps: int, params: SimParams) -> None:
        self.params = params
        self.seeds = seeds
        self.steps = steps
        self.episodes: list[tuple[str, float, int, np.ndarray, float]] = []
        for name in SCENARIOS:
            default_peak = scenario(name).peak_rate_eps
            for factor in PEAK_FACTORS:
                spec = EvaluationSpec(
                    controllers=("tuned",),
                    scenario=name,
                    peak_rate_eps=default_peak * factor,
                    episode_steps=steps,
                    params=params,
                )
                for seed in seeds:
                    self.episodes.append(
                        (name, factor, seed, episode_load(spec, seed), spec.slo_ms)
                    )

    def score(self, settings: TunedSettings) -> dict[str, Any]:
        """Mean SLO score overall, per scenario and per peak factor."""
        p = self.params
        by_scenario: dict[str, list[float]] = {}
        by_factor: dict[str, list[float]] = {}
        attainment: list[float] = []
        cost: list[float] = []
        for name, factor, seed, load, slo_ms in self.episodes:
            initial = p.executors_for_rate(float(load[0]), EVALUATION.target_utilisation)
            trace = rollout(
                TunedController(slo_ms, settings), load, p, FIXED_BASELINE, seed, initial
            )
            s = summarise(trace, p, slo_ms)
            by_scenario.setdefault(name, []).append(s.slo_score)
            by_factor.setdefault(f"x{factor}", []).append(s.slo_score)
            attainment.append(s.attainment)
            cost.append(s.cost_per_hour)
        every = [v for vs in by_scenario.values() for v in vs]
        return {
            "slo_score": float(np.mean(every)),
            "by_scenario": {k: float(np.mean(v)) for k, v in by_scenario.items()},
            "by_peak_factor": {k: float(np.mean(v)) for k, v in by_factor.items()},
            "attainment": float(np.mean(attainment)),
            "cost_per_hour": float(np.mean(cost)),
            "steps": self.steps,
        }


def _key(settings: TunedSettings) -> tuple[Any, ...]:
    return tuple(getattr(settings, f.name) for f in fields(settings))


def coordinate_search(
    validation: Validation, start: TunedSettings, passes: int, progress: Progress
) -> dict[tuple[Any, ...], tuple[TunedSettings, dict[str, Any]]]:
    """Every configuration scored, by key; the best is the search's result."""
    scored: dict[tuple[Any, ...], tuple[TunedSettings, dict[str, Any]]] = {}

    def score(settings: TunedSettings) -> float:
        key = _key(settings)
        if key not in scored:
            scored[key] = (settings, validation.score(settings))
        return float(scored[key][1]["slo_score"])

    best = start
    best_score = score(best)
    per_pass = sum(len(v) for v in GRID.values())
    for n in range(passes):
        task = progress.add_task(f"pass {n + 1}", total=per_pass)
        moved = False
        for name, values in GRID.items():
            for value in values:
                candidate = TunedSettings(**{**asdict(best), name: value})
                value_score = score(candidate)
                progress.advance(task)
                if value_score > best_score + 1e-12:
                    best, best_score, moved = candidate, value_score, True
        progress.console.print(f"pass {n + 1}: {best_score:.4f} {asdict(best)}")
        if not moved:
            break
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="validation seeds (default 5)")
    parser.add_argument("--first-seed", type=int, default=200, help="first validation seed")
    parser.add_argument("--steps", type=int, default=FULL_STEPS, help="steps per search episode")
    parser.add_argument("--passes", type=int, default=5, help="coordinate-search passes at most")
    parser.add_argument("--confirm", type=int, default=5, help="best re-scored at full length")
    parser.add_argument("--top", type=int, default=10, help="configurations printed")
    parser.add_argument(
        "--start",
        type=json.loads,
        default=None,
        help="JSON of TunedSettings fields replacing START's (default: START)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if FORBIDDEN_SEEDS & set(seeds):
        parser.error(f"seeds {sorted(FORBIDDEN_SEEDS & set(seeds))} are test or selection seeds")
    start = replace(START, **(args.start or {}))
    params = SimParams()
    console = Console(width=max(Console().width, 180))
    began = time.perf_counter()
    validation = Validation(seeds, args.steps, params)
    with Progress(console=console) as progress:
        scored = coordinate_search(validation, start, args.passes, progress)
    ranked = sorted(scored.values(), key=lambda sr: sr[1]["slo_score"], reverse=True)
    if args.steps != FULL_STEPS:
        full = Validation(seeds, FULL_STEPS, params)
        confirmed = [(s, full.score(s)) for s, _ in ranked[: args.confirm]]
        confirmed.sort(key=lambda sr: sr[1]["slo_score"], reverse=True)
    else:
        confirmed = ranked[: args.confirm]
    elapsed = time.perf_counter() - began

    table = Table(title=f"tuned: top configurations ({len(scored)} scored, {elapsed:.0f} s)")
    for column in ("rank", "slo score", "x0.7", "x1.3", "attain %", "$/h", *GRID):
        table.add_column(column)
    for rank, (settings, r) in enumerate(confirmed + ranked[len(confirmed) : args.top], 1):
        table.add_row(
            str(rank),
            f"{r['slo_score']:.4f}",
            f"{r['by_peak_factor']['x0.7']:.4f}",
            f"{r['by_peak_factor']['x1.3']:.4f}",
            f"{100 * r['attainment']:.2f}",
            f"{r['cost_per_hour']:.2f}",
            *(str(getattr(settings, name)) for name in GRID),
        )
    console.print(table)
    winner, winner_result = confirmed[0]
    console.print(f"winner: {asdict(winner)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        out = {
            "command": "bench/tune_rule.py "
            + " ".join(
                f"--{k.replace('_', '-')} {v}"
                for k, v in (
                    ("seeds", args.seeds),
                    ("first_seed", args.first_seed),
                    ("steps", args.steps),
                    ("passes", args.passes),
                )
            ),
            "objective": "slo",
            "validation": {
                "seeds": seeds,
                "scenarios": list(SCENARIOS),
                "peak_factors": list(PEAK_FACTORS),
                "actuation": params.actuation,
            },
            "grid": {k: list(v) for k, v in GRID.items()},
            "start": asdict(start),
            "winner": {"settings": asdict(winner), "result": winner_result},
            "confirmed": [{"settings": asdict(s), "result": r} for s, r in confirmed],
            "scored": [{"settings": asdict(s), "result": r} for s, r in ranked],
            "elapsed_s": elapsed,
        }
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
