"""The markdown tables of docs/margin-trim.md, from the JSON the runs wrote.

    .venv/bin/python bench/margin_trim_tables.py validation docs/margin-trim/validation-*.json
    .venv/bin/python bench/margin_trim_tables.py cases docs/margin-trim/heldout/heldout.json ...

``validation``: one line per controller, the SLO score averaged over each scenario's three
peaks, over all 15 cases, and the mean cost and scalings per hour. ``cases``: one line per
case, one column per controller (SLO score ± 95% CI, $/h, scalings/h); several heldout.json
files of the same suite and seeds (e.g. the oracle run apart) are merged by controller.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def validation(paths: list[Path]) -> list[str]:
    rows: list[dict[str, Any]] = [r for p in paths for r in json.loads(p.read_text())]
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["controller"]].append(r)
    scenarios = list(dict.fromkeys(r["scenario"].split("@")[0] for r in rows))
    head = ["controller", *scenarios, "mean (15 cases)", "$/h", "scalings/h"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, rs in by.items():
        cells = [
            f"{_mean([r['slo_score_mean'] for r in rs if r['scenario'].startswith(s + '@')]):.3f}"
            for s in scenarios
        ]
        out.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | **{_mean([r['slo_score_mean'] for r in rs]):.3f}**"
            + f" | {_mean([r['cost_per_hour'] for r in rs]):.2f}"
            + f" | {_mean([r['scaling_actions_per_hour'] for r in rs]):.1f} |"
        )
    return out


def cases(paths: list[Path]) -> list[str]:
    merged: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    controllers: list[str] = []
    for p in paths:
        payload = json.loads(p.read_text())
        for suite in payload["suites"].values():
            for case in suite["cases"]:
                for row in case["rows"]:
                    merged[case["case"]["name"]][row["controller"]] = row
                    if row["controller"] not in controllers:
                        controllers.append(row["controller"])
    out = ["| case | " + " | ".join(controllers) + " |", "|" + "---|" * (len(controllers) + 1)]
    for case, rows in merged.items():
        cells = []
        for name in controllers:
            r = rows.get(name)
            cells.append(
                "-"
                if r is None
                else f"{r['slo_score_mean']:.3f} ± {r['slo_score_ci95']:.3f}<br>"
                f"${r['cost_per_hour']:.2f} · {r['scaling_actions_per_hour']:.1f}/h"
                + (f" · {r['restarts_per_hour']:.1f} rs/h" if r["restarts_per_hour"] else "")
            )
        out.append(f"| {case} | " + " | ".join(cells) + " |")
    means = [
        f"**{_mean([rows[n]['slo_score_mean'] for rows in merged.values() if n in rows]):.3f}**"
        for n in controllers
    ]
    out.append("| mean | " + " | ".join(means) + " |")
    return out


def main() -> None:
    kind, *files = sys.argv[1:]
    paths = [Path(f) for f in files]
    lines = validation(paths) if kind == "validation" else cases(paths)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
