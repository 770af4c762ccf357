"""Executors as pods for a driver here (client mode): the settings, without a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from hrl_autoscaler.tools.spark.kubernetes_executors import (
    RUN_LABEL,
    KubernetesExecutors,
    host_address,
    kubeconfig_server,
)


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
        f"clusters: [{{name: k, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {}}]\n"
    )
    return path


def test_client_mode_settings_share_the_work_dir_and_label_the_run(tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path, "https://10.2.3.4:6443")
    executors = KubernetesExecutors(config, "localhost/spark:1", tmp_path / "work")
    conf = executors.spark_conf("512m", 1)
    assert executors.master_url == "k8s://https://10.2.3.4:6443"
    assert conf["spark.submit.deployMode"] == "client"
    assert conf["spark.kubernetes.container.image"] == "localhost/spark:1"
    assert conf["spark.kubernetes.container.image.pullPolicy"] == "Never"
    # the pods reach the driver at the address the node advertises (the API server's)
    assert conf["spark.driver.host"] == "10.2.3.4"
    work = str((tmp_path / "work").resolve())
    volume = "spark.kubernetes.executor.volumes.hostPath.shared"
    assert conf[f"{volume}.mount.path"] == work
    assert conf[f"{volume}.options.path"] == work
    assert conf[f"spark.kubernetes.executor.label.{RUN_LABEL}"] == executors.run_id
    assert conf["spark.hadoop.fs.permissions.umask-mode"] == "000"


def test_host_address_prefers_the_api_servers_ip() -> None:
    assert host_address("https://192.168.1.5:6443") == "192.168.1.5"
    assert host_address("https://192.168.1.5") == "192.168.1.5"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("current-context: x\ncontexts: []\nclusters: []\n", "no current-context"),
        (
            "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
            "clusters: [{name: k, cluster: {server: 'http://1.2.3.4'}}]\n",
            "must be https",
        ),
        ("[unclosed", "cannot read it"),
    ],
)
def test_bad_kubeconfigs_are_named(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        kubeconfig_server(path)


def test_the_drivers_kubernetes_client_does_not_read_the_kubeconfig(tmp_path: Path) -> None:
    """fabric8 cannot parse the local control plane's EC client key: the driver must use the
    minted token (client_mode_confs), so the kubeconfig stays out of its environment."""
    executors = KubernetesExecutors(
        _kubeconfig(tmp_path, "https://10.2.3.4:6443"), "localhost/spark:1", tmp_path / "work"
    )
    executors.spark_home = tmp_path / "spark"
    env = executors.environment()
    assert env["KUBERNETES_AUTH_TRYKUBECONFIG"] == "false"
    assert "KUBECONFIG" not in env
