"""Talking to Prometheus safely: TLS verified by default, credentials only from a Secret."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import certifi
import httpx
import pytest

from hrl_autoscaler.config import load_operator_settings
from hrl_autoscaler.runtime.k8s.promauth import basic_auth, tls_verify, transport_warnings
from hrl_autoscaler.runtime.k8s.prometheus import PrometheusCollector


def test_tls_is_verified_by_default_against_the_system_cas() -> None:
    verify = tls_verify(load_operator_settings(prometheus_url="https://prom:9090"))
    assert isinstance(verify, ssl.SSLContext)
    assert verify.verify_mode == ssl.CERT_REQUIRED
    assert verify.check_hostname
    assert transport_warnings(load_operator_settings(prometheus_url="https://prom:9090")) == []


def test_a_ca_file_is_used_and_a_missing_one_fails_at_start(tmp_path: Path) -> None:
    verify = tls_verify(load_operator_settings(prometheus_ca_file=Path(certifi.where())))
    assert isinstance(verify, ssl.SSLContext)
    assert verify.cert_store_stats()["x509_ca"] > 0
    settings = load_operator_settings(prometheus_ca_file=tmp_path / "missing.pem")
    with pytest.raises(FileNotFoundError):
        tls_verify(settings)


def test_insecure_is_an_explicit_opt_in_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_operator_settings(
        prometheus_url="https://prom:9090", prometheus_verify_tls=False
    )
    assert tls_verify(settings) is False
    with caplog.at_level(logging.WARNING):
        PrometheusCollector(settings, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert "TLS verification of Prometheus is OFF" in caplog.text


def test_credentials_over_plain_http_are_a_warning(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0k3n\n")
    settings = load_operator_settings(
        prometheus_url="http://prom:9090", prometheus_bearer_token_file=token
    )
    [warning] = transport_warnings(settings)
    assert "sent over http://" in warning
    basic = load_operator_settings(
        prometheus_url="https://prom:9090", prometheus_username="u", prometheus_password="p"
    )
    assert transport_warnings(basic) == []
    assert isinstance(basic_auth(basic), httpx.BasicAuth)


@pytest.mark.parametrize("key", ["prometheus_bearer_token", "prometheus_password"])
def test_a_credential_in_the_config_file_is_refused(tmp_path: Path, key: str) -> None:
    """The config file is a ConfigMap: readable by far more people than a Secret."""
    config = tmp_path / "config.yaml"
    extra = "prometheus_username: u\n" if key == "prometheus_password" else ""
    config.write_text(f"{extra}{key}: plain-text\n")
    with pytest.raises(ValueError, match=f"{key} in the config file .* from a Secret"):
        load_operator_settings(config)


def test_credentials_from_the_environment_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the chart does: HRL_AUTOSCALER_PROMETHEUS_PASSWORD from a secretKeyRef."""
    config = tmp_path / "config.yaml"
    config.write_text("prometheus_url: https://prom:9090\n")
    monkeypatch.setenv("HRL_AUTOSCALER_PROMETHEUS_USERNAME", "u")
    monkeypatch.setenv("HRL_AUTOSCALER_PROMETHEUS_PASSWORD", "from-a-secret")
    settings = load_operator_settings(config)
    assert settings.prometheus_password is not None
    assert settings.prometheus_password.get_secret_value() == "from-a-secret"
