"""Every read ``explain`` makes of the API server, and nothing else.

Reads only (a user with ``view`` rights can explain): the SparkApplication, its state ConfigMap,
its Events, the ExecutorBudgets and the chart's ConfigMap. The application must exist and be
managed, else :class:`ExplainError`; everything after it is optional and what could not be read
becomes a note (a missing RBAC rule must not hide the rest).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from hrl_autoscaler.runtime.core.annotations import ENABLED_LABEL
from hrl_autoscaler.runtime.core.application import GROUP, KIND, PLURAL, VERSION
from hrl_autoscaler.runtime.core.budget.spec import BUDGET_GROUP, BUDGET_PLURAL, BUDGET_VERSION
from hrl_autoscaler.runtime.k8s.client import api_client, api_error, read_json
from hrl_autoscaler.runtime.k8s.statestore import STATE_KEY, configmap_name
from hrl_autoscaler.tools.explain.history import is_operators
from hrl_autoscaler.tools.explain.opconfig import CONFIG_KEY

TIMEOUT_S = (5.0, 15.0)
"""Connect and read deadlines per request: an unreachable API server fails in seconds."""
CHART_SELECTOR = (
    "app.kubernetes.io/part-of=spark-hrl-autoscaler,app.kubernetes.io/component=operator"
)
"""The labels of the chart's objects, its settings ConfigMap among them."""
#: The kubernetes client's config module ships no type hints; typed as Any once, here.
kube_config: Any = k8s_config
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class ExplainError(Exception):
    """The application cannot be explained (absent, not managed, API server unreachable)."""


@dataclass
class Gathered:
    """The raw objects, as the API server returned them (dicts)."""

    app: dict[str, Any]
    state_json: str | None = None
    """The ``state.json`` of ``hrl-autoscaler-state-<name>``; None when there is none yet."""
    state_owner_uid: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    budgets: list[dict[str, Any]] = field(default_factory=list)
    operator_config: tuple[str, str] | None = None
    """(``config.yaml`` text, ``ConfigMap ns/name``) of the chart, when found."""
    notes: list[str] = field(default_factory=list)


def connect(kubeconfig: Path | None, context: str | None) -> k8s_client.ApiClient:
    """A client as ``hrl-autoscaler run`` builds one (kubeconfig, in-cluster, $KUBECONFIG),
    or for the named kubeconfig ``context``."""
    try:
        if context is None:
            return api_client(kubeconfig)
        path = str(kubeconfig) if kubeconfig is not None else None
        client: k8s_client.ApiClient = kube_config.new_client_from_config(
            config_file=path, context=context
        )
        return client
    except (ConfigException, FileNotFoundError, OSError) as exc:
        raise ExplainError(f"no usable kubeconfig: {exc}") from None


def default_namespace(kubeconfig: Path | None, context: str | None) -> str:
    """The namespace of the kubeconfig's (current or named) context, as kubectl picks it; the
    service account's in a pod; else ``default``."""
    if kubeconfig is None and context is None and SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    with contextlib.suppress(ConfigException, OSError, TypeError, ValueError):
        path = str(kubeconfig) if kubeconfig is not None else None
        contexts, current = kube_config.list_kube_config_contexts(config_file=path)
        chosen = (
            next((c for c in contexts if c.get("name") == context), None) if context else current
        )
        if chosen:
            return str((chosen.get("context") or {}).get("namespace") or "default")
    return "default"


def _unreachable(exc: Exception) -> ExplainError:
    return ExplainError(f"the API server is unreachable: {exc}")


def read_app(api: k8s_client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    """The SparkApplication; ExplainError when absent or not managed by the operator."""
    objects: Any = k8s_client.CustomObjectsApi(api)
    try:
        app = read_json(
            objects.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name,
                _preload_content=False, _request_timeout=TIMEOUT_S,
            )
        )  # fmt: skip
    except ApiException as exc:
        if exc.status == 404:
            raise ExplainError(f"SparkApplication {namespace}/{name} not found") from None
        raise ExplainError(
            f"reading SparkApplication {namespace}/{name}: {api_error(exc)}"
        ) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _unreachable(exc) from None
    labels = (app.get("metadata") or {}).get("labels") or {}
    if labels.get(ENABLED_LABEL) != "true":
        raise ExplainError(
            f"SparkApplication {namespace}/{name} is not managed by hrl-autoscaler: it lacks "
            f'the label {ENABLED_LABEL}: "true"'
        )
    return app


