"""Re-listing under the watch: the level-triggered safety net of the application registry.

Kubernetes controllers trust the list, not the stream of events: a watch is re-established
after a kube-apiserver restart or an expired resourceVersion, and an event lost in between is
not replayed. Every
``resync_interval_s`` the operator lists its SparkApplications and hands them here. Listed ones
are upserted (the registry ignores a version older than the one it holds), so an application
the watch never delivered is managed from the next cycle on. One absent from the list is
dropped only when it was absent from the previous list too: an application created between a
LIST and its reconciliation may be known from the watch but not yet listed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot

log = logging.getLogger("hrl_autoscaler.resync")


class Registry(Protocol):
    """What resync needs of the autoscaler: its known applications, upsert and remove."""

    @property
    def apps(self) -> list[AppKey]: ...

    def upsert(self, snapshot: AppSnapshot) -> None: ...

    def remove(self, key: AppKey) -> None: ...


@dataclass(frozen=True)
class ResyncResult:
    """What one re-list changed: applications the watch had missed, and ones dropped."""

    listed: int
    added: tuple[AppKey, ...]
    removed: tuple[AppKey, ...]


@dataclass
class Resync:
    """Reconciles the registry with successive lists (keeps the previous list's absentees)."""

    registry: Registry
    _absent_before: set[AppKey] = field(default_factory=set)

    def apply(self, listed: Iterable[AppSnapshot]) -> ResyncResult:
        snapshots = list(listed)
        before = set(self.registry.apps)
        for snapshot in snapshots:
            self.registry.upsert(snapshot)
        present = {s.key for s in snapshots if s.enabled}
        absent = set(self.registry.apps) - present
        gone = absent & self._absent_before
        for key in sorted(gone):
            self.registry.remove(key)
        self._absent_before = absent - gone
        added = tuple(sorted(present - before))
        if added:
            log.warning(
                "re-list found %d application(s) the watch had not delivered: %s",
                len(added),
                ", ".join(str(k) for k in added),
            )
        if gone:
            log.warning(
                "re-list: %d application(s) gone without a delete event: %s",
                len(gone),
                ", ".join(str(k) for k in sorted(gone)),
            )
        return ResyncResult(len(snapshots), added, tuple(sorted(gone)))
