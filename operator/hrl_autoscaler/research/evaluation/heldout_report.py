"""The held-out split's report: per-case tables and a summary per suite, train and held-out
apart, as ``heldout.json``, ``heldout.md`` and ``heldout.png``.

Two questions per case, asked of the SLO score (higher is better): does ``hrl`` score at least
as well as the best other non-oracle controller (and, for fairness, does each other controller),
and how close does it come to the oracle, which knows the whole load in advance and is
therefore the reference. A gap between the train suite's answers and the held-out suite's is
what tuning to the training load looks like. A third, whether one controller is better than
another beyond what the seeds' load explains, is answered with paired differences
(:mod:`.paired`): per case over the seeds, per suite over the cases.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from hrl_autoscaler.research.evaluation.heldout import ORACLE, CaseResult, HeldoutConfig, Suite
from hrl_autoscaler.research.evaluation.metrics import ResultRow
from hrl_autoscaler.research.evaluation.paired import SuiteDifference, comparisons, suite_difference

HRL = "hrl"
ORACLE_FLOOR = 0.05
"""Below this oracle SLO score the share of the oracle is not reported (n/a). The score is
``1 - cost/max_cost - 10 x attainment shortfall``: 0 is what running every executor scores
when that meets the SLO. An oracle at or below ~0 means no allocation does better than
flat-out (the peak exceeds the cluster, the SLO is out of reach): a ratio to a denominator
near 0 explodes, and to a negative one it flips the order, so such cases are judged by the
ordering check alone."""


@dataclass(frozen=True)
class CaseSummary:
    case: str
    family: str
    best_other: str
    """The best non-oracle controller other than hrl (or the best overall without hrl)."""
    best_other_score: float
    hrl_beats_best: bool | None
    """hrl's mean score >= the best other non-oracle controller's; None without hrl."""
    hrl_of_oracle: float | None
    """hrl's score / the oracle's; None without hrl or oracle, or below ORACLE_FLOOR."""
    of_oracle: dict[str, float | None]
    """Every non-oracle controller's score / the oracle's (None as above)."""
    top: list[str]
    """Non-oracle controllers whose score >= every other non-oracle controller's."""


def _scores(result: CaseResult) -> dict[str, float]:
    return {r.controller: r.slo_score_mean for r in result.rows}


def summarise_case(result: CaseResult) -> CaseSummary:
    scores = _scores(result)
    others = {n: v for n, v in scores.items() if n != ORACLE}
    rivals = {n: v for n, v in others.items() if n != HRL} or others
    best = max(rivals, key=lambda n: rivals[n])
    oracle = scores.get(ORACLE)
    ok = oracle is not None and oracle > ORACLE_FLOOR
    of_oracle = {n: (v / oracle if ok and oracle else None) for n, v in others.items()}
    top = [n for n, v in others.items() if all(v >= w for m, w in others.items() if m != n)]
    return CaseSummary(
        case=result.case.name,
        family=result.case.family,
        best_other=best,
        best_other_score=rivals[best],
        hrl_beats_best=(scores[HRL] >= rivals[best]) if HRL in scores and best != HRL else None,
        hrl_of_oracle=of_oracle.get(HRL),
        of_oracle=of_oracle,
        top=top,
    )


def suite_lines(summaries: list[CaseSummary], controllers: tuple[str, ...]) -> list[str]:
    """The suite's summary in a few sentences: hrl's record, then every controller's."""
    n = len(summaries)
    lines: list[str] = []
    checks = [s.hrl_beats_best for s in summaries if s.hrl_beats_best is not None]
    if checks:
        lines.append(f"hrl >= best non-oracle controller on {sum(checks)}/{len(checks)} cases")
    ratios = [s.hrl_of_oracle for s in summaries if s.hrl_of_oracle is not None]
    if HRL in controllers and ORACLE in controllers:
        skipped = n - len(ratios)
        share = (
            f"median {np.median(ratios):.0%}, min {min(ratios):.0%} over {len(ratios)} cases"
            if ratios
            else "no case"
        )
        lines.append(
            f"hrl score as % of oracle: {share}"
            + (f" ({skipped} n/a: oracle score <= {ORACLE_FLOOR})" if skipped else "")
        )
    for name in controllers:
        if name == ORACLE:
            continue
        wins = sum(name in s.top for s in summaries)
        shares = [v for s in summaries if (v := s.of_oracle.get(name)) is not None]
        med = f", median {np.median(shares):.0%} of oracle" if shares else ""
        lines.append(f"{name}: best non-oracle (ties count) on {wins}/{n} cases{med}")
    return lines


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _share(summary: CaseSummary, controller: str) -> str:
    return "reference" if controller == ORACLE else _pct(summary.of_oracle.get(controller))


