"""Start and stop leave nothing behind, in-process and through `dev up/status/down`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client

import hrl_autoscaler.tools.devenv
from hrl_autoscaler.tools.devenv.binaries import ensure_binaries
from hrl_autoscaler.tools.devenv.controlplane import api_client_from, close_api_client
from hrl_autoscaler.tools.devenv.crds import project_crd_dir
from hrl_autoscaler.tools.devenv.processes import ProcessRecord
from hrl_autoscaler.tools.devenv.session import STATE_FILE, DevEnv
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle, assert_stopped, pid_gone

pytestmark = [pytest.mark.e2e, pytest.mark.localcp]

CRD_NAME = "sparkapplications.sparkoperator.k8s.io"


def test_context_manager_stops_everything(tmp_path: Path) -> None:
    crds = project_crd_dir()
    assert crds is not None
    state_dir = tmp_path / "state"
    with DevEnv(state_dir, crds=[crds], binaries=ensure_binaries()) as env:
        processes, data_dir = env.processes, env.data_dir
        assert sorted(p.name for p in processes) == ["etcd", "kube-apiserver", "prometheus"]
        assert all(p.alive() for p in processes)
        assert (state_dir / STATE_FILE).is_file()
        # Each component leads its own process group, so a group signal reaches only it.
        assert all(os.getpgid(p.record.pid) == p.record.pid for p in processes)
    assert_stopped(processes, data_dir)
    assert not (state_dir / STATE_FILE).exists()
    logs = sorted(p.name for p in (state_dir / "logs").iterdir())
    assert logs == ["etcd.log", "kube-apiserver.log", "prometheus.log"]


def _dev(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m hrl_autoscaler.tools.devenv ...` in a fresh interpreter."""
    operator_dir = Path(hrl_autoscaler.tools.devenv.__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(operator_dir), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "hrl_autoscaler.tools.devenv", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )


def _assert_down_stopped(
    down: subprocess.CompletedProcess[str],
    recorded: dict[str, Any],
    records: list[ProcessRecord],
    count: int,
) -> None:
    """`dev down` stopped each of the ``count`` recorded processes and deleted the data dir."""
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.count("stopped ") == count
    assert all(pid_gone(r.pid) for r in records)
    assert not Path(recorded["data_dir"]).exists()


def test_cli_up_status_down_across_processes(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "dev")
    try:
        up = _dev("up", "--state-dir", state_dir)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "export KUBECONFIG=" in up.stdout
        assert "prometheus:  http://127.0.0.1:" in up.stdout

        # `up` has exited; its processes run on and another process can inspect them.
        status = _dev("status", "--state-dir", state_dir, "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        report = json.loads(status.stdout)
        assert {c["name"] for c in report["components"]} == {"etcd", "kube-apiserver", "prometheus"}
        assert all(c["alive"] and c["ready"] for c in report["components"])

        api = api_client_from(Path(report["kubeconfig"]))
        try:
            crds = k8s_client.ApiextensionsV1Api(api).list_custom_resource_definition()
        finally:
            close_api_client(api)
        names = {c.metadata.name for c in crds.items if c.metadata}
        assert "sparkapplications.sparkoperator.k8s.io" in names

        again = _dev("up", "--state-dir", state_dir)
        assert again.returncode == 0
        assert "already up" in again.stdout

        recorded = json.loads((Path(state_dir) / STATE_FILE).read_text())
        records = [ProcessRecord.from_json(p) for p in recorded["processes"]]
    finally:
        down = _dev("down", "--state-dir", state_dir)
    _assert_down_stopped(down, recorded, records, 3)

    after = _dev("status", "--state-dir", state_dir)
    assert after.returncode == 1
    assert "not running" in after.stdout


@pytest.mark.kafka
def test_cli_up_kafka_runs_a_broker_that_status_and_down_know(tmp_path: Path) -> None:
    """``dev up --kafka``: a real broker beside the control plane, recorded like the others,
    ready when its port accepts, answering clients, and stopped by ``dev down``."""
    from kafka import KafkaAdminClient

    state_dir = str(tmp_path / "dev")
    try:
        up = _dev("up", "--state-dir", state_dir, "--no-prometheus", "--kafka")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "kafka:       127.0.0.1:" in up.stdout
        report = json.loads(_dev("status", "--state-dir", state_dir, "--json").stdout)
        assert {c["name"] for c in report["components"]} == {"etcd", "kube-apiserver", "kafka"}
        assert all(c["alive"] and c["ready"] for c in report["components"]), report
        admin = KafkaAdminClient(bootstrap_servers=report["kafka_bootstrap"])
        try:
            assert admin.describe_cluster()["brokers"]
        finally:
            admin.close()
        recorded = json.loads((Path(state_dir) / STATE_FILE).read_text())
        records = [ProcessRecord.from_json(p) for p in recorded["processes"]]
    finally:
        down = _dev("down", "--state-dir", state_dir)
    _assert_down_stopped(down, recorded, records, 3)


def test_cluster_mode_starts_only_prometheus_and_keeps_the_clusters_crds(
    devenv: DevEnvHandle, tmp_path: Path
) -> None:
    """``--kubeconfig`` (the kind path), tried on the session's control plane as "the cluster":
    nothing but Prometheus starts, and the SparkApplication CRD the cluster serves is not
    replaced by ours (its generation, bumped by any spec change, stays)."""
    crds = project_crd_dir()
    assert crds is not None
    api = k8s_client.ApiextensionsV1Api(devenv.api_client)
    before = api.read_custom_resource_definition(CRD_NAME).metadata.generation
    with DevEnv(tmp_path / "state", crds=[crds], cluster_kubeconfig=devenv.kubeconfig) as env:
        processes, data_dir = env.processes, env.data_dir
        assert [p.name for p in processes] == ["prometheus"]
        assert env.kubeconfig == devenv.kubeconfig
        assert env.api_url == devenv.env.api_url
        assert env.state is not None
        assert env.state.crds == []
        with env.api_client() as client:
            assert k8s_client.VersionApi(client).get_code().git_version
    assert_stopped(processes, data_dir)
    assert api.read_custom_resource_definition(CRD_NAME).metadata.generation == before


def test_cluster_mode_names_an_unreachable_cluster(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    with pytest.raises(ConnectionError, match=r"--kubeconfig .*kubeconfig cannot be used"):
        DevEnv(tmp_path / "state", cluster_kubeconfig=kubeconfig).start()
