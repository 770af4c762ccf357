"""The local Prometheus scrapes a real exporter, and follows its values as they change."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from hrl_autoscaler.tools.devenv.prometheus import PrometheusError, query, wait_for_value
from hrl_autoscaler.tools.devenv.testing import DevEnvHandle

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def exporter() -> Iterator[tuple[Gauge, str]]:
    """A tiny HTTP exporter on a free loopback port serving one gauge."""
    registry = CollectorRegistry()
    gauge = Gauge("e2e_backlog_records", "Records waiting (test gauge)", registry=registry)
    port = _free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield gauge, f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_scrapes_exporter_and_sees_value_changes(
    devenv: DevEnvHandle, exporter: tuple[Gauge, str]
) -> None:
    gauge, address = exporter
    gauge.set(42)
    devenv.add_scrape_target("e2e-exporter", [address], labels={"app": "e2e"})
    try:
        promql = 'e2e_backlog_records{job="e2e-exporter", app="e2e"}'
        assert wait_for_value(devenv.prometheus_url, promql, lambda v: v == 42) == 42
        up = query(devenv.prometheus_url, 'up{job="e2e-exporter"}')
        assert [float(s["value"][1]) for s in up] == [1.0]
        gauge.set(7.5)
        assert wait_for_value(devenv.prometheus_url, promql, lambda v: v == 7.5) == 7.5
    finally:
        devenv.remove_scrape_target("e2e-exporter")


def test_custom_metrics_path_is_used(devenv: DevEnvHandle, exporter: tuple[Gauge, str]) -> None:
    """Spark serves executor metrics on a non-default path; the job's path must be honoured."""
    gauge, address = exporter
    gauge.set(3)
    # prometheus_client answers every path, so a distinct path shows up only in the target list.
    devenv.add_scrape_target("e2e-path", [address], metrics_path="/metrics/executors/prometheus")
    try:
        promql = 'e2e_backlog_records{job="e2e-path"}'
        assert wait_for_value(devenv.prometheus_url, promql, lambda v: v == 3) == 3
        config = devenv.env.prometheus
        assert config is not None
        assert "/metrics/executors/prometheus" in config.config_path.read_text()
    finally:
        devenv.remove_scrape_target("e2e-path")


def test_bad_config_is_rejected_and_old_one_kept(devenv: DevEnvHandle) -> None:
    with pytest.raises(PrometheusError, match="rejected"):
        devenv.add_scrape_target("e2e-bad", ["127.0.0.1:1"], scrape_interval="soon")
    devenv.remove_scrape_target("e2e-bad")
    # The server still runs the last good config and answers queries.
    assert query(devenv.prometheus_url, "up") is not None
