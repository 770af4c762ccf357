"""The local control plane fails readably: missing binaries, taken ports, bad upstream data.

No real kube-apiserver is needed here: missing binaries are simulated with an empty cache, and
a component that cannot bind is simulated with a tiny script that behaves like one.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hrl_autoscaler.tools.devenv import binaries as bins
from hrl_autoscaler.tools.devenv import datadir
from hrl_autoscaler.tools.devenv.controlplane import ControlPlane, ControlPlaneError, Ports
from hrl_autoscaler.tools.devenv.gobuild import (
    go_directive,
    prometheus_release,
    staging_modules,
    staging_version,
    wrapper_gomod,
)
from hrl_autoscaler.tools.devenv.gorunner import BuildError
from hrl_autoscaler.tools.devenv.processes import PortInUseError, ProcessRecord, process_start_time
from hrl_autoscaler.tools.devenv.prometheus import (
    Prometheus,
    PrometheusError,
    ScrapeTarget,
    render_config,
)
from hrl_autoscaler.tools.devenv.session import DevEnv


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("HRL_AUTOSCALER_CACHE_DIR", str(cache))
    for var in ("KUBE_APISERVER", "ETCD", "HELM", "PROMETHEUS"):
        monkeypatch.delenv(f"HRL_AUTOSCALER_{var}", raising=False)
    return cache


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_missing_go_binary_names_the_build_command(empty_cache: Path) -> None:
    with pytest.raises(bins.BinaryMissingError) as caught:
        bins.find_binaries(require_prometheus=False)
    message = str(caught.value)
    assert "python -m hrl_autoscaler.tools.devenv build" in message
    assert bins.ETCD_VERSION in message or bins.KUBERNETES_VERSION in message
    assert str(empty_cache) in message


def test_missing_prometheus_names_the_apt_package(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HRL_AUTOSCALER_PROMETHEUS", str(tmp_path / "no-prometheus"))
    with pytest.raises(bins.BinaryMissingError) as caught:
        bins.find_prometheus()
    assert "apt-get install -y --no-install-recommends prometheus" in str(caught.value)


def test_override_pointing_nowhere_is_reported(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HRL_AUTOSCALER_ETCD", str(tmp_path / "etcd"))
    with pytest.raises(bins.BinaryMissingError, match="HRL_AUTOSCALER_ETCD="):
        bins.ensure_binaries(require_prometheus=False)


def test_devenv_without_binaries_fails_before_starting_anything(empty_cache: Path) -> None:
    with pytest.raises(bins.BinaryMissingError, match="not built yet"):
        DevEnv(empty_cache / "state", prometheus=False).start()


def test_control_plane_with_missing_binary_names_it(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path / "etcd", tmp_path / "kube-apiserver", tmp_path, tmp_path)
    with pytest.raises(ControlPlaneError, match=r"etcd binary not found at .*etcd"):
        plane.start()


def test_explicit_taken_port_names_port_component_and_flag(taken_port: int) -> None:
    with pytest.raises(PortInUseError) as caught:
        Ports.pick(apiserver=taken_port)
    message = str(caught.value)
    assert str(taken_port) in message
    assert "kube-apiserver" in message
    assert "--secure-port" in message


def test_taken_etcd_port_is_reported_for_etcd(taken_port: int) -> None:
    with pytest.raises(PortInUseError, match=rf"port {taken_port} .* for etcd \(--listen-client"):
        Ports.pick(etcd_client=taken_port)


def test_prometheus_on_a_taken_port_is_reported(tmp_path: Path, taken_port: int) -> None:
    fake = _script(tmp_path / "prometheus", "sleep 30")
    prom = Prometheus(fake, tmp_path / "conf", tmp_path / "data", taken_port)
    with pytest.raises(PortInUseError, match=rf"port {taken_port} .* for prometheus"):
        prom.start(tmp_path / "prometheus.log")


def test_component_that_cannot_bind_is_reported_as_port_clash(tmp_path: Path) -> None:
    """A port can be taken between our check and the component's bind: the log tells."""
    etcd = _script(tmp_path / "etcd", '[ "$1" = --help ] && exit 0; sleep 30')
    apiserver = _script(
        tmp_path / "kube-apiserver",
        'echo "failed to listen on 127.0.0.1:6443: bind: address already in use"; exit 1',
    )
    plane = ControlPlane(etcd, apiserver, tmp_path / "state", tmp_path / "data")
    plane.start()
    try:
        with pytest.raises(PortInUseError, match="kube-apiserver could not listen"):
            plane.wait_ready(timeout=10)
    finally:
        plane.stop()
    assert not plane.processes


