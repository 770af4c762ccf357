"""The validation load the decision step's optional stages are chosen on, and its runner.

Seeds 200-204: the load ``tuned`` was tuned on, never the README's 0-9 nor the held-out
1000+. Shared by ``bench/margin_trim.py`` and ``bench/anticipation.py`` (imported as a
sibling module: run them as ``python bench/<name>.py``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hrl_autoscaler.config import OperatorSettings, SimParams
from hrl_autoscaler.research.baselines.registry import register_controller
from hrl_autoscaler.research.evaluation.heldout import (
    HeldoutConfig,
    Suite,
    evaluate_suites,
    peak_cases,
    speed_cases,
)
from hrl_autoscaler.research.evaluation.pipeline_controller import pipeline_controller
from hrl_autoscaler.research.sim.workloads import SCENARIOS

VALIDATION_SEEDS = tuple(range(200, 205))
VALIDATION_PEAKS = (0.7, 1.0, 1.3)


def validation_suite(seeds: int, speeds: tuple[float, ...] = ()) -> Suite:
    """The five scenarios at ``VALIDATION_PEAKS`` (and at ``speeds``), the first ``seeds``
    validation seeds."""
    cases = peak_cases(VALIDATION_PEAKS) + speed_cases(list(SCENARIOS), speeds)
    return Suite("validation", tuple(range(200, 200 + seeds)), tuple(cases))


def register_variant(kind: str, name: str, settings: OperatorSettings) -> str:
    """Make ``name`` (for ``run``) the operator's pipeline as ``kind`` under ``settings``."""
    register_controller(
        name, lambda o, s: pipeline_controller(kind, o, s, settings=settings, name=name)
    )
    return name


def run(
    names: list[str], suite: Suite, workers: int, out: Path, actuation: str = "in-place"
) -> None:
    """Every controller of ``names`` on ``suite`` under ``actuation``, with progress; one JSON
    row per (controller, case) into ``out``."""
    started, done = time.perf_counter(), [0]

    def progress(_suite: str, case: str, total: int) -> None:
        done[0] += 1
        if done[0] % 25 == 0 or done[0] == total:
            elapsed = time.perf_counter() - started
            print(f"{done[0]}/{total} episodes, {elapsed:.0f} s ({case})", flush=True)

    config = HeldoutConfig(tuple(names), params=SimParams(actuation=actuation))
    results = evaluate_suites(config, [suite], workers=workers, on_episode=progress)
    rows = [r.to_dict() for result in results for r in result.rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {len(rows)} rows to {out}")
