"""Calibration without Spark: the fit recovers known parameters, the loader names bad fields,
progress parsing, and the simulator changes as a calibration says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hrl_autoscaler.cli import main
from hrl_autoscaler.config import SimParams
from hrl_autoscaler.research.sim.cluster import ClusterModel
from hrl_autoscaler.tools.calibration.build import build_calibration
from hrl_autoscaler.tools.calibration.command import write_outputs
from hrl_autoscaler.tools.calibration.fit import (
    StepMeasurement,
    fit_params,
    linear_batch_s,
    predictions,
    simulated_batch_s,
    within_target,
)
from hrl_autoscaler.tools.calibration.progress import (
    batch_sample,
    merge_progress,
    summarise_step,
)
from hrl_autoscaler.tools.calibration.schema import (
    SCHEMA,
    BatchSample,
    Calibration,
    CalibrationError,
    LoadStep,
    MachineInfo,
    ScalingTiming,
    SparkInfo,
    calibrated_peak_rate,
    load_calibration,
    load_sim_params,
)

TRUE = SimParams(
    executor_rate_eps=5000.0, scaling_contention=0.15, batch_overhead_s=0.4, task_time_s=0.3
)
MACHINE = MachineInfo(
    hostname="test",
    platform="Linux",
    python="3.11",
    cpus=2,
    memory_gb=24.0,
    java="openjdk 17",
    load_average=(0.5, 0.5, 0.5),
)
SPARK = SparkInfo(
    version="4.1.1",
    master="spark://127.0.0.1:7077",
    executor_cores=1,
    executor_memory="512m",
    trigger_interval_s=1.0,
    job="test",
)


def synthetic_steps(
    params: SimParams, noise: float, seed: int = 0, counts: tuple[int, ...] = (1, 2)
) -> list[StepMeasurement]:
    """What a job obeying the simulator's physics would measure, with relative noise."""
    rng = np.random.default_rng(seed)
    steps = []
    for n in counts:
        capacity = params.capacity_eps(n)
        for utilisation in (0.1, 0.2, 0.4, 0.6, 0.75, 0.85):
            rate = utilisation * capacity
            measured = simulated_batch_s(params, n, rate) * (1 + rng.normal(0.0, noise))
            steps.append(StepMeasurement(n, rate, measured, rate * params.batch_interval_s, False))
        rows = 3.0 * 1.4 * capacity  # a saturated batch holds several intervals' worth
        steps.append(
            StepMeasurement(n, 1.4 * capacity, linear_batch_s(params, n, rows), rows, True)
        )
    return steps


# -- the fit ------------------------------------------------------------------------------------


def test_the_fit_recovers_known_parameters_from_noisy_measurements() -> None:
    result = fit_params(synthetic_steps(TRUE, noise=0.02), SimParams())
    p = result.params
    assert result.success
    assert p.executor_rate_eps == pytest.approx(5000.0, rel=0.05)
    assert p.scaling_contention == pytest.approx(0.15, abs=0.03)
    assert p.batch_overhead_s == pytest.approx(0.4, rel=0.1)
    assert p.task_time_s == pytest.approx(0.3, rel=0.25)
    met, worst, _ = within_target(predictions(p, synthetic_steps(TRUE, noise=0.0)))
    assert met
    assert worst < 0.05


@pytest.mark.parametrize(
    "truth",
    [
        SimParams(executor_rate_eps=800.0, scaling_contention=0.0, batch_overhead_s=1.2),
        SimParams(executor_rate_eps=40_000.0, scaling_contention=0.6, batch_overhead_s=0.1),
    ],
)
def test_the_fit_is_exact_on_noise_free_data_across_scales(truth: SimParams) -> None:
    p = fit_params(synthetic_steps(truth, noise=0.0), SimParams()).params
    assert p.executor_rate_eps == pytest.approx(truth.executor_rate_eps, rel=0.02)
    assert p.scaling_contention == pytest.approx(truth.scaling_contention, abs=0.02)
    assert p.batch_overhead_s == pytest.approx(truth.batch_overhead_s, rel=0.02)