def test_component_that_dies_shows_its_log(tmp_path: Path) -> None:
    etcd = _script(tmp_path / "etcd", 'echo "etcd: bad flag --nope"; exit 2')
    apiserver = _script(tmp_path / "kube-apiserver", "sleep 30")
    plane = ControlPlane(etcd, apiserver, tmp_path / "state", tmp_path / "data")
    plane.start()
    try:
        with pytest.raises(ControlPlaneError, match=r"(?s)etcd exited \(code 2\).*bad flag"):
            plane.wait_ready(timeout=10)
    finally:
        plane.stop()


def test_duplicate_scrape_jobs_are_refused() -> None:
    target = ScrapeTarget("spark", ["127.0.0.1:4040"])
    with pytest.raises(PrometheusError, match="duplicate scrape job names: spark"):
        render_config([target, target])


def test_scrape_config_carries_path_interval_and_labels() -> None:
    text = render_config(
        [
            ScrapeTarget(
                "spark", ["127.0.0.1:4040"], "/metrics/executors/prometheus", "5s", {"app": "demo"}
            )
        ]
    )
    assert "metrics_path: /metrics/executors/prometheus" in text
    assert "scrape_interval: 5s" in text
    assert "app: demo" in text


def test_raw_scrape_jobs_are_kept_as_written_and_share_the_name_check() -> None:
    sd_job = {"job_name": "spark-driver", "kubernetes_sd_configs": [{"role": "pod"}]}
    text = render_config([ScrapeTarget("emulator", ["127.0.0.1:1"])], raw_jobs=[sd_job])
    assert "kubernetes_sd_configs:" in text
    assert "- role: pod" in text
    with pytest.raises(PrometheusError, match="duplicate scrape job names: spark-driver"):
        render_config([ScrapeTarget("spark-driver", ["127.0.0.1:1"])], raw_jobs=[sd_job])


UPSTREAM_GOMOD = """module k8s.io/kubernetes

go 1.25.0

require (
\tk8s.io/api v0.0.0
\tk8s.io/apiserver v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apiserver => ./staging/src/k8s.io/apiserver
\tgithub.com/example/fork => github.com/example/fork v1.2.3
)

replace k8s.io/kms => ./staging/src/k8s.io/kms
"""


def test_staging_replaces_are_read_from_the_upstream_gomod() -> None:
    assert staging_modules(UPSTREAM_GOMOD) == ["k8s.io/api", "k8s.io/apiserver", "k8s.io/kms"]
    assert go_directive(UPSTREAM_GOMOD) == "1.25.0"
    gomod = wrapper_gomod(
        "example/wrapper",
        "1.25.0",
        {"k8s.io/kubernetes": "v1.35.4"},
        {"k8s.io/api": staging_version("v1.35.4")},
    )
    assert "\tk8s.io/kubernetes v1.35.4\n" in gomod
    assert "\tk8s.io/api => k8s.io/api v0.35.4\n" in gomod


def test_bad_upstream_data_is_reported() -> None:
    with pytest.raises(BuildError, match="no `go` directive"):
        go_directive("module x\n")
    with pytest.raises(BuildError, match="not a Kubernetes release version"):
        staging_version("1.35")


def test_data_dirs_of_killed_runs_are_swept(tmp_path: Path) -> None:
    """A SIGKILLed run cannot delete its data; the next start removes it, and only it."""
    dead = tmp_path / f"{datadir.PREFIX}dead"
    live = tmp_path / f"{datadir.PREFIX}live"
    unclaimed_old = tmp_path / f"{datadir.PREFIX}old"
    for d in (dead, live, unclaimed_old):
        d.mkdir()
    datadir.claim(dead, ProcessRecord("etcd", 2**22 + 1, 1, [], ""))
    me = os.getpid()
    datadir.claim(live, ProcessRecord("devenv", me, process_start_time(me) or 0, [], ""))
    os.utime(unclaimed_old, (time.time() - 3600, time.time() - 3600))
    removed = datadir.sweep_stale(tmp_path)
    assert sorted(removed) == sorted([dead, unclaimed_old])
    assert live.exists()


def test_prometheus_module_versions_name_their_release() -> None:
    assert prometheus_release("v0.316.0") == "3.16.0"
    assert prometheus_release("v0.305.1") == "3.5.1"
    with pytest.raises(BuildError, match="not a Prometheus 3 module version"):
        prometheus_release("v2.53.0")
