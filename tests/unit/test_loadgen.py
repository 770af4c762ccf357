"""``hrl-autoscaler loadgen``: rates, atomic files, determinism, schedules, sinks, errors."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from hrl_autoscaler.cli import main
from hrl_autoscaler.research.sim.workloads import load_profile
from hrl_autoscaler.tools.loadgen.events import DEVICE_TYPES, SCENARIO_MIX, EventFactory, device_mix
from hrl_autoscaler.tools.loadgen.runner import EventCounter, run_loadgen
from hrl_autoscaler.tools.loadgen.schedule import (
    constant_schedule,
    integer_counts,
    scenario_schedule,
    trace_schedule,
)
from hrl_autoscaler.tools.loadgen.sinks import FILE_PATTERN, DirectorySink, KafkaSink

FIELDS = {"device_id", "device_type", "event_time", "reading"}


def _events(directory: Path) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in sorted(directory.iterdir()):
        events.extend(json.loads(line) for line in path.read_text().splitlines())
    return events


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- rates, real time --------------------------------------------------------------------------


def test_a_short_real_run_achieves_the_target_rate_in_every_interval(tmp_path: Path) -> None:
    # Half-second ticks: a write may be up to a tick late (a busy machine) and still count.
    schedule = constant_schedule(1500.0, duration_s=3.0, tick_s=0.5)
    factory = EventFactory(7, 200, device_mix(None), 0.01)
    report = run_loadgen(schedule, factory, DirectorySink(tmp_path), report_interval_s=1.0, seed=7)
    assert report.produced_events == report.target_events == 4500
    assert len(report.intervals) == 3
    for interval in report.intervals:
        assert interval.target_eps == pytest.approx(1500.0)
        assert interval.achieved_eps == pytest.approx(1500.0, rel=0.05)
    assert report.on_target_share() == 1.0
    assert 3.0 <= report.wall_s < 3.5
    assert len(_events(tmp_path)) == 4500


def test_a_generator_that_falls_behind_reports_the_shortfall_and_the_lag() -> None:
    """A sink that takes 0.3 s per 0.1 s tick (fake clock): the rate cannot be achieved."""
    now = [0.0]

    class SlowSink:
        name = "slow"

        def write(self, tick: int, epoch_ms: int, lines: Sequence[str]) -> None:
            now[0] += 0.3

        def close(self) -> None:
            return None

    def sleep(seconds: float) -> None:
        now[0] += seconds

    schedule = constant_schedule(100.0, duration_s=3.0, tick_s=0.1)
    report = run_loadgen(
        schedule,
        EventFactory(0, 10, device_mix(None), 0.0),
        SlowSink(),
        report_interval_s=1.0,
        clock=lambda: now[0],
        sleep=sleep,
    )
    assert report.produced_events == 300  # nothing skipped
    assert report.max_lag_s > 5.0
    assert report.achieved_eps == pytest.approx(100.0 / 3, rel=0.05)
    assert report.intervals[0].achieved_eps < 0.5 * report.intervals[0].target_eps
    assert report.on_target_share() < 0.5


def test_stop_ends_the_run_early_and_says_so(tmp_path: Path) -> None:
    stop = threading.Event()
    timer = threading.Timer(0.6, stop.set)
    timer.start()
    report = run_loadgen(
        constant_schedule(100.0, 30.0, 0.2),
        EventFactory(0, 10, device_mix(None), 0.0),
        DirectorySink(tmp_path),
        stop=stop,
    )
    timer.cancel()
    assert report.stopped_early
    assert report.wall_s < 5.0
    assert report.produced_events == report.target_events == len(_events(tmp_path))


# -- files: atomicity and format ----------------------------------------------------------------


def test_files_are_atomic_and_every_line_is_an_agreed_event(tmp_path: Path) -> None:
    """A reader listing the directory while it is written never sees a partial file."""
    sink_dir = tmp_path / "iot"
    seen: dict[str, int] = {}
    errors: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            for entry in os.scandir(sink_dir) if sink_dir.exists() else []:
                if entry.name.startswith(".") or entry.name in seen:
                    continue
                text = Path(entry.path).read_text()
                if not text.endswith("\n"):
                    errors.append(f"{entry.name} seen without its final newline")
                seen[entry.name] = len([json.loads(line) for line in text.splitlines()])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        schedule = constant_schedule(20_000.0, 2.0, 0.1)
        start = 1_795_000_000.0
        report = run_loadgen(
            schedule,
            EventFactory(3, 500, device_mix("smart-hospital"), 0.01),
            DirectorySink(sink_dir),
            start_epoch_s=start,
        )
    finally:
        done.set()
        thread.join()
    assert not errors
    names = sorted(p.name for p in sink_dir.iterdir())
    assert len(names) == 20
    assert all(FILE_PATTERN.match(name) for name in names)  # no temporary file left behind
    for k, name in enumerate(names):
        match = FILE_PATTERN.match(name)
        assert match is not None
        assert int(match.group(1)) == round((start + k * 0.1) * 1000)
        assert int(match.group(2)) == k
        assert seen.get(name, 2000) == 2000  # whatever the reader saw was complete
        lines = (sink_dir / name).read_text().splitlines()
        assert len(lines) == 2000
        for line in lines:
            event = json.loads(line)
            assert set(event) == FIELDS
            assert event["device_type"] in SCENARIO_MIX["smart-hospital"]
            assert event["device_id"].startswith("dev-")
            assert isinstance(event["reading"], float)
            assert start + k * 0.1 - 1e-3 <= _epoch(event["event_time"]) < start + (k + 1) * 0.1
    assert report.produced_events == 40_000


def test_the_same_seed_and_start_time_reproduce_the_stream_byte_for_byte(tmp_path: Path) -> None:
    def run(seed: int, out: Path) -> list[str]:
        code = main(
            [
                "loadgen",
                "--scenario",
                "traffic-sensors",
                "--speed",
                "600",
                "--peak-rate",
                "4000",
                "--duration",
                "1.2",
                "--tick",
                "0.2",
                "--seed",
                str(seed),
                "--start-time",
                "2026-11-22T01:30:00Z",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        assert code == 0
        return [p.read_text() for p in sorted(out.iterdir())]

    first, again = run(11, tmp_path / "a"), run(11, tmp_path / "b")
    other = run(12, tmp_path / "c")
    assert first == again
    assert first != other
    assert len(first) == 6


def test_readings_stay_in_range_and_anomalies_leave_it_at_the_given_rate() -> None:
    factory = EventFactory(5, 1000, device_mix(None), anomaly_rate=0.05)
    devices, _, readings, anomalous = factory.draw(0, 40_000, 0.0, 1.0)
    assert anomalous.mean() == pytest.approx(0.05, abs=0.01)
    types = [factory.types[int(i)] for i in factory.device_type_index[devices]]
    for reading, flag, kind in zip(readings, anomalous, types, strict=True):
        if flag:
            assert kind.anomaly[0] <= reading <= kind.anomaly[1]
        else:
            assert kind.low <= reading <= kind.high
    assert {t.name for t in types} == set(DEVICE_TYPES)


# -- schedules ----------------------------------------------------------------------------------


def test_integer_counts_follow_the_integral_of_the_rate() -> None:
    counts = integer_counts(np.full(100, 0.3), 1.0)
    assert counts.sum() == 30
    assert set(counts.tolist()) <= {0, 1}
    rates = np.array([10.4, 0.0, 7.25, 1000.0])
    assert np.abs(np.cumsum(integer_counts(rates, 0.5)) - np.cumsum(rates * 0.5)).max() < 1.0


def test_scenario_schedule_is_the_simulator_profile_compressed_in_time() -> None:
    schedule = scenario_schedule(
        "smart-metering", duration_s=60.0, tick_s=1.0, seed=4, speed=60.0, peak_rate_eps=3000.0
    )
    # Same profile function, same seeding: the loadgen plays what the simulator evaluates.
    expected = load_profile(
        "smart-metering", 60, 60.0, np.random.default_rng([4, 0x5CE7]), 3000.0, start_s=0.0
    )
    np.testing.assert_allclose(schedule.rates_eps, expected)
    # An hour at 60x: four 15-minute upload waves, each starting high and decaying.
    assert schedule.rates_eps[0] > 2000.0
    assert schedule.rates_eps[15] > 2000.0  # 15 wall s = 900 simulated s: the next wave
    assert schedule.rates_eps[10] < 1000.0
    assert schedule.total_events == pytest.approx(schedule.rates_eps.sum(), abs=1.0)


def test_a_trace_is_followed_tick_by_tick_with_speed_and_peak_scaling(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp,value\n0,600\n60,1800\n120,300\n", encoding="utf-8")
    # Rows are 60 s apart (10, 30, 5 events/s); at speed 30 each lasts 2 wall seconds.
    schedule = trace_schedule(trace, tick_s=0.5, speed=30.0)
    np.testing.assert_allclose(schedule.rates_eps, [10.0] * 4 + [30.0] * 4 + [5.0] * 4)
    assert schedule.duration_s == pytest.approx(6.0)
    scaled = trace_schedule(trace, tick_s=0.5, speed=30.0, peak_rate_eps=900.0)
    np.testing.assert_allclose(scaled.rates_eps, [300.0] * 4 + [900.0] * 4 + [150.0] * 4)
    repeated = trace_schedule(trace, tick_s=0.5, speed=30.0, duration_s=9.0)
    assert repeated.ticks == 18
    np.testing.assert_allclose(repeated.rates_eps[12:], [10.0] * 4 + [30.0] * 2)


def test_a_trace_replay_writes_what_the_trace_says(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp,value\n0,2000\n10,6000\n20,1000\n", encoding="utf-8")
    out, report_path = tmp_path / "out", tmp_path / "report.json"
    code = main(
        [
            "loadgen",
            "--trace",
            str(trace),
            "--speed",
            "10",
            "--tick",
            "0.5",
            "--report-interval",
            "1",
            "--out",
            str(out),
            "--json",
            str(report_path),
            "--quiet",
        ]
    )
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["schema"] == "hrl-autoscaler/loadgen-report/v1"
    # 10 s rows of 200, 600 and 100 events/s, each played in 1 wall second at the same rates.
    assert report["produced_events"] == 900 == len(_events(out))
    targets = [iv["target_eps"] for iv in report["intervals"]]
    assert targets == pytest.approx([200.0, 600.0, 100.0])
    for iv in report["intervals"]:
        assert iv["achieved_eps"] == pytest.approx(iv["target_eps"], rel=0.05)


# -- Kafka and Prometheus -----------------------------------------------------------------------


class FakeProducer:
    """Records what a kafka-python ``KafkaProducer`` would have sent."""

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.flushes = 0
        self.closed = False

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> None:
        self.sent.append((topic, value, key))

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def test_kafka_sink_sends_one_record_per_event_keyed_by_device() -> None:
    producers: list[FakeProducer] = []

    def factory(**config: Any) -> FakeProducer:
        producers.append(FakeProducer(**config))
        return producers[-1]

    sink = KafkaSink("127.0.0.1:9092,127.0.0.2:9092", "iot-events", producer_factory=factory)
    report = run_loadgen(
        constant_schedule(400.0, 1.0, 0.25),
        EventFactory(1, 50, device_mix("flash-crowd"), 0.0),
        sink,
    )
    producer = producers[0]
    assert producer.config["bootstrap_servers"] == ["127.0.0.1:9092", "127.0.0.2:9092"]
    assert producer.config["acks"] == 1
    assert len(producer.sent) == report.produced_events == 400
    assert producer.flushes == 4 + 1  # once per tick, once on close
    assert producer.closed
    for topic, value, key in producer.sent:
        assert topic == "iot-events"
        assert value is not None
        assert key is not None
        assert json.loads(value)["device_id"] == key.decode()


def test_kafka_without_the_client_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "kafka", None)
    with pytest.raises(ValueError, match=r"--kafka-bootstrap needs the Kafka client.*kafka-python"):
        KafkaSink("127.0.0.1:9092", "iot")


def test_the_prometheus_counter_counts_produced_events(tmp_path: Path) -> None:
    counter = EventCounter(0, "rate", "directory", host="127.0.0.1")
    try:
        report = run_loadgen(
            constant_schedule(300.0, 1.0, 0.5),
            EventFactory(0, 10, device_mix(None), 0.0),
            DirectorySink(tmp_path),
            counter=counter,
        )
        text = httpx.get(f"http://127.0.0.1:{counter.port}/metrics", timeout=5).text
    finally:
        counter.close()
    line = next(x for x in text.splitlines() if x.startswith("hrl_loadgen_events_total{"))
    assert float(line.split()[-1]) == report.produced_events == 300
    assert 'hrl_loadgen_target_rate_eps{sink="directory",source="rate"} 300.0' in text


# -- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "-5", "--out", "D"], "argument --rate: must be a finite number > 0"),
        (["--rate", "lots", "--out", "D"], "argument --rate: 'lots' is not a number"),
        (["--rate", "10", "--speed", "0", "--out", "D"], "argument --speed: must be"),
        (["--rate", "10", "--devices", "0", "--out", "D"], "argument --devices: must be"),
        (["--rate", "10", "--tick", "nan", "--out", "D"], "argument --tick: must be"),
        (["--rate", "10", "--metrics-port", "70000", "--out", "D"], "argument --metrics-port"),
        (["--rate", "10", "--start-time", "soon", "--out", "D"], "argument --start-time"),
        (["--rate", "10", "--scenario", "steady", "--out", "D"], "not allowed with argument"),
        (["--scenario", "smart-city", "--out", "D"], "argument --scenario: invalid choice"),
        (["--out", "D"], "one of the arguments --rate --scenario --trace is required"),
    ],
)
def test_bad_options_are_rejected_naming_the_option(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["loadgen", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "10"], "give exactly one sink: --out DIR"),
        (["--rate", "10", "--out", "{tmp}/d", "--kafka-topic", "t"], "give exactly one sink"),
        (["--rate", "10", "--kafka-topic", "t"], "--kafka-topic needs --kafka-bootstrap"),
        (["--rate", "10", "--kafka-bootstrap", "h:1"], "--kafka-bootstrap needs --kafka-topic"),
        (["--rate", "10", "--kafka-bootstrap", "nohost", "--kafka-topic", "t"], "HOST:PORT"),
        (["--rate", "10", "--kafka-bootstrap", "h:1", "--kafka-topic", "a b"], "--kafka-topic"),
        (["--rate", "10", "--peak-rate", "5", "--out", "{tmp}/d"], "--peak-rate does not apply"),
        (["--rate", "10", "--speed", "60", "--out", "{tmp}/d"], "--speed does not apply"),
        (["--rate", "10", "--start-at", "3600", "--out", "{tmp}/d"], "--start-at applies to"),
        (["--rate", "10", "--anomaly-rate", "2", "--out", "{tmp}/d"], "--anomaly-rate must be"),
        (["--trace", "{tmp}/missing.csv", "--out", "{tmp}/d"], "cannot open trace"),
        (["--rate", "10", "--out", "{tmp}/file.txt"], "--out: "),
    ],
)
def test_inconsistent_options_fail_with_one_clear_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file.txt").write_text("not a directory")
    code = main(["loadgen", *[a.replace("{tmp}", str(tmp_path)) for a in argv], "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert message in err.replace("\n", " ")
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())
