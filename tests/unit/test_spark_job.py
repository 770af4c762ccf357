"""The IoT job's options and Spark settings, and the standalone cluster's error messages.

No JVM runs here: the options are plain data, and the cluster's failures are provoked with a
fake ``spark-class`` that dies or hangs the way a broken installation does.
"""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hrl_autoscaler.tools.devenv.processes import PortInUseError, ProcessExitedError
from hrl_autoscaler.tools.spark.iot_job import options_from_args
from hrl_autoscaler.tools.spark.iot_options import IotJobOptions
from hrl_autoscaler.tools.spark.iot_query import METRICS_NAMESPACE, QUERY_NAME, spark_conf
from hrl_autoscaler.tools.spark.spark_setup import SparkSetupError, check_java
from hrl_autoscaler.tools.spark.standalone import (
    ClusterNotReadyError,
    StandaloneCluster,
    _memory_mb,
)

# -- the job's options ---------------------------------------------------------------------


def test_options_survive_the_command_line(tmp_path: Path) -> None:
    options = IotJobOptions(
        input_dir=tmp_path / "in",
        max_files_per_trigger=3,
        trigger_s=1.5,
        work_factor=500,
        sink="parquet",
        output_dir=tmp_path / "out",
        checkpoint_dir=tmp_path / "ckpt",
        master="spark://127.0.0.1:7077",
        ui_port=4041,
        conf={"spark.executor.memory": "512m", "spark.x": "a=b"},
        agent="file",
        agent_target_file=tmp_path / "target",
        max_executors=4,
        initial_executors=2,
    )
    assert options_from_args(options.to_argv()) == options


def test_defaults_give_an_empty_command_line(tmp_path: Path) -> None:
    options = IotJobOptions(input_dir=tmp_path)
    assert options.to_argv() == ["--input-dir", str(tmp_path)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "input_dir"),
        ({"source": "kafka"}, "kafka_bootstrap"),
        ({"input_dir": Path("/in"), "sink": "parquet"}, "output_dir and checkpoint_dir"),
        ({"input_dir": Path("/in"), "work_factor": -1}, "work_factor"),
    ],
)
def test_inconsistent_options_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IotJobOptions(**kwargs)  # type: ignore[arg-type]


def test_a_bad_command_line_exits_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        options_from_args(["--sink", "parquet", "--input-dir", "/in"])
    assert "output_dir and checkpoint_dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        options_from_args(["--input-dir", "/in", "--conf", "novalue"])
    assert "KEY=VALUE" in capsys.readouterr().err


def test_spark_settings_serve_the_metrics_the_operator_reads(tmp_path: Path) -> None:
    conf = spark_conf(IotJobOptions(input_dir=tmp_path))
    assert conf["spark.sql.streaming.metricsEnabled"] == "true"
    assert conf["spark.metrics.namespace"] == METRICS_NAMESPACE == "spark"
    assert conf["spark.ui.prometheus.enabled"] == "true"
    assert conf["spark.metrics.conf.*.sink.prometheusServlet.path"] == "/metrics/prometheus"
    assert conf["spark.dynamicAllocation.enabled"] == "false"
    assert QUERY_NAME == "iot"
    assert "spark.cores.max" not in conf


def test_on_a_standalone_master_the_agent_gets_cores_for_its_maximum(tmp_path: Path) -> None:
    options = IotJobOptions(
        input_dir=tmp_path,
        agent="file",
        agent_target_file=tmp_path / "t",
        max_executors=4,
        conf={"spark.executor.cores": "2"},
    )
    assert spark_conf(options, "spark://127.0.0.1:7077")["spark.cores.max"] == "8"
    assert "spark.cores.max" not in spark_conf(options, "k8s://https://api:6443")
    # a user's own setting wins
    mine = IotJobOptions(**{**options.__dict__, "conf": {"spark.cores.max": "3"}})
    assert spark_conf(mine, "spark://127.0.0.1:7077")["spark.cores.max"] == "3"


def test_user_settings_come_last(tmp_path: Path) -> None:
    options = IotJobOptions(input_dir=tmp_path, conf={"spark.sql.shuffle.partitions": "16"})
    assert spark_conf(options)["spark.sql.shuffle.partitions"] == "16"


# -- the standalone cluster's errors -------------------------------------------------------


def test_memory_sizes() -> None:
    assert _memory_mb("512m") == 512
    assert _memory_mb("4g") == 4096
    assert _memory_mb("2048") == 2048
    with pytest.raises(ValueError, match="like 512m"):
        _memory_mb("lots")


def test_no_java_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkSetupError, match="Java 17"):
        check_java()


def test_an_old_java_is_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    java = _script(tmp_path / "bin" / "java", "echo 'openjdk version \"1.8.0_392\"' >&2")
    monkeypatch.setenv("JAVA_HOME", str(java.parent.parent))
    with pytest.raises(SparkSetupError, match="Java 8; Spark 4 needs Java 17"):
        check_java()


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _fake_spark_home(tmp_path: Path, body: str) -> Path:
    home = tmp_path / "spark"
    _script(home / "bin" / "spark-class", body)
    return home


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_names_the_component(tmp_path: Path, taken_port: int) -> None:
    home = _fake_spark_home(tmp_path, "sleep 60")
    cluster = StandaloneCluster(tmp_path / "c", master_port=taken_port, spark_home=home)
    with pytest.raises(PortInUseError, match=rf"{taken_port}.*Spark master \(--port\)"):
        cluster.start()


def test_a_daemon_that_dies_shows_its_log(tmp_path: Path) -> None:
    home = _fake_spark_home(tmp_path, 'echo "Error: Could not bind to 127.0.0.1"; exit 1')
    cluster = StandaloneCluster(tmp_path / "c", spark_home=home)
    with pytest.raises(ProcessExitedError, match="Could not bind") as info:
        cluster.start()
    assert "spark-master exited" in str(info.value)
    assert cluster.master is not None
    assert not cluster.master.alive()


def test_a_worker_that_never_registers_times_out_with_both_logs(tmp_path: Path) -> None:
    # a master that answers /json/ as ALIVE (so the worker is started) but never gets a worker
    body = (
        'case "$1" in *Master) exec python3 -c "'
        "import http.server, sys, json; port = int(sys.argv[sys.argv.index('--webui-port') + 1]);"
        "H = type('H', (http.server.BaseHTTPRequestHandler,), {'do_GET': lambda s: "
        "(s.send_response(200), s.end_headers(), s.wfile.write(json.dumps({'status': 'ALIVE', "
        "'aliveworkers': 0, 'cores': 0}).encode())), 'log_message': lambda *a: None});"
        "print('master up', flush=True);"
        "http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()"
        '" "$@";; *) echo "worker: cannot connect to master"; exec sleep 60;; esac'
    )
    home = _fake_spark_home(tmp_path, body)
    cluster = StandaloneCluster(tmp_path / "c", spark_home=home, ready_timeout_s=3.0)
    with pytest.raises(ClusterNotReadyError) as info:
        cluster.start()
    message = str(info.value)
    assert "waiting for the worker (4 cores, 3g) to register" in message
    assert "worker: cannot connect to master" in message
    assert "master up" in message
    assert cluster.worker is not None
    assert not cluster.worker.alive()  # stopped on the way out
    assert cluster.master is not None
    assert not cluster.master.alive()


def test_spark_home_without_spark_class_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARK_HOME", str(tmp_path))
    with pytest.raises(SparkSetupError, match="not a Spark installation"):
        StandaloneCluster(tmp_path / "c").start()
