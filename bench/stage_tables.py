"""The markdown tables and plots of docs/margin-trim.md and docs/anticipation.md, from the JSON
the runs wrote.

    .venv/bin/python bench/stage_tables.py validation docs/margin-trim/validation-*.json
    .venv/bin/python bench/stage_tables.py cases docs/margin-trim/heldout/heldout.json ...

    .venv/bin/python bench/stage_tables.py plot docs/margin-trim/heldout-vs-oracle.png \
        docs/margin-trim/heldout/heldout.json docs/margin-trim/heldout-oracle/heldout.json

``validation``: one line per controller, the SLO score averaged over each scenario's cases
(its peaks and speeds), over all cases, and the mean cost and scalings per hour. ``cases``:
one line per case, one column per controller (SLO score ± 95% CI, $/h, scalings/h); several
heldout.json files of the same suite and seeds (e.g. the oracle run apart) are merged by
controller. ``plot``: the merged cases as a bar chart, each controller's SLO score as a share
of the oracle's (the report's own plot is empty when the oracle ran apart). ``--suite NAME``
right after the kind keeps one suite's cases of files that hold several (a ``--suite both``
run).
"""

from __future__ import annotations

import json
import math
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
    cases = len({r["scenario"] for r in rows})
    head = ["controller", *scenarios, f"mean ({cases} cases)", "$/h", "scalings/h"]
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


def _merged(
    paths: list[Path], suite: str | None = None
) -> tuple[dict[str, dict[str, dict[str, Any]]], list[str]]:
    """Rows by case and controller over several heldout.json files (only ``suite``'s cases
    when given); the controllers in order."""
    merged: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    controllers: list[str] = []
    for p in paths:
        payload = json.loads(p.read_text())
        chosen = [v for k, v in payload["suites"].items() if suite in (None, k)]
        for suite_rows in chosen:
            for case in suite_rows["cases"]:
                for row in case["rows"]:
                    merged[case["case"]["name"]][row["controller"]] = row
                    if row["controller"] not in controllers:
                        controllers.append(row["controller"])
    return merged, controllers


def plot(out: Path, paths: list[Path], suite: str | None = None) -> None:
    """Per case, each controller's SLO score / the oracle's (clipped to [-1, 1.5]; no bar
    where the oracle scores <= 0.05, as in the heldout report)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    merged, controllers = _merged(paths, suite)
    names = [n for n in controllers if n != "oracle"]
    fig, ax = plt.subplots(figsize=(min(24.0, 3.0 + 0.14 * len(merged) * len(names)), 5.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        shares = []
        for rows in merged.values():
            oracle = rows["oracle"]["slo_score_mean"]
            share = rows[name]["slo_score_mean"] / oracle if oracle > 0.05 else float("nan")
            # max(-1.0, nan) is -1.0: a case without an oracle bar must stay nan
            shares.append(share if math.isnan(share) else min(1.5, max(-1.0, share)))
        xs = [x + (i - len(names) / 2 + 0.5) * width for x in range(len(merged))]
        ax.bar(xs, shares, width, label=name)
    ax.set_xticks(range(len(merged)), list(merged), rotation=60, ha="right", fontsize=7)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_ylim(-1.0, 1.5)
    ax.set_ylabel("SLO score / oracle's (higher is better)")
    ax.set_title("held-out suite, seeds 1000-1009: each controller's SLO score / the oracle's")
    ax.legend(fontsize=7, ncol=len(names))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def cases(paths: list[Path], suite: str | None = None) -> list[str]:
    merged, controllers = _merged(paths, suite)
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
    suite = None
    if files[:1] == ["--suite"]:
        suite, files = files[1], files[2:]
    if kind == "plot":
        plot(Path(files[0]), [Path(f) for f in files[1:]], suite)
        return
    paths = [Path(f) for f in files]
    lines = validation(paths) if kind == "validation" else cases(paths, suite)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
