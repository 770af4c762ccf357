"""The IoT job starts its query again after Spark 4.1.1's replay failure, and only after it.

A fake query stands in for Spark's (no JVM): what is tested is the job's decision, restart
or exit, on the failures a real query reports. The real replay runs in the spark-k8s
restart-actuation test (tests/e2e/test_spark_k8s_autoscaled.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pyspark.errors import StreamingQueryException

from hrl_autoscaler.tools.spark import iot_job
from hrl_autoscaler.tools.spark.iot_options import IotJobOptions

REPLAYED = (
    "[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: Cannot invoke "
    '"scala.collection.IterableOps.map(scala.Function1)" because the return value of '
    '"scala.Option.get()" is null SQLSTATE: XXKST'
)


@dataclass
class FakeQuery:
    failure: str | None
    id: str = "query-1"
    recentProgress: list[Any] = field(default_factory=list)  # noqa: N815 (Spark's name)

    def awaitTermination(self, _timeout_s: float) -> bool:  # noqa: N802 (Spark's name)
        """As Spark's: a failed query raises its failure, a stopped one returns True."""
        if self.failure is not None:
            raise StreamingQueryException(message=self.failure)
        return True

    def exception(self) -> str | None:
        return self.failure


@dataclass
class FakeContext:
    applicationId: str = "app-1"  # noqa: N815
    appName: str = "iot"  # noqa: N815
    uiWebUrl: str = "http://driver:4040"  # noqa: N815


@dataclass
class FakeSession:
    sparkContext: FakeContext = field(default_factory=FakeContext)  # noqa: N815


def _run(
    monkeypatch: pytest.MonkeyPatch, failures: list[str | None], options: IotJobOptions
) -> tuple[int, int]:
    """Run the job's query loop over queries failing as listed; (exit code, queries started)."""
    started: list[FakeQuery] = []

    def start_query(_spark: Any, _options: IotJobOptions) -> FakeQuery:
        started.append(FakeQuery(failures[len(started)]))
        return started[-1]

    monkeypatch.setattr(iot_job, "start_query", start_query)
    code = iot_job._run_query(FakeSession(), options, [], None, None)  # type: ignore[arg-type]
    return code, len(started)


def _kafka(tmp_path: Path) -> IotJobOptions:
    return IotJobOptions(
        source="kafka",
        kafka_bootstrap="127.0.0.1:9092",
        kafka_topic="iot-events",
        checkpoint_dir=tmp_path / "checkpoint",
        status_file=tmp_path / "status.json",
    )


def test_the_replay_failure_starts_the_query_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _run(monkeypatch, [REPLAYED, None], _kafka(tmp_path)) == (0, 2)
    assert (tmp_path / "status.json").is_file()


def test_a_replay_failure_that_keeps_coming_back_ends_the_job(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    failures: list[str | None] = [REPLAYED] * (iot_job.REPLAY_RESTARTS + 1)
    assert _run(monkeypatch, failures, _kafka(tmp_path)) == (1, iot_job.REPLAY_RESTARTS + 1)


def test_any_other_failure_ends_the_job_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = "terminated with exception: Partition iot-events-0's offset was changed"
    assert _run(monkeypatch, [other, None], _kafka(tmp_path)) == (1, 1)


def test_without_kafka_the_same_message_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    options = IotJobOptions(input_dir=tmp_path / "in", checkpoint_dir=tmp_path / "checkpoint")
    assert _run(monkeypatch, [REPLAYED, None], options) == (1, 1)
