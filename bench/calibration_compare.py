"""Cross-prediction between calibrations: does one run's simulator predict another run's job?

Each calibration file holds the measured load steps and the parameters fitted to them. Fitted
parameters trade off against each other (a higher per-executor rate with more contention can
fit the same points), so comparing the numbers says little; comparing predictions says what
matters. For every pair (A, B) this applies A's fitted parameters to B's sustainable,
uncontended steps and reports the simulated-vs-measured mean batch duration error, the
calibration target being |error| <= 25%.

    PYTHONPATH=operator .venv/bin/python bench/calibration_compare.py \\
        docs/calibration-compare/standalone-2026-12-06/calibration.json \\
        docs/calibration-k8s/calibration.json docs/calibration/calibration.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hrl_autoscaler.config import CALIBRATION
from hrl_autoscaler.tools.calibration.build import step_measurements
from hrl_autoscaler.tools.calibration.fit import predictions, within_target
from hrl_autoscaler.tools.calibration.schema import Calibration, load_calibration


def label(path: Path, calibration: Calibration) -> str:
    return f"{calibration.spark.deployment}, {calibration.created[:10]} ({path.parent.name})"


def cross_errors(fitted: Calibration, measured: Calibration) -> str:
    """``fitted``'s parameters against ``measured``'s uncontended steps: max and mean |error|
    and where the worst one is."""
    steps = step_measurements([s for s in measured.steps if not s.contended])
    rows = predictions(fitted.sim_params(), steps)
    met, worst, mean = within_target(rows, CALIBRATION.latency_target)
    judged = [r for r in rows if r.in_range]
    at = max(judged, key=lambda r: abs(r.relative_error))
    where = f"{at.executors} exec at {at.rate_eps:,.0f} ev/s"
    return f"max {worst:.1%} ({where}), mean {mean:.1%}" + ("" if met else ", over 25%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="calibration.json files")
    args = parser.parse_args()
    loaded = [(path, load_calibration(path)) for path in args.files]
    names = [label(path, c) for path, c in loaded]
    print("| parameters of \\ steps of | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for name, (_, fitted) in zip(names, loaded, strict=True):
        cells = [cross_errors(fitted, measured) for _, measured in loaded]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