def _optional(what: str, notes: list[str], call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call``'s JSON, or None with a note (404: None without one)."""
    try:
        return read_json(call(*args, _preload_content=False, _request_timeout=TIMEOUT_S, **kwargs))
    except ApiException as exc:
        if exc.status != 404:
            notes.append(f"{what} not read: {api_error(exc)}")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        notes.append(f"{what} not read: {exc}")
    return None


def _operator_configmap(
    core: Any, reference: str | None, namespace: str, notes: list[str]
) -> tuple[str, str] | None:
    """The chart's settings: the named ConfigMap, else the one chart ConfigMap that watches
    ``namespace`` (one watching every namespace, or it among its ``namespaces``)."""
    if reference is not None:
        ns, _, name = reference.rpartition("/")
        item = _optional(
            f"ConfigMap {reference}", notes, core.read_namespaced_config_map, name, ns or namespace
        )
        if item is None or CONFIG_KEY not in (item.get("data") or {}):
            raise ExplainError(f"ConfigMap {reference} not found or without {CONFIG_KEY}")
        return item["data"][CONFIG_KEY], f"ConfigMap {ns or namespace}/{name}"
    listed = _optional(
        "the chart's ConfigMap", notes, core.list_config_map_for_all_namespaces,
        label_selector=CHART_SELECTOR,
    )  # fmt: skip
    candidates: list[tuple[str, str]] = []
    for item in (listed or {}).get("items", []):
        text = (item.get("data") or {}).get(CONFIG_KEY)
        if text is None:
            continue
        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            continue
        watched = config.get("namespaces") if isinstance(config, dict) else None
        if not watched or namespace in watched:
            meta = item.get("metadata") or {}
            candidates.append((text, f"ConfigMap {meta.get('namespace')}/{meta.get('name')}"))
    if len(candidates) > 1:
        names = ", ".join(where for _, where in candidates)
        notes.append(f"several operators watch {namespace} ({names}); using the first")
    return candidates[0] if candidates else None


def gather(
    api: k8s_client.ApiClient,
    namespace: str,
    name: str,
    operator_configmap: str | None = None,
    discover_config: bool = True,
) -> Gathered:
    """Read everything about ``namespace/name`` (the application first: it must exist)."""
    app = read_app(api, namespace, name)
    uid = str((app.get("metadata") or {}).get("uid") or "")
    core: Any = k8s_client.CoreV1Api(api)
    found = Gathered(app=app)
    state = _optional(
        "the state ConfigMap", found.notes, core.read_namespaced_config_map,
        configmap_name(name), namespace,
    )  # fmt: skip
    if state is not None:
        found.state_json = (state.get("data") or {}).get(STATE_KEY)
        owners = (state.get("metadata") or {}).get("ownerReferences") or []
        found.state_owner_uid = next((o.get("uid") for o in owners if o.get("name") == name), None)
    events = _optional(
        "Events", found.notes, core.list_namespaced_event, namespace,
        field_selector=f"involvedObject.kind={KIND},involvedObject.name={name}",
    )  # fmt: skip
    found.events = [e for e in (events or {}).get("items", []) if is_operators(e, uid)]
    objects: Any = k8s_client.CustomObjectsApi(api)
    budgets = _optional(
        "ExecutorBudgets", found.notes, objects.list_cluster_custom_object,
        BUDGET_GROUP, BUDGET_VERSION, BUDGET_PLURAL,
    )  # fmt: skip
    found.budgets = list((budgets or {}).get("items", []))
    if operator_configmap is not None or discover_config:
        found.operator_config = _operator_configmap(
            core, operator_configmap, namespace, found.notes
        )
    return found
