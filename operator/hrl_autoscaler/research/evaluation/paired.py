"""Paired differences: is one controller better than another on the same episodes?

Every controller of a held-out run (and of ``evaluate``) plays the same seeds of the same
cases (the same load and the same noise), so most of the spread of one controller's scores
across seeds is the load's, not the controller's. Two per-controller 95% intervals then overlap
where the controllers differ consistently but by less than the load varies; the interval of
the per-seed *difference* does not. This module computes that interval per case, and per
suite over the cases' mean differences (the cases as a sample of loads: a suite-level interval
says how the difference would move with other loads of the same kinds, not with other seeds).

A case is called ``better`` or ``worse`` only when its interval excludes 0 and the difference
is at least :data:`MIN_EFFECT`. With 25 cases at 95% each, about one such call in a suite is
expected by chance alone: read the counts as a shape, not as 25 independent verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from hrl_autoscaler.research.evaluation.heldout import ORACLE, CaseResult
from hrl_autoscaler.research.evaluation.metrics import ci95

Verdict = Literal["better", "worse", "no difference"]

MIN_EFFECT = 0.005
"""Score difference below which two controllers are not called different, however tight the
interval: two controllers that decide alike on all but a few steps differ by 0.001 on every
seed, an interval of +-0.000 excludes 0, and "better" would overstate it. On the SLO score
0.005 is half a percent of the cluster's maximum cost, or 0.05 percentage points of SLO
attainment; on R_meta it is 5 cents an hour."""


def _verdict(mean: float, half_width: float, n: int) -> Verdict:
    if n < 2 or abs(mean) < MIN_EFFECT:  # one value has no interval
        return "no difference"
    if mean - half_width > 0.0:
        return "better"
    if mean + half_width < 0.0:
        return "worse"
    return "no difference"


@dataclass(frozen=True)
class CaseDifference:
    """``subject`` minus ``reference`` on one case: the SLO score, seed by seed."""

    case: str
    mean: float
    ci95: float
    """Half-width of the t-based 95% interval of the mean per-seed difference."""
    seeds: int

    @property
    def verdict(self) -> Verdict:
        return _verdict(self.mean, self.ci95, self.seeds)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "verdict": self.verdict}


@dataclass(frozen=True)
class SuiteDifference:
    """``subject`` minus ``reference`` over a suite's cases."""

    suite: str
    subject: str
    reference: str
    cases: tuple[CaseDifference, ...]

    @property
    def mean(self) -> float:
        return float(np.mean([c.mean for c in self.cases]))

    @property
    def ci95(self) -> float:
        return ci95([c.mean for c in self.cases])

    @property
    def verdict(self) -> Verdict:
        return _verdict(self.mean, self.ci95, len(self.cases))

    def count(self, verdict: Verdict) -> int:
        return sum(c.verdict == verdict for c in self.cases)

    def line(self) -> str:
        """One sentence for the terminal and the report's summary."""
        return (
            f"{self.subject} - {self.reference}: mean difference {self.mean:+.3f} ± "
            f"{self.ci95:.3f} over {len(self.cases)} cases ({self.verdict}); per case "
            f"better on {self.count('better')}, worse on {self.count('worse')}, no "
            f"significant difference on {self.count('no difference')}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "reference": self.reference,
            "mean": self.mean,
            "ci95": self.ci95,
            "verdict": self.verdict,
            "cases": [c.to_dict() for c in self.cases],
        }


def difference(
    case: str, subject: str, a: Sequence[float], reference: str, b: Sequence[float]
) -> CaseDifference:
    """``subject``'s scores ``a`` minus ``reference``'s ``b``, seed by seed (same seed order)."""
    if len(a) != len(b) or not a:
        raise ValueError(
            f"case {case}: {subject} has {len(a)} seed scores and {reference} {len(b)}; a "
            "paired difference needs the same seeds, at least one"
        )
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    return CaseDifference(case, float(np.mean(diffs)), ci95(diffs), len(diffs))


def case_difference(result: CaseResult, subject: str, reference: str) -> CaseDifference:
    """The per-seed difference of two controllers' SLO scores on one held-out case."""
    return difference(
        result.case.name,
        subject,
        result.seed_scores(subject),
        reference,
        result.seed_scores(reference),
    )


def scenario_differences(
    case: str, scores: Mapping[str, Sequence[float]]
) -> list[tuple[str, str, CaseDifference]]:
    """``evaluate``'s comparisons on its one workload: (subject, reference, difference) for
    each pair of :func:`comparisons`, from each controller's per-seed scores."""
    return [
        (s, r, difference(case, s, scores[s], r, scores[r])) for s, r in comparisons(tuple(scores))
    ]


def suite_difference(
    suite: str, results: list[CaseResult], subject: str, reference: str
) -> SuiteDifference:
    cases = tuple(case_difference(r, subject, reference) for r in results)
    if not cases:
        raise ValueError(f"suite {suite}: no cases to compare {subject} with {reference} on")
    return SuiteDifference(suite, subject, reference, cases)


def comparisons(controllers: tuple[str, ...], subject: str = "hrl") -> list[tuple[str, str]]:
    """(subject, reference) pairs: ``subject`` (else the first non-oracle controller) against
    every other non-oracle controller. The oracle is the ceiling, not a rival: the report
    gives each controller's share of it instead."""
    rivals = [c for c in controllers if c != ORACLE]
    if len(rivals) < 2:
        return []
    chosen = subject if subject in rivals else rivals[0]
    return [(chosen, c) for c in rivals if c != chosen]