def _suite_markdown(
    suite: Suite, results: list[CaseResult], controllers: tuple[str, ...]
) -> list[str]:
    summaries = [summarise_case(r) for r in results]
    title = "Train suite" if suite.name == "train" else "Held-out suite"
    seeds = f"{suite.seeds[0]}-{suite.seeds[-1]}" if len(suite.seeds) > 1 else f"{suite.seeds[0]}"
    lines = [f"## {title} (seeds {seeds}, {len(results)} cases)", "", "### Summary", ""]
    lines += [f"- {line}" for line in suite_lines(summaries, controllers)]
    lines += [
        "",
        "| case | family | peak ev/s | SLO ms | best other non-oracle | hrl >= best | "
        "hrl % of oracle |",
        "|---|---|---|---|---|---|---|",
    ]
    for r, s in zip(results, summaries, strict=True):
        check = "n/a" if s.hrl_beats_best is None else ("yes" if s.hrl_beats_best else "NO")
        lines.append(
            f"| {s.case} | {s.family} | {r.case.peak_rate_eps:,.0f} | "
            f"{r.case.latency_slo_ms:.0f} | {s.best_other} {s.best_other_score:.3f} | "
            f"{check} | {_pct(s.hrl_of_oracle)} |"
        )
    lines += [
        "",
        "### Per case: SLO score (mean ± 95% CI), cost $/h, scalings/h",
        "",
        "| case | controller | SLO score | % of oracle | cost $/h | scalings/h |",
        "|---|---|---|---|---|---|",
    ]
    for r, s in zip(results, summaries, strict=True):
        for row in r.rows:
            lines.append(
                f"| {s.case} | {row.controller} | {row.slo_score_mean:.3f} ± "
                f"{row.slo_score_ci95:.3f} | {_share(s, row.controller)} | "
                f"{row.cost_per_hour:.2f} | {row.scaling_actions_per_hour:.1f} |"
            )
    return [*lines, ""]


