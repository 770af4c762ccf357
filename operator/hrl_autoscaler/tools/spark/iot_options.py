"""The IoT job's options (:class:`IotJobOptions`): what :mod:`.iot_job` can be told, as data and
as a command line. Plain data: no pyspark, so launchers and tests use it without a JVM."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from hrl_autoscaler.config import ExecutorAgentSettings

Sink = Literal["noop", "console", "memory", "parquet"]
Source = Literal["directory", "kafka"]
AgentSource = Literal["none", "annotation", "file"]
StartingOffsets = Literal["latest", "earliest"]


@dataclass(frozen=True)
class IotJobOptions:
    """Everything the job can be told; :meth:`to_argv` gives the matching command line."""

    source: Source = "directory"
    input_dir: Path | None = None
    """Directory of ``*.jsonl`` event files (``source=directory``)."""
    kafka_bootstrap: str | None = None
    kafka_topic: str = "iot-events"
    kafka_starting_offsets: StartingOffsets = "latest"
    """Where a new query (no checkpoint) starts on the topic: ``latest`` skips what was
    produced before it (a job that cannot catch up on history), ``earliest`` reads it all (a
    test that counts every event). A checkpoint, when there is one, always wins."""
    kafka_group: str | None = None
    """Consumer group the driver commits each batch's end offsets to, so lag tools see the
    job's progress (Spark itself never commits); None = ``app_name``, which is what the
    operator's backlog query groups by."""
    max_files_per_trigger: int | None = None
    """Cap on files per micro-batch; None = all new files (the input rate follows the load)."""
    max_offsets_per_trigger: int | None = None
    """Cap on Kafka records per micro-batch; None = all available."""
    trigger_s: float = 2.0
    """Micro-batch interval, s. The simulator's latency model assumes a trigger of ~1-2 s."""
    window_s: int = 10
    watermark_s: int = 30
    """Event-time lateness tolerated before a window is final (and its state dropped)."""
    work_factor: int = 2000
    """CPU work per event, in iterations of a small floating-point expression (about 0.07 us
    each here): 0 = parsing and aggregation only, 2000 = about 150 us per event."""
    input_partitions: int = 8
    """Minimum tasks that read (and do the per-event work of) each micro-batch. Spark packs
    small files into as few tasks as it has cores, and a 1 s tick's file is small, so without
    this a batch of three files is two tasks and a third or fourth executor has nothing to do:
    the job would not scale. Files are split by bytes (``spark.sql.files.minPartitionNum``
    with a small ``openCostInBytes``), Kafka by ``minPartitions``."""
    shuffle_partitions: int = 4
    """``spark.sql.shuffle.partitions``: the state store has one instance per partition, and
    Spark's default of 200 would dominate small batches on small clusters."""
    sink: Sink = "noop"
    output_dir: Path | None = None
    """Where ``sink=parquet`` writes."""
    checkpoint_dir: Path | None = None
    """Checkpoint location; None = a temporary one (not allowed for ``parquet``)."""
    app_name: str = "iot-stream"
    master: str | None = None
    """``spark.master``; None = what ``spark-submit`` or the environment says."""
    ui_port: int | None = None
    """Driver UI port (the metrics endpoints); None = Spark's default (4040, or the next free)."""
    conf: Mapping[str, str] = field(default_factory=dict)
    """Extra Spark settings (``--conf KEY=VALUE``), applied last."""
    run_seconds: float | None = None
    """Stop after this many seconds; None = until terminated (SIGTERM stops gracefully)."""
    status_file: Path | None = None
    """Written (JSON: application id, UI URL, agent metrics port) once the query runs."""
    progress_file: Path | None = None
    """Each micro-batch's progress appended as one JSON line (the calibration reads it)."""
    agent: AgentSource = "none"
    """Start the in-place executor agent with its target from the SparkApplication's
    annotation or from ``agent_target_file``."""
    agent_namespace: str | None = None
    agent_name: str | None = None
    agent_kubeconfig: Path | None = None
    agent_target_file: Path | None = None
    agent_poll_interval_s: float | None = None
    agent_metrics_port: int | None = None
    min_executors: int | None = None
    max_executors: int | None = None
    initial_executors: int | None = None

    def __post_init__(self) -> None:
        if self.source == "directory" and self.input_dir is None:
            raise ValueError("source=directory needs input_dir (--input-dir)")
        if self.source == "kafka" and not self.kafka_bootstrap:
            raise ValueError("source=kafka needs kafka_bootstrap (--kafka-bootstrap)")
        if self.kafka_starting_offsets not in ("latest", "earliest"):
            raise ValueError(
                "kafka_starting_offsets (--kafka-starting-offsets) must be latest or earliest, "
                f"got {self.kafka_starting_offsets!r}"
            )
        if self.kafka_group is not None and not self.kafka_group.strip():
            raise ValueError("kafka_group (--kafka-group) must not be empty")
        if self.sink == "parquet" and (self.output_dir is None or self.checkpoint_dir is None):
            raise ValueError("sink=parquet needs output_dir and checkpoint_dir")
        if self.input_partitions < 1 or self.shuffle_partitions < 1:
            raise ValueError("input_partitions and shuffle_partitions must be >= 1")
        if self.work_factor < 0:
            raise ValueError(f"work_factor must be >= 0, got {self.work_factor}")
        if self.trigger_s <= 0 or self.window_s <= 0 or self.watermark_s < 0:
            raise ValueError("trigger_s and window_s must be > 0, watermark_s >= 0")

    @property
    def commit_group(self) -> str:
        """The consumer group the job's Kafka progress is committed under."""
        return self.kafka_group or self.app_name

    def agent_settings(self) -> ExecutorAgentSettings:
        """The agent's settings: these options over ``HRL_AUTOSCALER_AGENT_*`` variables."""
        from hrl_autoscaler.config import ExecutorAgentSettings

        given: dict[str, Any] = {
            "source": self.agent,
            "namespace": self.agent_namespace,
            "name": self.agent_name,
            "kubeconfig": self.agent_kubeconfig,
            "target_file": self.agent_target_file,
            "poll_interval_s": self.agent_poll_interval_s,
            "metrics_port": self.agent_metrics_port,
            "min_executors": self.min_executors,
            "max_executors": self.max_executors,
            "initial_executors": self.initial_executors,
        }
        return ExecutorAgentSettings(**{k: v for k, v in given.items() if v is not None})

    def to_argv(self) -> list[str]:
        """The command-line flags that reproduce these options (for launchers)."""
        argv: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "conf":
                for key, item in value.items():
                    argv += ["--conf", f"{key}={item}"]
            elif value is not None and value != f.default:
                argv += ["--" + f.name.replace("_", "-"), str(value)]
        return argv


__all__ = ["AgentSource", "IotJobOptions", "Sink", "Source", "StartingOffsets"]
