"""The held-out split: synthetic shapes, the suites' seeds and peaks, the report, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.axes import Axes

from hrl_autoscaler.cli import main
from hrl_autoscaler.research.evaluation.heldout import (
    HELDOUT_SEEDS,
    TRAIN_SEEDS,
    HeldoutConfig,
    evaluate_suites,
    heldout_suite,
    limit_seeds,
    suites,
    train_suite,
)
from hrl_autoscaler.research.evaluation.heldout_report import write_report
from hrl_autoscaler.research.sim import synthetic
from hrl_autoscaler.research.sim.workloads import SCENARIOS

STEPS, INTERVAL = 2880, 30.0


def _families() -> list[tuple[str, synthetic.SyntheticFamily]]:
    def mix(steps: int, interval_s: float, rng: np.random.Generator, peak: float) -> np.ndarray:
        return synthetic.mixture(("smart-hospital", "smart-metering"), steps, interval_s, rng, peak)

    return [*synthetic.FAMILIES.items(), ("mixture", mix)]


@pytest.mark.parametrize(("name", "make"), _families())
def test_shapes_are_finite_non_negative_and_peak_at_the_rate(
    name: str, make: synthetic.SyntheticFamily
) -> None:
    rates = make(STEPS, INTERVAL, np.random.default_rng(3), 7000.0)
    assert rates.shape == (STEPS,), name
    assert np.all(np.isfinite(rates))
    assert rates.min() >= 0.0
    assert rates.max() == pytest.approx(7000.0)
    assert rates.std() > 0.02 * rates.mean()  # a shape, not a constant


@pytest.mark.parametrize(("name", "make"), _families())
def test_shapes_are_deterministic_per_seed(name: str, make: synthetic.SyntheticFamily) -> None:
    a = make(500, INTERVAL, np.random.default_rng(11), 5000.0)
    b = make(500, INTERVAL, np.random.default_rng(11), 5000.0)
    c = make(500, INTERVAL, np.random.default_rng(12), 5000.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c), name


def test_shapes_reject_a_bad_peak() -> None:
    with pytest.raises(ValueError, match="peak rate"):
        synthetic.on_off(10, INTERVAL, np.random.default_rng(0), 0.0)
    with pytest.raises(ValueError, match="accepted values"):
        synthetic.family("square")


def _period_s(rates: np.ndarray) -> float:
    """The lag (in seconds) of the highest autocorrelation peak between 5 and 60 minutes."""
    x = rates - rates.mean()
    acf = np.correlate(x, x, mode="full")[x.size - 1 :]
    lags = np.arange(round(300 / INTERVAL), round(3600 / INTERVAL))
    return float(lags[np.argmax(acf[lags])] * INTERVAL)


def test_time_scaling_changes_smart_meterings_period() -> None:
    rng = np.random.default_rng
    base = synthetic.time_scaled("smart-metering", STEPS, INTERVAL, rng(0), 1.0)
    fast = synthetic.time_scaled("smart-metering", STEPS, INTERVAL, rng(0), 2.0)
    slow = synthetic.time_scaled("smart-metering", STEPS, INTERVAL, rng(0), 0.5)
    assert _period_s(base) == 900.0
    assert _period_s(fast) == 450.0
    assert _period_s(slow) == 1800.0
    # the scenario's meaning of the peak is kept: upload waves still reach ~its default peak
    assert fast.max() == pytest.approx(base.max(), rel=0.15)


def test_heldout_seeds_are_used_nowhere_else() -> None:
    used = set(range(10)) | set(range(100, 103)) | set(range(200, 205))
    assert not set(HELDOUT_SEEDS) & used
    assert not set(heldout_suite().seeds) & used
    assert train_suite().seeds == TRAIN_SEEDS == tuple(range(10))
    assert limit_seeds(heldout_suite(), 3).seeds == (1000, 1001, 1002)


def test_heldout_peaks_lie_outside_the_training_jitter() -> None:
    suite = heldout_suite()
    peak_cases = [c for c in suite.cases if c.family == "peak"]
    assert len(peak_cases) == 2 * len(SCENARIOS)
    for case in peak_cases:
        factor = case.peak_rate_eps / SCENARIOS[case.scenarios[0]].peak_rate_eps
        assert not 0.7 <= factor <= 1.3, case.name
        assert case.latency_slo_ms == SCENARIOS[case.scenarios[0]].latency_slo_ms
    assert {c.family for c in suite.cases} == {"peak", "speed", "mixture", "synthetic"}
    for case in suite.cases:
        if case.family in ("mixture", "synthetic"):
            assert case.latency_slo_ms == 2000.0
    names = [c.name for c in suite.cases]
    assert len(set(names)) == len(names)


def test_train_cases_are_evaluates_episodes() -> None:
    from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, episode_load

    case = train_suite().cases[1]
    spec = EvaluationSpec(controllers=("hpa",), scenario=case.name, episode_steps=100)
    np.testing.assert_array_equal(case.load(3, 100, INTERVAL), episode_load(spec, 3))


def test_every_heldout_case_builds_its_load() -> None:
    for case in heldout_suite().cases:
        rates = case.load(1000, 120, INTERVAL)
        assert rates.shape == (120,)
        assert np.all(np.isfinite(rates))
        assert rates.min() >= 0
        np.testing.assert_array_equal(rates, case.load(1000, 120, INTERVAL))


def test_suites_rejects_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="--suite"):
        suites("validation")


def test_a_tiny_run_writes_the_three_files(tmp_path: Path) -> None:
    chosen = [limit_seeds(s, 1) for s in suites("both")]
    chosen = [type(s)(s.name, s.seeds, s.cases[:2]) for s in chosen]
    config = HeldoutConfig(("static-max", "tuned"), episode_steps=60)
    results = evaluate_suites(config, chosen, workers=1)
    lines = write_report(config, chosen, results, tmp_path, "test")
    assert set(lines) == {"train", "heldout"}
    data = json.loads((tmp_path / "heldout.json").read_text())
    assert set(data["suites"]) == {"train", "heldout"}
    assert [r["controller"] for r in data["suites"]["heldout"]["cases"][0]["rows"]] == [
        "static-max",
        "tuned",
    ]
    md = (tmp_path / "heldout.md").read_text()
    assert "## Train suite" in md
    assert "## Held-out suite" in md
    assert (tmp_path / "heldout.png").stat().st_size > 5_000


def test_without_the_oracle_the_plot_shows_the_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shares of the oracle need the oracle; without it the bars are the SLO scores, not
    an empty chart."""
    heights: list[float] = []
    bar = Axes.bar

    def spy(self: Axes, x: Any, height: Any, *args: Any, **kwargs: Any) -> Any:
        heights.extend(float(h) for h in np.atleast_1d(height))
        return bar(self, x, height, *args, **kwargs)

    monkeypatch.setattr(Axes, "bar", spy)
    chosen = [limit_seeds(train_suite(), 1)]
    chosen = [type(s)(s.name, s.seeds, s.cases[:1]) for s in chosen]
    config = HeldoutConfig(("static-max", "tuned"), episode_steps=40)
    write_report(config, chosen, evaluate_suites(config, chosen, workers=1), tmp_path, "test")
    scores = json.loads((tmp_path / "heldout.json").read_text())["suites"]["train"]["cases"][0]
    expected = [float(np.clip(r["slo_score_mean"], -1.0, 1.5)) for r in scores["rows"]]
    assert heights == pytest.approx(expected)


def test_the_oracle_alone_is_refused_before_any_episode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="besides the oracle"):
        HeldoutConfig(("oracle",))
    code = main(["heldout", "--controllers", "oracle", "--seeds", "1", "--out", str(tmp_path)])
    assert code != 0
    assert "--controllers needs at least one controller besides the oracle" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "heldout.json").exists()


def test_the_cli_runs_in_restart_mode(tmp_path: Path) -> None:
    code = main(
        [
            "heldout",
            "--controllers",
            "static-max,tuned",
            "--seeds",
            "1",
            "--episode-steps",
            "30",
            "--suite",
            "train",
            "--actuation",
            "restart",
            "--workers",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "heldout.json").read_text())
    assert data["params"]["actuation"] == "restart"
    assert set(data["suites"]) == {"train"}


def test_the_cli_rejects_a_bad_suite(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["heldout", "--suite", "validation"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    for word in ("--suite", "'validation'", "train, heldout, both"):
        assert word in err