def _paired_markdown(differences: list[SuiteDifference]) -> list[str]:
    """The suite's paired comparisons: one line each, then a case-by-case table (a bold cell is
    a difference of at least ``MIN_EFFECT`` whose interval excludes 0)."""
    if not differences:
        return []
    lines = [
        "### Paired differences (SLO score, same seeds; mean ± 95% CI)",
        "",
        *[f"- {d.line()}" for d in differences],
        "",
        "| case | " + " | ".join(f"{d.subject} - {d.reference}" for d in differences) + " |",
        "|---|" + "---|" * len(differences),
    ]
    for i, first in enumerate(differences[0].cases):
        cells = []
        for d in differences:
            c = d.cases[i]
            cell = f"{c.mean:+.3f} ± {c.ci95:.3f}"
            cells.append(f"**{cell}**" if c.verdict != "no difference" else cell)
        lines.append(f"| {first.case} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _row_dict(row: ResultRow) -> dict[str, Any]:
    return row.to_dict()


def write_report(
    config: HeldoutConfig,
    chosen: list[Suite],
    results: list[CaseResult],
    out_dir: Path,
    command: str,
) -> dict[str, list[str]]:
    """Write the three files; return each suite's summary lines (for the terminal)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_suite = {s.name: [r for r in results if r.suite == s.name] for s in chosen}
    lines_by_suite: dict[str, list[str]] = {}
    payload: dict[str, Any] = {
        "command": command,
        "controllers": list(config.controllers),
        "objective": config.objective,
        "episode_steps": config.episode_steps,
        "params": config.params.to_dict(),
        "oracle_floor": ORACLE_FLOOR,
        "suites": {},
    }
    md = [
        "# Held-out evaluation: generalisation, not tuning",
        "",
        f"Reproduce: `{command}`",
        "",
        f"Actuation `{config.params.actuation}`, {config.episode_steps} steps per episode, "
        f"objective `{config.objective}`. The train suite is the load the controllers were "
        "trained and tuned for; the held-out suite is load none of them saw (other seeds, "
        "peaks outside the training jitter, other tempos, mixtures, synthetic families). "
        f"'% of oracle' is n/a where the oracle scores <= {ORACLE_FLOOR}.",
        "",
    ]
    for suite in chosen:
        rs = by_suite[suite.name]
        summaries = [summarise_case(r) for r in rs]
        differences = [
            suite_difference(suite.name, rs, subject, reference)
            for subject, reference in comparisons(config.controllers)
        ]
        lines_by_suite[suite.name] = suite_lines(summaries, config.controllers)
        lines_by_suite[suite.name] += [d.line() for d in differences]
        payload["suites"][suite.name] = {
            "seeds": list(suite.seeds),
            "summary": lines_by_suite[suite.name],
            "paired": [d.to_dict() for d in differences],
            "cases": [
                {
                    "case": asdict(r.case),
                    "rows": [
                        {**_row_dict(row), "seed_scores": list(scores)}
                        for row, scores in zip(r.rows, r.scores, strict=True)
                    ],
                    "summary": asdict(s),
                }
                for r, s in zip(rs, summaries, strict=True)
            ],
        }
        md += _suite_markdown(suite, rs, config.controllers)
        md += _paired_markdown(differences)
    (out_dir / "heldout.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    (out_dir / "heldout.md").write_text("\n".join(md), encoding="utf-8")
    _plot(chosen, by_suite, config.controllers, out_dir / "heldout.png")
    return lines_by_suite


def _plot(
    chosen: list[Suite],
    by_suite: dict[str, list[CaseResult]],
    controllers: tuple[str, ...],
    path: Path,
) -> None:
    """Per case, each non-oracle controller's score as a share of the oracle's (clipped to
    [-1, 1.5]; cases where the share is n/a show no bars), one panel per suite. Without the
    oracle in the run there is no share to show: the SLO scores themselves (clipped the same)."""
    names = [n for n in controllers if n != ORACLE]
    relative = ORACLE in controllers
    sizes = [max(1, len(by_suite[s.name])) for s in chosen]
    fig, axes = plt.subplots(
        1,
        len(chosen),
        figsize=(min(40.0, 3.0 + 0.55 * sum(sizes) * max(1, len(names)) / 4), 5.5),
        gridspec_kw={"width_ratios": sizes},
        squeeze=False,
    )
    colours = plt.get_cmap("tab10")
    width = 0.8 / max(1, len(names))
    for ax, suite in zip(axes[0], chosen, strict=True):
        rs = by_suite[suite.name]
        summaries = [summarise_case(r) for r in rs]
        x = np.arange(len(rs))
        for i, name in enumerate(names):
            if relative:
                shares = [s.of_oracle.get(name) for s in summaries]
            else:
                shares = [_scores(r).get(name) for r in rs]
            values = [np.nan if v is None else float(np.clip(v, -1.0, 1.5)) for v in shares]
            offset = (i - len(names) / 2 + 0.5) * width
            ax.bar(x + offset, values, width, label=name, color=colours(i % 10))
        ax.set_xticks(x, [r.case.name for r in rs], rotation=60, ha="right", fontsize=7)
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.axhline(0.0, color="black", lw=0.8)
        ax.set_ylim(-1.0, 1.5)
        ax.grid(axis="y", alpha=0.3)
        ax.set_title("train suite" if suite.name == "train" else "held-out suite")
    axes[0][0].set_ylabel(
        "SLO score / oracle's (higher is better)" if relative else "SLO score (higher is better)"
    )
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