def test_one_executor_count_keeps_the_default_contention() -> None:
    steps = synthetic_steps(TRUE, noise=0.0, counts=(1,))
    p = fit_params(steps, SimParams(scaling_contention=0.07)).params
    assert p.scaling_contention == pytest.approx(0.07)
    assert p.executor_rate_eps == pytest.approx(5000.0, rel=0.02)


def test_a_wrong_model_is_reported_as_not_meeting_the_target() -> None:
    """Batches whose time is quadratic in the load: no SimParams fits within 25%."""
    steps = [
        StepMeasurement(1, rate, 0.05 + (rate / 1000.0) ** 2, rate, False)
        for rate in (50.0, 200.0, 400.0, 600.0, 800.0, 950.0)
    ]
    p = fit_params(steps, SimParams()).params
    met, worst, _ = within_target(predictions(p, steps))
    assert not met
    assert worst > 0.25


def test_no_sustainable_step_means_the_target_is_not_met() -> None:
    steps = [s for s in synthetic_steps(TRUE, 0.0) if s.saturated]
    rows = predictions(TRUE, steps)
    assert within_target(rows)[0] is False


def test_simulated_batch_time_is_the_simulators_latency_less_the_trigger_wait() -> None:
    model = ClusterModel(TRUE.with_overrides(capacity_noise=0.0))
    model.reset(2)
    latency_s = model.advance(3000.0, 1.0).latency_ms / 1000.0
    assert simulated_batch_s(TRUE, 2, 3000.0) == pytest.approx(latency_s - 0.5)
    # and it grows with the load and shrinks with executors
    assert simulated_batch_s(TRUE, 1, 4000.0) > simulated_batch_s(TRUE, 1, 1000.0)
    assert simulated_batch_s(TRUE, 2, 4000.0) < simulated_batch_s(TRUE, 1, 4000.0)


# -- progress -----------------------------------------------------------------------------------


