"""Build the running operator from its settings: policies, adapters, the decision loop.

Everything that can be wrong with the installation (no policy artifact, an unreadable
kubeconfig) fails here, at start, with a message that says what to fix.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client as k8s_client

from hrl_autoscaler.config import OBJECTIVE_NAMES, OperatorSettings
from hrl_autoscaler.runtime.core.pipeline import Autoscaler
from hrl_autoscaler.runtime.core.ports import MetaActor
from hrl_autoscaler.runtime.k8s.actuator import SparkApplicationActuator
from hrl_autoscaler.runtime.k8s.budgets import KubernetesBudgetSink, KubernetesBudgetSource
from hrl_autoscaler.runtime.k8s.client import api_client, close_client
from hrl_autoscaler.runtime.k8s.events import KubernetesEventSink
from hrl_autoscaler.runtime.k8s.peering import PeeringReader
from hrl_autoscaler.runtime.k8s.prometheus import PrometheusCollector
from hrl_autoscaler.runtime.k8s.statestore import ConfigMapStateStore
from hrl_autoscaler.runtime.policies.artifacts import (
    METADATA_FILE,
    PPO_DIR,
    PolicyError,
    default_policies_dir,
    meta_dir,
    sha256_file,
)
from hrl_autoscaler.runtime.policies.meta import NumpyMetaActor
from hrl_autoscaler.runtime.policies.ppo import NumpyPPOPolicy
from hrl_autoscaler.runtime.service.budget_metrics import BudgetMetrics
from hrl_autoscaler.runtime.service.telemetry import OperatorMetrics

log = logging.getLogger("hrl_autoscaler.operator")


@dataclass
class Policies:
    ppo: NumpyPPOPolicy
    meta: dict[str, MetaActor] = field(default_factory=dict)
    meta_errors: dict[str, str] = field(default_factory=dict)


def load_policies(directory: Path, metrics: OperatorMetrics | None = None) -> Policies:
    """The PPO policy (required) and the meta-controllers that exist (optional, per objective).

    A missing meta-controller only affects applications using that objective in ``meta``
    weight-policy mode: they keep their weights, and get a Fallback event saying why.
    """
    ppo = NumpyPPOPolicy.load(directory / PPO_DIR)
    policies = Policies(ppo)
    loaded = [("ppo", directory / PPO_DIR)]
    for objective in OBJECTIVE_NAMES:
        path = directory / meta_dir(objective)
        try:
            policies.meta[objective] = NumpyMetaActor.load(path)
            loaded.append((meta_dir(objective), path))
        except PolicyError as exc:
            policies.meta_errors[objective] = str(exc)
            log.warning("meta-controller for objective %s not available: %s", objective, exc)
    for name, path in loaded:
        digest = sha256_file(path / METADATA_FILE)
        log.info("loaded policy %s from %s (metadata sha256 %s)", name, path, digest[:12])
        if metrics is not None:
            kind = "ppo-executor-policy" if name == "ppo" else "td3-meta-controller"
            metrics.policy_info.labels(kind, name, digest, "1").set(1)
    return policies


def default_identity() -> str:
    """``$POD_NAME`` in a cluster (stable and readable), else host and pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}/{os.getpid()}"


@dataclass
class Operator:
    """Everything the running operator is made of."""

    settings: OperatorSettings
    api: k8s_client.ApiClient
    autoscaler: Autoscaler
    collector: PrometheusCollector
    events: KubernetesEventSink
    metrics: OperatorMetrics
    identity: str
    priority: int
    peering: PeeringReader | None
    budgets: KubernetesBudgetSink | None = None
    budget_metrics: BudgetMetrics | None = None

    def close(self) -> None:
        if self.budgets is not None:
            self.budgets.close()
        self.events.close()
        self.collector.close()
        close_client(self.api)


def build_operator(settings: OperatorSettings) -> Operator:
    """Raises PolicyError / FileNotFoundError / kubernetes ConfigException on a bad setup."""
    metrics = OperatorMetrics()
    policies = load_policies(settings.policies_dir or default_policies_dir(), metrics)
    api = api_client(settings.kubeconfig)
    identity = settings.identity or default_identity()
    priority = settings.peering_priority
    if priority is None:
        priority = random.SystemRandom().randint(1, 1_000_000)
    events = KubernetesEventSink(api, identity, on_drop=metrics.event_dropped)
    collector = PrometheusCollector(settings)
    budget_metrics = BudgetMetrics(metrics.registry)
    budgets = KubernetesBudgetSink(api, events, budget_metrics)
    autoscaler = Autoscaler(
        settings,
        policies.ppo,
        policies.meta,
        collector,
        SparkApplicationActuator(api, settings.actuation_retries),
        ConfigMapStateStore(api, settings.namespaces),
        events,
        metrics,
        meta_errors=policies.meta_errors,
        budget_sink=budgets,
        budget_source=KubernetesBudgetSource(api, settings.namespaces),
    )
    peering = None
    if settings.peering:
        peering = PeeringReader(api, settings.peering_name, identity, priority, settings.namespaces)
    return Operator(
        settings,
        api,
        autoscaler,
        collector,
        events,
        metrics,
        identity,
        priority,
        peering,
        budgets,
        budget_metrics,
    )
