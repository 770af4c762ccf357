"""How the operator talks to Prometheus safely: TLS verification and credentials.

- TLS certificates are verified by default, against the system's CAs or ``prometheus_ca_file``
  (a private CA, mounted from a Secret or ConfigMap by the chart). Turning verification off
  (``prometheus_verify_tls: false``) is an explicit opt-in, logged as a warning at start: anyone
  on the path could then answer in Prometheus' name and steer the autoscaler.
- Credentials never come from the config file (a ConfigMap; see
  :func:`hrl_autoscaler.config.operator.refuse_plain_credentials`): a bearer token file mounted
  from a Secret (re-read every cycle, so rotation works), or basic auth from environment
  variables set from a Secret (``secretKeyRef``). Sending them over plain ``http://`` is logged
  as a warning: they would cross the network readable.
"""

from __future__ import annotations

import logging
import ssl
from urllib.parse import urlsplit

import httpx

from hrl_autoscaler.config import OperatorSettings

log = logging.getLogger("hrl_autoscaler.runtime.k8s.prometheus")


def tls_verify(settings: OperatorSettings) -> ssl.SSLContext | bool:
    """What httpx verifies Prometheus' certificate with: a context with the system's CAs or
    ``prometheus_ca_file`` (an unreadable file is an error at start, not a silent fallback), or
    False when verification was explicitly turned off."""
    if not settings.prometheus_verify_tls:
        return False
    if settings.prometheus_ca_file is not None:
        return ssl.create_default_context(cafile=str(settings.prometheus_ca_file))
    return ssl.create_default_context()


def basic_auth(settings: OperatorSettings) -> httpx.BasicAuth | None:
    if settings.prometheus_username is None or settings.prometheus_password is None:
        return None
    return httpx.BasicAuth(
        settings.prometheus_username, settings.prometheus_password.get_secret_value()
    )


def has_credentials(settings: OperatorSettings) -> bool:
    return (
        settings.prometheus_bearer_token is not None
        or settings.prometheus_bearer_token_file is not None
        or settings.prometheus_username is not None
    )


def transport_warnings(settings: OperatorSettings) -> list[str]:
    """What is unsafe about how Prometheus is reached (each logged as a warning at start)."""
    warnings: list[str] = []
    https = urlsplit(settings.prometheus_url).scheme == "https"
    if not settings.prometheus_verify_tls:
        warnings.append(
            "TLS verification of Prometheus is OFF (prometheus_verify_tls: false): anyone on "
            "the path can answer in its name; use prometheus_ca_file for a private CA instead"
        )
        if settings.prometheus_ca_file is not None:
            warnings.append("prometheus_ca_file is ignored while prometheus_verify_tls is false")
    if has_credentials(settings) and not https:
        warnings.append(
            f"Prometheus credentials are sent over {urlsplit(settings.prometheus_url).scheme}"
            "://, readable on the network; use an https prometheus_url"
        )
    return warnings


def log_transport_warnings(settings: OperatorSettings) -> None:
    for warning in transport_warnings(settings):
        log.warning("%s", warning)