def progress_entry(batch: int, start: str, ms: int, rows: int, avg: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "batchId": batch,
        "timestamp": start,
        "durationMs": {"triggerExecution": ms, "addBatch": ms // 2},
        "numInputRows": rows,
    }
    if avg is not None:
        entry["eventTime"] = {"avg": avg, "watermark": "1970-01-01T00:00:00.000Z"}
    return entry


def test_progress_entries_become_samples_and_empty_batches_are_skipped() -> None:
    sample = batch_sample(
        progress_entry(7, "2026-11-22T01:35:31.000Z", 1500, 1000, "2026-11-22T01:35:30.250Z")
    )
    assert sample is not None
    assert sample.batch_id == 7
    assert sample.start_epoch_s == pytest.approx(1795311331.0)
    assert sample.duration_s == 1.5
    assert sample.input_rows == 1000
    # the batch ends at 01:35:32.5; its events are on average from 01:35:30.25
    assert sample.event_latency_s == pytest.approx(2.25)
    assert batch_sample(progress_entry(8, "2026-11-22T01:35:32.000Z", 30, 0, None)) is None
    seen: dict[int, BatchSample] = {}
    entries = [
        progress_entry(i, f"2026-11-22T01:35:{i:02d}.000Z", 500, 100, None) for i in range(5)
    ]
    merge_progress(seen, entries[:3])
    merge_progress(seen, entries[1:])
    assert sorted(seen) == [0, 1, 2, 3, 4]


def _batches(durations: list[float], rows: list[int], interval: float = 1.0) -> list[BatchSample]:
    t, out = 1000.0, []
    for i, (d, r) in enumerate(zip(durations, rows, strict=True)):
        out.append(BatchSample(batch_id=i, start_epoch_s=t, duration_s=d, input_rows=r))
        t += max(d, interval)
    return out


def test_a_step_that_keeps_up_is_sustainable_even_with_batches_longer_than_the_trigger() -> None:
    # back-to-back 1.5 s batches of 1500 rows: 1000 rows/s flow through, as offered
    step = summarise_step(1, 1000.0, 1000.0, 30.0, _batches([1.5] * 12, [1500] * 12), 1.0)
    assert not step.saturated
    assert step.input_eps == pytest.approx(1000.0)
    assert step.processed_eps == pytest.approx(1000.0)
    assert step.mean_batch_s == pytest.approx(1.5)


def test_a_step_that_falls_behind_is_saturated() -> None:
    durations = [1.0 + 0.5 * i for i in range(10)]
    rows = [int(800 * d) for d in durations]  # 800 rows/s flow while 2000 arrive
    step = summarise_step(1, 2000.0, 2000.0, 30.0, _batches(durations, rows), 1.0)
    assert step.saturated
    with pytest.raises(ValueError, match="no micro-batch with data at 2 executor"):
        summarise_step(2, 500.0, 500.0, 30.0, [], 1.0)


# -- the file and its loader --------------------------------------------------------------------


def load_step(s: StepMeasurement, batches: int = 5) -> LoadStep:
    samples = [
        BatchSample(
            batch_id=i,
            start_epoch_s=1000.0 + i,
            duration_s=s.mean_batch_s,
            input_rows=int(s.mean_input_rows),
        )
        for i in range(batches)
    ]
    return LoadStep(
        executors=s.executors,
        offered_eps=s.rate_eps,
        produced_eps=s.rate_eps,
        duration_s=30.0,
        batches=samples,
        mean_batch_s=s.mean_batch_s,
        mean_input_rows=s.mean_input_rows,
        processed_eps=s.mean_input_rows / s.mean_batch_s,
        input_eps=s.rate_eps,
        saturated=s.saturated,
    )


@pytest.fixture
def calibration_file(tmp_path: Path) -> Path:
    steps = [load_step(s) for s in synthetic_steps(TRUE, noise=0.01)]
    scaling = [
        ScalingTiming(direction="add", from_executors=1, to_executors=2, seconds=4.0),
        ScalingTiming(direction="add", from_executors=1, to_executors=2, seconds=6.0),
        ScalingTiming(direction="remove", from_executors=2, to_executors=1, seconds=1.0),
    ]
    calibration, rows = build_calibration(steps, scaling, MACHINE, SPARK, "hrl-autoscaler test")
    write_outputs(calibration, rows, tmp_path / "out")
    return tmp_path / "out" / "calibration.json"


def test_a_built_calibration_round_trips_and_writes_every_output(calibration_file: Path) -> None:
    out = calibration_file.parent
    calibration = load_calibration(calibration_file)
    assert calibration.quality.met
    assert calibration.fitted.startup_delay_s == pytest.approx(5.0)
    assert calibration.fitted.executor_rate_eps == pytest.approx(5000.0, rel=0.05)
    assert set(calibration.quality.capacity_eps) == {"1", "2"}
    assert json.loads(calibration_file.read_text())["schema"] == SCHEMA
    assert (out / "calibration.png").stat().st_size > 20_000
    table = (out / "calibration.md").read_text()
    assert "**MET**" in table
    assert "| `executor_rate_eps` |" in table
    csv_lines = (out / "measurements.csv").read_text().splitlines()
    assert csv_lines[0].startswith("executors,offered_eps")
    assert len(csv_lines) == 1 + 5 * 14


def test_a_kubernetes_calibration_says_where_its_executors_ran() -> None:
    """The report names the deployment, and the start-up note is the pod's, not a JVM's."""
    steps = [load_step(s) for s in synthetic_steps(TRUE, noise=0.01)]
    scaling = [ScalingTiming(direction="add", from_executors=1, to_executors=2, seconds=4.0)]
    pods = SPARK.model_copy(update={"master": "k8s://https://10.0.0.1:6443"})
    assert pods.on_kubernetes
    assert not SPARK.on_kubernetes
    calibration, _ = build_calibration(steps, scaling, MACHINE, pods, "test")
    assert any("executor pod" in note for note in calibration.quality.notes)
    assert not any("standalone" in note for note in calibration.quality.notes)
    standalone, _ = build_calibration(steps, scaling, MACHINE, SPARK, "test")
    assert any("standalone" in note for note in standalone.quality.notes)


def _corrupt(path: Path, change: Any) -> Path:
    data = json.loads(path.read_text())
    change(data)
    bad = path.with_name("bad.json")
    bad.write_text(json.dumps(data))
    return bad


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="v0"), "schema: expected 'hrl-autoscaler/calibration/v1'"),
        (
            lambda d: d["fitted"].update(executor_rate_eps=-3),
            "fitted.executor_rate_eps: Input should be greater than 0",
        ),
        (
            lambda d: d["fitted"].update(scaling_contention="high"),
            "fitted.scaling_contention: Input should be a valid number",
        ),
        (lambda d: d["fitted"].pop("task_time_s"), "fitted.task_time_s: Field required"),
        (lambda d: d["steps"][2].update(executors=0), "steps[2].executors: Input should be"),
        (lambda d: d.update(extra=1), "extra: Extra inputs are not permitted"),
        (
            lambda d: d["fitted"].update(batch_interval_s=2.0),
            "must equal spark.trigger_interval_s",
        ),
    ],
)
def test_the_loader_names_the_bad_field(calibration_file: Path, change: Any, message: str) -> None:
    with pytest.raises(CalibrationError) as error:
        load_calibration(_corrupt(calibration_file, change))
    assert message in str(error.value)
    assert "bad.json" in str(error.value)


