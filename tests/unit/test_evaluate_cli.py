"""``hrl-autoscaler evaluate`` end to end: table, JSON schema, plot, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrl_autoscaler.cli import main

JSON_KEYS = {
    "controller",
    "scenario",
    "seeds",
    "r_meta_mean",
    "r_meta_ci95",
    "slo_score_mean",
    "p95_latency_ms",
    "mean_latency_ms",
    "slo_violation_pct",
    "cost_per_hour",
    "scaling_actions_per_hour",
    "restarts_per_hour",
}


def test_evaluate_writes_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    code = main(
        [
            "evaluate",
            "--scenario",
            "flash-crowd",
            "--controllers",
            "static-6,hpa,ds2,oracle",
            "--seeds",
            "2",
            "--episode-steps",
            "240",
            "--workers",
            "1",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
        ]
    )
    assert code == 0
    data = json.loads(out_json.read_text())
    assert [r["controller"] for r in data["results"]] == ["static-6", "hpa", "ds2", "oracle"]
    for row in data["results"]:
        assert set(row) >= JSON_KEYS
        assert row["seeds"] == 2
        assert row["scenario"] == "flash-crowd"
    assert out_png.stat().st_size > 10_000
    assert "oracle" in capsys.readouterr().out


def test_evaluate_replays_a_trace_in_restart_mode(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(
        "timestamp,value\n" + "".join(f"{i * 60},{(i % 10 + 1) * 30000}\n" for i in range(120))
    )
    out_json = tmp_path / "r.json"
    code = main(
        [
            "evaluate",
            "--trace",
            str(trace),
            "--peak-rate",
            "9000",
            "--controllers",
            "hpa,ds2",
            "--seeds",
            "1",
            "--actuation",
            "restart",
            "--objective",
            "r_meta",
            "--workers",
            "1",
            "--json",
            str(out_json),
        ]
    )
    assert code == 0
    data = json.loads(out_json.read_text())
    assert data["actuation"] == "restart"
    assert data["workload"] == "t"
    assert data["episode_steps"] is None or data["episode_steps"] == 240


def test_bad_trace_gives_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text("timestamp,value\n0,5\n30,x\n")
    assert main(["evaluate", "--trace", str(trace), "--controllers", "hpa"]) == 2
    assert "bad.csv:3: value 'x' is not a number" in capsys.readouterr().err.replace("\n", "")


def test_unknown_controller_lists_accepted_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--controllers", "hpa,magic"]) == 2
    assert "accepted values" in capsys.readouterr().err


def test_first_seed_evaluates_a_held_out_range(tmp_path: Path) -> None:
    """``--first-seed 100 --seeds 2`` runs seeds 100 and 101: the same episodes as run_one on
    those seeds, and not those of seeds 0 and 1."""
    from hrl_autoscaler.research.evaluation.runner import EvaluationSpec, run_one

    def latency(first: int) -> float:
        out = tmp_path / f"from-{first}.json"
        argv = ["evaluate", "--scenario", "flash-crowd", "--controllers", "hpa", "--seeds", "2"]
        argv += ["--episode-steps", "120", "--first-seed", str(first), "--json", str(out)]
        assert main(argv) == 0
        data = json.loads(out.read_text())
        assert data["seeds"] == [first, first + 1]
        return float(data["results"][0]["mean_latency_ms"])

    spec = EvaluationSpec(controllers=("hpa",), scenario="flash-crowd", episode_steps=120)
    direct = [run_one(spec, "hpa", seed)[0].mean_latency_ms for seed in (100, 101)]
    assert latency(100) == pytest.approx(sum(direct) / 2)
    assert latency(100) != pytest.approx(latency(0))


def test_a_negative_first_seed_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--first-seed", "-1"])
    assert "--first-seed" in capsys.readouterr().err
