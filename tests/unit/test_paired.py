"""Paired differences between controllers on the same seeds: the arithmetic, the verdicts, the
pairs compared, the seed order they rely on, the held-out report's section and ``evaluate``'s
lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hrl_autoscaler.research.evaluation.heldout import (
    CaseResult,
    HeldoutConfig,
    evaluate_suites,
    limit_seeds,
    suites,
    train_suite,
)
from hrl_autoscaler.research.evaluation.heldout_report import write_report
from hrl_autoscaler.research.evaluation.metrics import ResultRow, ci95
from hrl_autoscaler.research.evaluation.paired import (
    MIN_EFFECT,
    case_difference,
    comparisons,
    suite_difference,
)
from hrl_autoscaler.research.evaluation.report import paired, paired_lines, result_json
from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, run_evaluation


def _row(controller: str, scores: list[float]) -> ResultRow:
    return ResultRow(
        controller=controller,
        scenario="case",
        seeds=len(scores),
        r_meta_mean=0.0,
        r_meta_ci95=0.0,
        slo_score_mean=float(np.mean(scores)),
        slo_score_ci95=ci95(scores),
        p95_latency_ms=0.0,
        mean_latency_ms=0.0,
        slo_violation_pct=0.0,
        cost_per_hour=0.0,
        scaling_actions_per_hour=0.0,
        restarts_per_hour=0.0,
    )


def _result(name: str, **scores: list[float]) -> CaseResult:
    case = train_suite().cases[0]
    case = type(case)(name, case.family, case.latency_slo_ms, case.peak_rate_eps)
    return CaseResult(
        "train",
        case,
        tuple(_row(c, s) for c, s in scores.items()),
        tuple(tuple(s) for s in scores.values()),
    )


def test_a_consistent_small_lead_is_found_where_the_per_controller_intervals_overlap() -> None:
    """The load moves both controllers' scores by +-0.3 from seed to seed; one leads by 0.02
    on every seed. Their own intervals overlap; the paired one excludes 0."""
    load = [0.3, -0.2, 0.1, -0.3, 0.25, 0.0, -0.1, 0.2]
    ref = [0.4 + x for x in load]
    result = _result("c", hrl=[r + 0.02 for r in ref], tuned=ref)
    hrl, tuned = result.rows
    assert hrl.slo_score_mean - hrl.slo_score_ci95 < tuned.slo_score_mean + tuned.slo_score_ci95
    diff = case_difference(result, "hrl", "tuned")
    assert diff.mean == pytest.approx(0.02)
    assert diff.ci95 == pytest.approx(0.0, abs=1e-12)
    assert diff.verdict == "better"
    assert case_difference(result, "tuned", "hrl").verdict == "worse"


def test_noise_around_no_lead_is_no_difference() -> None:
    result = _result("c", hrl=[0.5, 0.3, 0.45, 0.2], tuned=[0.4, 0.4, 0.4, 0.3])
    diff = case_difference(result, "hrl", "tuned")
    assert diff.mean == pytest.approx(-0.0125)
    assert diff.verdict == "no difference"


def test_a_negligible_or_unrepeated_difference_is_no_difference() -> None:
    """A lead of 0.001 on every seed has an interval of +-0 that excludes 0, and one seed has
    no interval at all: neither is called better."""
    tiny = _result("c", hrl=[0.401, 0.301, 0.501], tuned=[0.4, 0.3, 0.5])
    assert case_difference(tiny, "hrl", "tuned").ci95 == pytest.approx(0.0, abs=1e-12)
    assert case_difference(tiny, "hrl", "tuned").verdict == "no difference"
    at_threshold = _result("c", hrl=[0.4 + MIN_EFFECT, 0.3 + MIN_EFFECT], tuned=[0.4, 0.3])
    assert case_difference(at_threshold, "hrl", "tuned").verdict == "better"
    single = _result("c", hrl=[0.9], tuned=[0.1])
    assert case_difference(single, "hrl", "tuned").verdict == "no difference"


def test_the_suite_interval_is_over_the_cases_means() -> None:
    results = [
        _result("a", hrl=[0.5, 0.6], tuned=[0.4, 0.5]),
        _result("b", hrl=[0.2, 0.2], tuned=[0.3, 0.3]),
        _result("c", hrl=[0.1, 0.3], tuned=[0.1, 0.3]),
    ]
    suite = suite_difference("train", results, "hrl", "tuned")
    assert [c.mean for c in suite.cases] == pytest.approx([0.1, -0.1, 0.0])
    assert suite.mean == pytest.approx(0.0)
    assert suite.ci95 == pytest.approx(ci95([0.1, -0.1, 0.0]))
    assert (suite.count("better"), suite.count("worse"), suite.count("no difference")) == (1, 1, 1)
    assert suite.line().startswith("hrl - tuned: mean difference +0.000 ± ")
    assert suite.to_dict()["cases"][0]["verdict"] == "better"  # type: ignore[index]


def test_unpaired_scores_are_refused_with_the_case_named() -> None:
    result = _result("odd", hrl=[0.1, 0.2], tuned=[0.1])
    with pytest.raises(ValueError, match="case odd: hrl has 2 seed scores and tuned 1"):
        case_difference(result, "hrl", "tuned")
    with pytest.raises(KeyError, match="no seed scores for controller 'flink'"):
        result.seed_scores("flink")


def test_hrl_is_compared_with_every_other_non_oracle_controller() -> None:
    assert comparisons(("tuned", "hrl", "oracle", "flink")) == [("hrl", "tuned"), ("hrl", "flink")]
    assert comparisons(("tuned", "flink", "oracle")) == [("tuned", "flink")]
    assert comparisons(("tuned", "oracle")) == []


def test_seed_scores_are_in_seed_order_whatever_order_the_workers_finish_in() -> None:
    chosen = [limit_seeds(train_suite(), 3)]
    chosen = [type(s)(s.name, s.seeds, s.cases[1:3]) for s in chosen]
    config = HeldoutConfig(("static-max", "tuned"), episode_steps=60)
    alone = evaluate_suites(config, chosen, workers=1)
    pooled = evaluate_suites(config, chosen, workers=2)
    for a, b in zip(alone, pooled, strict=True):
        assert a.scores == b.scores
        assert len(a.seed_scores("tuned")) == 3
        # the rows' means are the scores' means: the two views of one run agree
        assert a.rows[1].slo_score_mean == pytest.approx(float(np.mean(a.seed_scores("tuned"))))


def test_the_report_has_a_paired_section_per_suite(tmp_path: Path) -> None:
    chosen = [limit_seeds(s, 2) for s in suites("both")]
    chosen = [type(s)(s.name, s.seeds, s.cases[:2]) for s in chosen]
    config = HeldoutConfig(("static-max", "tuned", "hpa"), episode_steps=60)
    lines = write_report(
        config, chosen, evaluate_suites(config, chosen, workers=1), tmp_path, "test"
    )
    assert any(line.startswith("static-max - hpa: mean difference") for line in lines["heldout"])
    data = json.loads((tmp_path / "heldout.json").read_text())
    paired = data["suites"]["train"]["paired"]
    assert [(p["subject"], p["reference"]) for p in paired] == [
        ("static-max", "tuned"),
        ("static-max", "hpa"),
    ]
    assert len(paired[0]["cases"]) == 2
    rows = data["suites"]["train"]["cases"][0]["rows"]
    assert [len(r["seed_scores"]) for r in rows] == [2, 2, 2]
    assert rows[1]["slo_score_mean"] == pytest.approx(float(np.mean(rows[1]["seed_scores"])))
    md = (tmp_path / "heldout.md").read_text()
    assert md.count("### Paired differences") == 2
    assert "| case | static-max - tuned | static-max - hpa |" in md


def test_evaluate_keeps_each_controllers_episodes_in_seed_order_and_pairs_them() -> None:
    spec = EvaluationSpec(
        controllers=("static-max", "tuned", "hpa"),
        scenario="flash-crowd",
        seeds=3,
        first_seed=7,
        episode_steps=60,
    )
    alone, pooled = run_evaluation(spec, workers=1), run_evaluation(spec, workers=2)
    assert alone.episodes == pooled.episodes
    assert [len(runs) for runs in alone.episodes.values()] == [3, 3, 3]
    [(s, r, d), _] = paired(alone)
    assert (s, r) == ("static-max", "tuned")
    expected = [
        a.slo_score - b.slo_score
        for a, b in zip(alone.episodes["static-max"], alone.episodes["tuned"], strict=True)
    ]
    assert d.mean == pytest.approx(float(np.mean(expected)))
    assert d.ci95 == pytest.approx(ci95(expected))
    lines = paired_lines(alone)
    assert lines[1].startswith("paired over the same seeds, SLO score: static-max - hpa ")
    assert [p["reference"] for p in result_json(alone)["paired"]] == ["tuned", "hpa"]


def test_evaluate_pairs_on_r_meta_under_that_objective_and_not_with_one_seed() -> None:
    spec = EvaluationSpec(
        controllers=("static-max", "tuned"), scenario="steady", seeds=2, episode_steps=40,
        objective="r_meta",
    )  # fmt: skip
    result = run_evaluation(spec, workers=1)
    [(_, _, d)] = paired(result)
    pairs = zip(result.episodes["static-max"], result.episodes["tuned"], strict=True)
    assert d.mean == pytest.approx(float(np.mean([a.r_meta - b.r_meta for a, b in pairs])))
    assert paired_lines(result)[0].startswith("paired over the same seeds, R_meta:")
    one = run_evaluation(EvaluationSpec(("static-max", "tuned"), "steady", seeds=1,
                                        episode_steps=40), workers=1)  # fmt: skip
    assert paired_lines(one) == []
