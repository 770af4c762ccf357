"""The modifiers' metrics: excluded periods and pauses (``hrl_autoscaler_excluded``,
``hrl_autoscaler_paused``), in the operator's registry.

Part of :class:`~hrl_autoscaler.runtime.service.telemetry.OperatorMetrics` (which delegates to
it), kept apart so that module stays one job. Same rules as there: the labels ``namespace`` and
``application``, series created at 0 as soon as the application is seen (a panel shows 0, not
"No data"), and removed when it is no longer managed.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Gauge

from hrl_autoscaler.runtime.core.annotations import AppSettings
from hrl_autoscaler.runtime.core.application import AppKey
from hrl_autoscaler.runtime.core.modifiers import (
    PAUSED_EXECUTORS,
    PAUSED_SCALE_IN,
    PAUSED_SCALE_OUT,
)

APP = ["namespace", "application"]
PAUSES = (PAUSED_SCALE_IN, PAUSED_SCALE_OUT, PAUSED_EXECUTORS)


class ModifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.excluded = Gauge(
            "hrl_autoscaler_excluded",
            "1 while the last decision fell inside one of the application's excluded periods "
            "(annotation excluded-periods: auto only recommends), else 0",
            APP,
            registry=registry,
        )
        self.paused = Gauge(
            "hrl_autoscaler_paused",
            "1 for each pause annotation in force (pause: paused-scale-in, paused-scale-out, "
            "paused-executors), else 0",
            [*APP, "pause"],
            registry=registry,
        )
        self.paused_executors = Gauge(
            "hrl_autoscaler_paused_executors",
            "the count annotation paused-executors holds the application at (absent when unset)",
            APP,
            registry=registry,
        )

    def seen(self, key: AppKey, settings: AppSettings) -> None:
        ns, name = key.namespace, key.name
        self.excluded.labels(ns, name)
        active = settings.active_pauses()
        for pause in PAUSES:
            self.paused.labels(ns, name, pause).set(1 if pause in active else 0)
        if settings.paused_executors is not None:
            self.paused_executors.labels(ns, name).set(settings.paused_executors)
        else:
            _remove(self.paused_executors, ns, name)

    def decided(self, key: AppKey, excluded: bool) -> None:
        self.excluded.labels(key.namespace, key.name).set(1 if excluded else 0)

    def forget(self, key: AppKey) -> None:
        ns, name = key.namespace, key.name
        _remove(self.excluded, ns, name)
        _remove(self.paused_executors, ns, name)
        for pause in PAUSES:
            _remove(self.paused, ns, name, pause)


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
