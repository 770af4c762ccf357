"""The thin kopf layer: watch SparkApplications, feed the decision loop, run beside it.

kopf provides what it is good at: watching with re-listing and back-off, login, peering between
replicas. The handlers only keep an in-memory view of the applications (and of the
ExecutorBudgets over them) up to date; the decision
loop (:mod:`hrl_autoscaler.runtime.service.loop`) is one cluster-wide task that decides for all
of them per cycle with batched queries, which per-object kopf timers could not do.

Only event handlers are registered: kopf then writes nothing to the SparkApplications (no
finalizers, no ``kopf.zalando.org`` annotations, no handler-progress events), so deleting an
application never waits for the operator and users see only this operator's own events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import kopf
from kubernetes import client as k8s_client

from hrl_autoscaler.config import OperatorSettings
from hrl_autoscaler.runtime.core.annotations import ENABLED_LABEL
from hrl_autoscaler.runtime.core.application import (
    GROUP,
    PLURAL,
    VERSION,
    AppSnapshot,
    snapshot_from_body,
)
from hrl_autoscaler.runtime.core.budget.spec import (
    BUDGET_GROUP,
    BUDGET_PLURAL,
    BUDGET_VERSION,
    BudgetKey,
)
from hrl_autoscaler.runtime.core.pipeline import Autoscaler
from hrl_autoscaler.runtime.core.resync import Resync
from hrl_autoscaler.runtime.k8s.client import read_json
from hrl_autoscaler.runtime.service.http import HttpServer
from hrl_autoscaler.runtime.service.loop import DecisionLoop
from hrl_autoscaler.runtime.service.wiring import Operator, build_operator

log = logging.getLogger("hrl_autoscaler.operator")


def connection_info(api: k8s_client.ApiClient) -> kopf.ConnectionInfo:
    """kopf's credentials from the same client configuration the adapters use."""
    config = api.configuration
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix(
        "authorization"
    )
    parts = header.split(" ", 1) if header else []
    scheme, token = (
        (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    )
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


def build_registry(
    autoscaler: Autoscaler,
    api: k8s_client.ApiClient,
    settings: OperatorSettings,
    on_budget_deleted: Callable[[BudgetKey], None] | None = None,
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    lifetime = settings.peering_lifetime_s

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False  # events are the operator's own, in a stable format
        settings.peering.lifetime = lifetime
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(api)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    def on_event(event: kopf.RawEvent, **_: Any) -> None:
        body = event["object"]
        snapshot = snapshot_from_body(body)
        if event.get("type") == "DELETED":
            autoscaler.remove(snapshot.key)
        else:
            autoscaler.upsert(snapshot)

    @kopf.on.event(BUDGET_GROUP, BUDGET_VERSION, BUDGET_PLURAL, registry=registry)
    def on_budget_event(event: kopf.RawEvent, **_: Any) -> None:
        """ExecutorBudgets: the controller parses and reports them (a bad one gets a Warning
        event from it, not an exception here); the decision loop allocates."""
        body = event["object"]
        if event.get("type") == "DELETED":
            meta = body.get("metadata") or {}
            key = BudgetKey(str(meta.get("namespace") or "default"), str(meta.get("name") or ""))
            autoscaler.budgets.remove(key)
            if on_budget_deleted is not None:
                on_budget_deleted(key)
        else:
            autoscaler.budgets.upsert(body)

    return registry


LIST_TIMEOUT_S = 30.0
"""One LIST of the SparkApplications may take this long: a hung API server must not stall the
prime or the resync loop forever (the next resync tries again)."""


def list_applications(api: k8s_client.ApiClient, settings: OperatorSettings) -> list[AppSnapshot]:
    """The enabled SparkApplications in the watched namespaces (one LIST each; raises)."""
    objects = k8s_client.CustomObjectsApi(api)
    selector = f"{ENABLED_LABEL}=true"
    bodies: list[Any] = []
    for namespace in settings.namespaces or (None,):
        if namespace is None:
            response = objects.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, label_selector=selector, _preload_content=False,
                _request_timeout=LIST_TIMEOUT_S,
            )  # fmt: skip
        else:
            response = objects.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, label_selector=selector,
                _preload_content=False, _request_timeout=LIST_TIMEOUT_S,
            )  # fmt: skip
        bodies += read_json(response).get("items") or []
    return [snapshot_from_body(body) for body in bodies]


