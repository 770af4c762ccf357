"""Time ``evaluate`` with the five baselines, 5 seeds and one simulated day (2,880 steps).

Target (issue 2): under 60 s on this 2-core machine. Prints and optionally writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, run_evaluation

BASELINES = ("static-max", "hpa", "spark-da", "ds2", "oracle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="smart-hospital")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    spec = EvaluationSpec(
        controllers=BASELINES, scenario=args.scenario, seeds=5, episode_steps=2880
    )
    started = time.perf_counter()
    run_evaluation(spec)
    seconds = time.perf_counter() - started
    result = {
        "scenario": args.scenario,
        "controllers": list(BASELINES),
        "seeds": 5,
        "episode_steps": 2880,
        "seconds": round(seconds, 2),
        "target_seconds": 60,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
