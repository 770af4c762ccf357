"""Where the in-place executor agent (:mod:`.agent`) reads its target: the SparkApplication's
annotation or a file, and how a raw value is validated."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hrl_autoscaler.config import ExecutorAgentSettings
from hrl_autoscaler.runtime.core.annotations import TARGET_ANNOTATION
from hrl_autoscaler.runtime.core.application import GROUP, PLURAL, VERSION
from hrl_autoscaler.tools.spark.agent_spark import AgentConfigurationError

#: The Spark Operator passes the SparkApplication's name as this driver label.
APP_NAME_LABEL_CONF = "spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name"
NAMESPACE_CONF = "spark.kubernetes.namespace"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

_INTEGER = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class TargetReading:
    """A parsed target: ``value`` when valid, ``problem`` (why it was refused) when not, both
    None when no target is set."""

    value: int | None
    problem: str | None = None


def parse_target(raw: str | None, min_executors: int, max_executors: int) -> TargetReading:
    """Validate the raw annotation or file content.

    Only plain decimal digits are accepted (``int()`` would also take ``"+3"``, ``"3_0"`` or
    ``" 3 "`` with inner spaces; an operator writes none of those, so they are typos).
    """
    if raw is None:
        return TargetReading(None)
    text = raw.strip()
    if not text:
        return TargetReading(None, "empty value")
    if not _INTEGER.fullmatch(text):
        return TargetReading(None, f"{raw!r} is not a non-negative integer")
    # Past a dozen digits it is out of any bound; int() refuses over 4300 digits anyway.
    value = int(text) if len(text) <= 12 else max_executors + 1
    if not min_executors <= value <= max_executors:
        return TargetReading(
            None,
            f"{text[:20]}{'...' if len(text) > 20 else ''} is outside "
            f"[{min_executors}, {max_executors}] "
            "(the agent's min_executors/max_executors)",
        )
    return TargetReading(value)


# -- target sources ------------------------------------------------------------------------


class TargetSource(Protocol):
    description: str

    def read(self) -> str | None:
        """The raw target, None when none is set; raises when the source cannot be read."""
        ...


class FileTargetSource:
    """A file holding the target (standalone clusters and tests; write it atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file {path}"

    def read(self) -> str | None:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return None


class AnnotationTargetSource:
    """The SparkApplication's ``hrl-autoscaler.io/target-executors`` annotation.

    One GET per poll (RBAC: ``get`` on ``sparkapplications`` in its namespace). A watch would
    save the GETs, but at one request per 2 s per application the API server does not notice,
    and a poll has no connection state to lose.
    """

    def __init__(
        self, namespace: str, name: str, kubeconfig: Path | None = None, timeout_s: float = 5.0
    ) -> None:
        from kubernetes import client, config

        # The kubernetes client has no type hints: typed as Any on purpose.
        k8s_client: Any = client
        k8s_config: Any = config
        if kubeconfig is not None:
            api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        else:
            k8s_config.load_incluster_config()
            api = k8s_client.ApiClient()
        self.objects = k8s_client.CustomObjectsApi(api)
        self.namespace = namespace
        self.name = name
        self.timeout_s = timeout_s
        self.description = f"annotation {TARGET_ANNOTATION} of SparkApplication {namespace}/{name}"

    def read(self) -> str | None:
        obj: Any = self.objects.get_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            self.name,
            _request_timeout=self.timeout_s,
        )
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        value = annotations.get(TARGET_ANNOTATION)
        return None if value is None else str(value)


def resolve_application(
    settings: ExecutorAgentSettings, conf: Callable[[str], str | None]
) -> tuple[str, str]:
    """The SparkApplication's (namespace, name): settings, else what the Spark Operator passes
    to the driver (``spark.kubernetes.namespace`` and the app-name driver label), else the
    service account's namespace."""
    namespace = settings.namespace or conf(NAMESPACE_CONF)
    if namespace is None and SERVICE_ACCOUNT_NAMESPACE.is_file():
        namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    name = settings.name or conf(APP_NAME_LABEL_CONF)
    missing = [
        what
        for what, value in (
            (f"namespace (--agent-namespace, {NAMESPACE_CONF})", namespace),
            (f"name (--agent-name, {APP_NAME_LABEL_CONF})", name),
        )
        if not value
    ]
    if missing:
        raise AgentConfigurationError(
            "cannot tell which SparkApplication to read the target from: no "
            + " and no ".join(missing)
        )
    assert namespace is not None
    assert name is not None
    return namespace, name


def source_from_settings(
    settings: ExecutorAgentSettings, conf: Callable[[str], str | None]
) -> TargetSource:
    if settings.source == "file":
        assert settings.target_file is not None  # the settings validator guarantees it
        return FileTargetSource(settings.target_file)
    namespace, name = resolve_application(settings, conf)
    return AnnotationTargetSource(namespace, name, settings.kubeconfig)


__all__ = [
    "APP_NAME_LABEL_CONF",
    "NAMESPACE_CONF",
    "SERVICE_ACCOUNT_NAMESPACE",
    "AnnotationTargetSource",
    "FileTargetSource",
    "TargetReading",
    "TargetSource",
    "parse_target",
    "resolve_application",
    "source_from_settings",
]