def prime(autoscaler: Autoscaler, api: k8s_client.ApiClient, settings: OperatorSettings) -> int:
    """List the enabled SparkApplications once before the decision loop starts.

    kopf delivers them only after the loop's first cycles; an ExecutorBudget allocated then
    would look empty to a restarted operator (its stored caps replaced by none, a BudgetEmpty
    Warning) although its applications exist. A failed listing is logged: the watch delivers
    them a moment later anyway. Returns how many were listed.
    """
    try:
        snapshots = list_applications(api, settings)
    except Exception as exc:
        log.warning("SparkApplications not listed before the first cycle (the watch will): %s", exc)
        return 0
    for snapshot in snapshots:
        autoscaler.upsert(snapshot)
    return len(snapshots)


async def resync_loop(operator: Operator, stop: asyncio.Event) -> None:
    """Re-list every ``resync_interval_s`` (see :mod:`~hrl_autoscaler.runtime.core.resync`);
    a failed LIST is logged and tried again next time, the registry kept as it is."""
    settings = operator.settings
    resync = Resync(operator.autoscaler)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.resync_interval_s)
        if stop.is_set():
            return
        try:
            snapshots = await asyncio.to_thread(list_applications, operator.api, settings)
        except Exception as exc:
            log.warning("re-list of SparkApplications failed (kept what is known): %s", exc)
            continue
        resync.apply(snapshots)


async def run_async(operator: Operator, port_file: Path | None = None) -> None:
    """Run kopf, the decision loop and the HTTP endpoints until SIGTERM/SIGINT."""
    settings = operator.settings
    loop = DecisionLoop(operator)
    http = HttpServer(
        operator.metrics.registry, loop.healthy, loop.ready, settings.http_host, settings.http_port
    )
    port = await http.start()
    if port_file is not None:
        port_file.write_text(str(port))
    if operator.peering is not None:
        await asyncio.to_thread(operator.peering.ensure)
    await asyncio.to_thread(prime, operator.autoscaler, operator.api, settings)
    stop = asyncio.Event()
    loop_task = asyncio.create_task(loop.run(stop), name="decision loop")
    resync_task = asyncio.create_task(resync_loop(operator, stop), name="re-list")
    metrics = operator.budget_metrics
    registry = build_registry(
        operator.autoscaler, operator.api, settings, metrics.forget if metrics else None
    )
    log.info(
        "operator %s watching SparkApplications labelled hrl-autoscaler.io/enabled=true in %s; %s",
        operator.identity,
        ", ".join(settings.namespaces) if settings.namespaces else "all namespaces",
        f"peering {settings.peering_name!r} with priority {operator.priority}"
        if settings.peering
        else "standalone (no peering)",
    )
    try:
        await kopf.operator(
            registry=registry,
            standalone=not settings.peering,
            peering_name=settings.peering_name if settings.peering else None,
            priority=operator.priority,
            identity=cast(Any, operator.identity),  # kopf's NewType over str
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
        )
    finally:
        stop.set()
        for task in (loop_task, resync_task):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await http.stop()
        await asyncio.to_thread(operator.close)
        log.info("operator stopped")


def run(settings: OperatorSettings, port_file: Path | None = None) -> int:
    """``hrl-autoscaler run``: returns the exit code (2 for a bad setup, said why)."""
    try:
        operator = build_operator(settings)
    except Exception as exc:
        log.error("cannot start: %s", exc)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_async(operator, port_file))
    return 0
