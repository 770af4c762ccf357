"""Kafka lag without a broker: the arithmetic, the reader over a fake admin client, the
exporter's behaviour when Kafka fails, the Spark-side committer, and their settings/errors.

The same code against a real broker is in tests/e2e/test_kafka.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from prometheus_client import generate_latest

from hrl_autoscaler.cli import main
from hrl_autoscaler.tools.devenv.kafka import jars
from hrl_autoscaler.tools.devenv.kafka.broker import KafkaSettings, server_properties
from hrl_autoscaler.tools.kafka_lag.committer import OffsetCommitter, kafka_end_offsets
from hrl_autoscaler.tools.kafka_lag.exporter import build_registry
from hrl_autoscaler.tools.kafka_lag.lag import TopicLag, all_lags, group_topic_lags
from hrl_autoscaler.tools.kafka_lag.reader import read_snapshot
from hrl_autoscaler.tools.spark import iot_job
from hrl_autoscaler.tools.spark.iot_options import IotJobOptions

# -- the arithmetic ---------------------------------------------------------------------------


def test_lag_is_end_minus_committed_summed_per_topic() -> None:
    committed: dict[tuple[str, int], int | None] = {("a", 0): 5, ("a", 1): 7, ("b", 0): 1}
    ends = {("a", 0): 10, ("a", 1): 7, ("b", 0): 4, ("b", 1): 3, ("c", 0): 99}
    assert group_topic_lags("g", committed, ends) == [
        TopicLag("g", "a", lag=5, offset=12, partitions=2, uncommitted=0),
        # b/1 has no commit: its whole log (3) is lag
        TopicLag("g", "b", lag=3 + 3, offset=1, partitions=2, uncommitted=1),
    ]


def test_lag_never_negative_and_minus_one_means_no_commit() -> None:
    lags = group_topic_lags("g", {("t", 0): 12, ("t", 1): -1}, {("t", 0): 10, ("t", 1): 4})
    assert lags == [TopicLag("g", "t", lag=0 + 4, offset=12, partitions=2, uncommitted=1)]


def test_topic_without_end_offsets_is_skipped_and_groups_are_sorted() -> None:
    lags = all_lags({"z": {("t", 0): 1}, "a": {("gone", 0): 3, ("t", 0): 0}}, {("t", 0): 2})
    assert [(x.group, x.topic, x.lag) for x in lags] == [("a", "t", 2), ("z", "t", 1)]


# -- the reader and the exporter over a fake admin client --------------------------------------


class TP(NamedTuple):
    topic: str
    partition: int


class Meta(NamedTuple):
    offset: int
    metadata: str = ""
    leader_epoch: int = -1


class FakeAdmin:
    """The four admin calls the reader makes, over fixed data; ``fail`` makes each raise."""

    def __init__(self, ends: dict[tuple[str, int], int], groups: dict[str, dict[TP, int]]):
        self.ends = ends
        self.groups = groups
        self.fail = False
        self.closed = False
        self.offset_requests: list[Any] = []

    def _check(self) -> None:
        if self.fail:
            raise ConnectionError("broker down")

    def list_groups(self) -> list[dict[str, Any]]:
        self._check()
        return [{"group_id": g, "group_type": "classic"} for g in self.groups] + [
            {"group_id": "shared", "group_type": "share"}
        ]

    def list_group_offsets(self, group_specs: dict[str, Any]) -> dict[str, dict[Any, Any]]:
        self._check()
        return {g: {tp: Meta(o) for tp, o in self.groups.get(g, {}).items()} for g in group_specs}

    def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        self._check()
        names = sorted({t for t, _ in self.ends})
        return [
            {
                "name": t,
                "error_code": 0,
                "partitions": [{"partition_index": p} for tt, p in self.ends if tt == t],
            }
            for t in names
            if topics is None or t in topics
        ]

    def list_partition_offsets(self, topic_partition_specs: dict[Any, Any]) -> dict[Any, Any]:
        self._check()
        self.offset_requests.append(sorted(topic_partition_specs))
        return {tp: Meta(self.ends[(tp[0], tp[1])]) for tp in topic_partition_specs}

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def admin() -> FakeAdmin:
    return FakeAdmin(
        ends={("iot", 0): 100, ("iot", 1): 50, ("other", 0): 9},
        groups={"iot-stream": {TP("iot", 0): 90, TP("iot", 1): 50}, "idle": {}},
    )


def test_read_snapshot_every_group_and_only_their_topics(admin: FakeAdmin) -> None:
    snapshot = read_snapshot(admin)
    assert [(x.group, x.topic, x.lag, x.offset) for x in snapshot.lags] == [
        ("iot-stream", "iot", 10, 140)
    ]
    assert snapshot.end_offsets == {("iot", 0): 100, ("iot", 1): 50}
    assert admin.offset_requests == [[("iot", 0), ("iot", 1)]]  # "other" never asked


def test_read_snapshot_named_group_without_commits_is_empty(admin: FakeAdmin) -> None:
    assert read_snapshot(admin, ["idle"]).lags == []


def _scrape(registry: Any) -> dict[str, float]:
    values = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def test_exporter_series_with_namespace(admin: FakeAdmin) -> None:
    registry, _ = build_registry(lambda: admin, namespace="spark-apps")
    values = _scrape(registry)
    assert (
        values[
            'kafka_consumergroup_group_lag{group="iot-stream",namespace="spark-apps",topic="iot"}'
        ]
        == 10
    )
    assert (
        values[
            'kafka_consumergroup_group_offset{group="iot-stream",namespace="spark-apps",topic="iot"}'
        ]
        == 140
    )
    assert values['kafka_topic_partition_high_water_mark{partition="1",topic="iot"}'] == 50
    assert values["kafka_lag_exporter_up"] == 1
    assert values["kafka_lag_exporter_errors_total"] == 0


def test_exporter_drops_lag_when_kafka_fails_and_recovers(admin: FakeAdmin) -> None:
    made: list[FakeAdmin] = []

    def factory() -> FakeAdmin:
        made.append(admin)
        return admin

    registry, collector = build_registry(factory)
    assert any(k.startswith("kafka_consumergroup_group_lag") for k in _scrape(registry))
    admin.fail = True
    down = _scrape(registry)
    assert not any(k.startswith("kafka_consumergroup") for k in down), down
    assert down["kafka_lag_exporter_up"] == 0
    assert down["kafka_lag_exporter_errors_total"] == 1
    assert admin.closed
    assert collector.last_error == "ConnectionError: broker down"
    admin.fail = False
    again = _scrape(registry)
    assert again["kafka_lag_exporter_up"] == 1
    assert again["kafka_lag_exporter_errors_total"] == 1
    assert len(made) == 2  # a new client after the failure


def test_exporter_command_rejects_bad_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["kafka-lag-exporter", "--bootstrap", "no-port", "--port", "1"])
    assert "--bootstrap: must be HOST:PORT" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["kafka-lag-exporter", "--bootstrap", "h:1", "--group", "bad group"])
    assert "--group: must be 1-249 letters" in capsys.readouterr().err


# -- the committer -----------------------------------------------------------------------------


def _progress(batch: int, end: Any, description: str = "KafkaV2[Subscribe[iot]]") -> dict[str, Any]:
    return {"batchId": batch, "sources": [{"description": description, "endOffset": end}]}


def test_end_offsets_from_progress_object_or_string() -> None:
    as_object = _progress(3, {"iot": {"0": 12, "1": 7}})
    as_text = _progress(3, json.dumps({"iot": {"0": 12, "1": 7}}))
    assert (
        kafka_end_offsets(as_object)
        == kafka_end_offsets(as_text)
        == {
            ("iot", 0): 12,
            ("iot", 1): 7,
        }
    )
    assert kafka_end_offsets(_progress(1, {"logOffset": 4}, "FileStreamSource[x]")) == {}
    assert kafka_end_offsets(_progress(1, {"iot": {"0": -2}})) == {}
    assert kafka_end_offsets({"batchId": 0}) == {}


class CommitAdmin:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[Any, Any]]] = []
        self.fail = False
        self.closed = 0

    def alter_group_offsets(self, group: str, offsets: dict[Any, Any]) -> dict[Any, Any]:
        if self.fail:
            raise ConnectionError("coordinator not available")
        self.calls.append((group, offsets))
        no_error = type("NoError", (), {})
        return dict.fromkeys(offsets, no_error)

    def close(self) -> None:
        self.closed += 1


def test_committer_commits_changes_once_and_survives_failures() -> None:
    admin = CommitAdmin()
    committer = OffsetCommitter("iot-stream", lambda: admin)
    assert committer.commit(_progress(0, {"iot": {"0": 5}}))
    assert not committer.commit(_progress(1, {"iot": {"0": 5}}))  # same offsets: skipped
    admin.fail = True
    assert not committer.commit(_progress(2, {"iot": {"0": 9}}))
    assert committer.failures == 1
    assert admin.closed == 1
    admin.fail = False
    assert committer.commit(_progress(3, {"iot": {"0": 9}}))
    assert committer.commits == 2
    (group, offsets), _ = admin.calls[-1], None
    assert group == "iot-stream"
    assert [(tp.topic, tp.partition, meta.offset) for tp, meta in offsets.items()] == [
        ("iot", 0, 9)
    ]


class FakeQuery:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.recentProgress = [type("P", (), {"json": json.dumps(r)})() for r in records]


def _entry(batch: int, second: int, offset: int, rows: int) -> dict[str, Any]:
    entry = _progress(batch, {"iot": {"0": offset}})
    entry["timestamp"] = f"2026-01-01T00:00:{second:02d}.000Z"
    entry["numInputRows"] = rows
    return entry


def test_job_commits_the_newest_entry_and_writes_every_new_one(tmp_path: Path) -> None:
    admin = CommitAdmin()
    committer = OffsetCommitter("g", lambda: admin)
    path = tmp_path / "progress.jsonl"
    entries = [_entry(0, 1, 10, 10), _entry(1, 2, 20, 10)]
    seen = iot_job._record_progress(FakeQuery(entries), path, "", committer)  # type: ignore[arg-type]
    assert seen == "2026-01-01T00:00:02.000Z"
    assert len(admin.calls) == 1
    assert [m.offset for m in admin.calls[0][1].values()] == [20]
    # an idle trigger reports batch 2 with no rows; batch 2 then runs: both are written
    entries.append(_entry(2, 12, 20, 0))
    seen = iot_job._record_progress(FakeQuery(entries), path, seen, committer)  # type: ignore[arg-type]
    entries.append(_entry(2, 14, 35, 15))
    seen = iot_job._record_progress(FakeQuery(entries), path, seen, committer)  # type: ignore[arg-type]
    written = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(e["batchId"], e["numInputRows"]) for e in written] == [
        (0, 10),
        (1, 10),
        (2, 0),
        (2, 15),
    ]
    assert [m.offset for _, offsets in admin.calls for m in offsets.values()] == [20, 35]
    # nothing new: no write, no commit
    assert iot_job._record_progress(FakeQuery(entries), path, seen, committer) == seen  # type: ignore[arg-type]
    assert len(path.read_text().splitlines()) == 4
    assert len(admin.calls) == 2


# -- options and settings ----------------------------------------------------------------------


def test_job_options_kafka_group_and_starting_offsets() -> None:
    options = iot_job.options_from_args(
        ["--source", "kafka", "--kafka-bootstrap", "h:1", "--kafka-starting-offsets", "earliest"]
    )
    assert options.commit_group == "iot-stream"
    assert options.kafka_starting_offsets == "earliest"
    assert "--kafka-starting-offsets" in options.to_argv()
    named = IotJobOptions(source="kafka", kafka_bootstrap="h:1", kafka_group="grp")
    assert named.commit_group == "grp"
    with pytest.raises(ValueError, match="kafka_starting_offsets"):
        IotJobOptions(source="kafka", kafka_bootstrap="h:1", kafka_starting_offsets="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kafka_group"):
        IotJobOptions(source="kafka", kafka_bootstrap="h:1", kafka_group=" ")


def test_kafka_settings_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="advertised_host is required"):
        KafkaSettings(listen_host="0.0.0.0")  # noqa: S104
    with pytest.raises(ValueError, match=r"KafkaSettings\.port"):
        KafkaSettings(port=70000)
    with pytest.raises(ValueError, match=r"KafkaSettings\.num_partitions"):
        KafkaSettings(num_partitions=0)
    with pytest.raises(ValueError, match=r"KafkaDistribution\.version"):
        jars.KafkaDistribution(version="latest")


def test_server_properties_bind_and_advertise_apart(tmp_path: Path) -> None:
    settings = KafkaSettings(listen_host="0.0.0.0", advertised_host="10.1.2.3")  # noqa: S104
    props = server_properties(settings, 9092, 9093, tmp_path)
    assert props["listeners"] == "PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://10.1.2.3:9092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"


# -- the jars ----------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HRL_AUTOSCALER_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_cached_jars_cost_no_maven(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = jars.KafkaDistribution()
    libs = dist.libs_dir()
    libs.mkdir(parents=True)
    (libs / f"kafka_{dist.scala}-{dist.version}.jar").write_bytes(b"")
    monkeypatch.setattr(jars.shutil, "which", lambda _name: pytest.fail("looked for a tool"))
    assert jars.ensure_kafka_libs(dist) == libs
    assert str(libs).startswith(str(cache))


def test_missing_maven_is_a_clear_error(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        jars.shutil, "which", lambda name: "/usr/bin/java" if name == "java" else None
    )
    with pytest.raises(jars.KafkaJarsError, match="needs Maven on PATH"):
        jars.ensure_kafka_libs()
    monkeypatch.setattr(jars.shutil, "which", lambda _name: None)
    with pytest.raises(jars.KafkaJarsError, match="needs Java 17"):
        jars.ensure_kafka_libs()


def test_maven_refusal_leaves_no_partial_libs(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_mvn = cache / "mvn"
    fake_mvn.write_text("#!/bin/sh\necho 'Could not transfer artifact' >&2\nexit 1\n")
    fake_mvn.chmod(0o755)
    monkeypatch.setattr(
        jars.shutil, "which", lambda name: str(fake_mvn) if name == "mvn" else "/usr/bin/java"
    )
    with pytest.raises(jars.KafkaJarsError, match="Could not transfer artifact"):
        jars.ensure_kafka_libs()
    assert not jars.KafkaDistribution().libs_dir().exists()


def test_pom_names_the_broker_and_the_log_binding() -> None:
    pom = jars.KafkaDistribution().pom()
    assert "<artifactId>kafka_2.13</artifactId><version>4.1.1</version>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