def test_the_loader_rejects_missing_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="cannot read calibration"):
        load_calibration(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(CalibrationError, match=r"x.json: not JSON \(line 1"):
        load_calibration(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("[1, 2]")
    with pytest.raises(CalibrationError, match="expected a JSON object, got list"):
        load_calibration(tmp_path / "y.json")


# -- the simulator with a calibration -----------------------------------------------------------


def test_a_calibration_changes_the_simulator_as_fitted(calibration_file: Path) -> None:
    calibration = load_calibration(calibration_file)
    params = load_sim_params(calibration_file, SimParams(actuation="restart"))
    assert params.actuation == "restart"  # the base's unfitted fields stay
    assert params.executor_rate_eps == calibration.fitted.executor_rate_eps
    assert params.startup_delay_s == pytest.approx(5.0)
    assert params.capacity_eps(2) == pytest.approx(calibration.quality.capacity_eps["2"], rel=1e-9)
    # A cluster at 1 executor under 3000 events/s: the default simulator (1000 events/s per
    # executor) drowns, the calibrated one (about 5000) keeps up with a sub-second latency.
    default, calibrated = ClusterModel(SimParams()), ClusterModel(params)
    for model in (default, calibrated):
        model.reset(1)
    for _ in range(10):
        slow = default.advance(3000.0, 30.0)
        fast = calibrated.advance(3000.0, 30.0, capacity_factor=1.0)
    assert slow.backlog_after > 0
    assert fast.backlog_after == 0
    assert fast.latency_ms < 2000.0 < slow.latency_ms
    # Executors start as fast as measured: a scale-up is running after 5 s, not 45 s.
    in_place = ClusterModel(params.with_overrides(actuation="in-place"))
    in_place.reset(1)
    in_place.set_target(2)
    in_place.advance(0.0, 4.0)
    assert in_place.running == 1
    in_place.advance(0.0, 2.0)
    assert in_place.running == 2
    assert calibrated_peak_rate(9000.0, params) == pytest.approx(
        9000.0 * params.rate_scale_eps / SimParams().rate_scale_eps
    )


def test_evaluate_runs_with_a_calibration_and_rejects_a_bad_one(
    calibration_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--scenario", "steady", "--controllers", "static-2,ds2", "--seeds", "1"]
    argv += ["--episode-steps", "60", "--workers", "1", "--json", str(out)]
    assert main([*argv, "--calibration", str(calibration_file)]) == 0
    data = json.loads(out.read_text())
    assert data["params"]["executor_rate_eps"] == pytest.approx(5000.0, rel=0.05)
    assert "steady peak rescaled" in capsys.readouterr().err
    bad = _corrupt(calibration_file, lambda d: d["fitted"].update(batch_overhead_s=-1))
    assert main([*argv, "--calibration", str(bad)]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "fitted.batch_overhead_s" in err


def test_ablation_takes_a_calibration_for_every_scenario(
    calibration_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hrl_autoscaler.research.evaluation import ablation
    from hrl_autoscaler.research.sim.workloads import SCENARIOS

    seen: dict[str, Any] = {}

    def fake_run(seeds: int, steps: int, params: SimParams, **kw: Any) -> Any:
        seen.update(params=params, peaks=kw["peak_rates"])
        raise SystemExit(0)  # the evaluation itself is tested elsewhere

    monkeypatch.setattr(ablation, "run_ablation", fake_run)
    argv = ["ablation", "--seeds", "1", "--out", str(tmp_path), "--calibration"]
    with pytest.raises(SystemExit):
        main([*argv, str(calibration_file)])
    params = seen["params"]
    assert params.executor_rate_eps == pytest.approx(5000.0, rel=0.05)
    assert set(seen["peaks"]) == set(SCENARIOS)
    for name, peak in seen["peaks"].items():
        assert peak == pytest.approx(calibrated_peak_rate(SCENARIOS[name].peak_rate_eps, params))
    bad = _corrupt(calibration_file, lambda d: d["fitted"].update(batch_overhead_s=-1))
    assert main([*argv, str(bad)]) == 2


def test_refit_rewrites_the_outputs_from_a_calibration_file(
    calibration_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "refit"
    assert main(["calibrate", "--refit", str(calibration_file), "--out", str(out)]) == 0
    again = load_calibration(out / "calibration.json")
    first = load_calibration(calibration_file)
    assert again.fitted == first.fitted
    assert again.command == first.command
    assert isinstance(again, Calibration)


# -- the plan and the command line --------------------------------------------------------------


def test_rates_double_until_the_maximum_unless_given() -> None:
    from hrl_autoscaler.tools.calibration.plan import CalibrationPlan, _rates

    plan = CalibrationPlan(work_dir=Path("w"), start_rate_eps=500.0, max_rate_eps=4000.0)
    assert list(_rates(plan)) == [500.0, 1000.0, 2000.0, 4000.0]
    given = CalibrationPlan(work_dir=Path("w"), rates_eps=(300.0, 1200.0))
    assert list(_rates(given)) == [300.0, 1200.0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--executors", "0,1"], "argument --executors: expected positive executor counts"),
        (["--executors", "one"], "argument --executors: 'one' is not a comma-separated list"),
        (["--rates", "100,-5"], "argument --rates: expected positive events/s"),
        (["--step", "0"], "argument --step: must be a finite number > 0"),
        (["--refine", "-1"], "argument --refine: must be an integer >= 0"),
    ],
)
def test_calibrate_rejects_bad_options_naming_them(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["calibrate", *argv])
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"warmup_s": 50.0, "step_s": 45.0}, "--warmup (50.0 s) must be >= 0 and shorter"),
        ({"max_rate_eps": 100.0, "start_rate_eps": 500.0}, "--max-rate (100.0) is below"),
        ({"executors": ()}, "--executors must be counts >= 1"),
    ],
)
def test_an_inconsistent_plan_is_refused_before_spark_starts(
    changes: dict[str, Any], message: str
) -> None:
    from hrl_autoscaler.tools.calibration.plan import CalibrationPlan

    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CalibrationPlan(work_dir=Path("w"), **changes)


def test_refit_of_a_missing_file_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--refit", str(tmp_path / "nope.json")]) == 2
    assert "cannot read calibration" in capsys.readouterr().err


# -- contention ---------------------------------------------------------------------------------


def test_the_cpu_meter_sees_this_process_as_its_own_and_a_child_too() -> None:
    import subprocess
    import sys
    import time

    from hrl_autoscaler.tools.calibration.cpu import foreign_cores, snapshot

    before = snapshot()
    if before is None:
        pytest.skip("no /proc here")
    # A child that burns half a CPU second, then this process 0.3 s: own CPU, not foreign
    # (CPU time, not wall time: on a busy machine a wall-clock loop gets less of it).
    burn = "import time\nwhile time.process_time() < 0.5: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    start = time.process_time()
    while time.process_time() - start < 0.3:
        pass
    after = snapshot()
    assert after is not None
    assert after.own_s - before.own_s >= 0.75
    foreign = foreign_cores(before, after)
    assert foreign is not None
    assert 0.0 <= foreign < 2.0
    assert foreign_cores(None, after) is None


def test_executor_pods_processes_are_found_by_their_cgroup(tmp_path: Path) -> None:
    """Pods are containerd's children, not ours: their processes are found by the pod UID in
    their cgroup path, with either cgroup driver's spelling."""
    from hrl_autoscaler.tools.calibration.cpu import pod_processes

    uid = "a42123d8-4297-4fa4-84f4-6e4ea70c2b78"
    cgroups = {
        "101": f"0::/kubepods/burstable/pod{uid}/856ace",
        "102": f"0::/kubepods.slice/kubepods-pod{uid.replace('-', '_')}.slice/cri-x",
        "103": "0::/kubepods/besteffort/pod11111111-2222-3333-4444-555555555555/abc",
        "104": "0::/system.slice/kubelet.service",
    }
    for pid, text in cgroups.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cgroup").write_text(text + "\n")
    (tmp_path / "105").mkdir()  # exited: no cgroup file left
    (tmp_path / "stat").write_text("cpu 1 2 3 4\n")
    assert sorted(pod_processes([uid], proc=tmp_path)) == [101, 102]
    assert pod_processes([], proc=tmp_path) == []


def test_extra_roots_count_as_own_once() -> None:
    import os

    from hrl_autoscaler.tools.calibration.cpu import snapshot

    alone = snapshot()
    if alone is None:
        pytest.skip("no /proc here")
    # this process named twice (as root and extra root) is counted once
    twice = snapshot(extra_roots=[os.getpid(), os.getpid()])
    assert twice is not None
    assert twice.own_s - alone.own_s < 0.5


def test_contended_steps_are_kept_but_neither_fitted_nor_judged() -> None:
    steps = [load_step(s) for s in synthetic_steps(TRUE, noise=0.0)]
    garbage = steps[2].model_copy(
        update={"mean_batch_s": 40.0, "contended": True, "attempts": 3, "foreign_cpu_cores": 1.4}
    )
    mixed = [*steps[:2], garbage, *steps[3:]]
    calibration, _ = build_calibration(mixed, [], MACHINE, SPARK, "test")
    assert calibration.fitted.executor_rate_eps == pytest.approx(5000.0, rel=0.01)
    assert calibration.quality.met
    judged = calibration.quality.predictions[2]
    assert judged.contended
    assert not judged.in_range
    assert any("stayed contended" in note for note in calibration.quality.notes)
    assert any("repeated" in note for note in calibration.quality.notes)
    noisy, _ = build_calibration(
        [s.model_copy(update={"contended": True}) for s in steps], [], MACHINE, SPARK, "t"
    )
    assert not noisy.quality.met  # nothing judged
    assert any("Every step was contended" in note for note in noisy.quality.notes)


def test_the_comparison_bench_reproduces_each_calibrations_own_error() -> None:
    """bench/calibration_compare.py: a calibration's parameters on its own steps give the
    error the file records (the diagonal), and the committed runs load."""
    import importlib.util

    repo = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(
        "calibration_compare", repo / "bench" / "calibration_compare.py"
    )
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for path in ("docs/calibration-k8s", "docs/calibration-compare/standalone-2026-12-06"):
        calibration = load_calibration(repo / path / "calibration.json")
        cell = bench.cross_errors(calibration, calibration)
        assert cell.startswith(f"max {calibration.quality.max_abs_error:.1%} ")
        assert f"mean {calibration.quality.mean_abs_error:.1%}" in cell
