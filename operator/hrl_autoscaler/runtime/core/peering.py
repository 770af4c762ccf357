"""Whether this replica may act: kopf's peering rule, applied to the decision loop.

kopf pauses its watches when a live peer has a higher priority, or the same priority (then
every replica of that priority pauses: kopf's peering exists to let a developer's operator
override the deployed one, not to elect among equals). The decision loop is not a kopf handler,
so it reads the same peering object and applies the same rule, plus one condition: this replica
must itself be listed, i.e. kopf has joined the peering and so has seen the other peers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Peer:
    identity: str
    priority: int
    lifetime_s: float
    lastseen: datetime

    def alive(self, now: datetime) -> bool:
        return now < self.lastseen + timedelta(seconds=self.lifetime_s)


def parse_peers(status: Mapping[str, Any]) -> list[Peer]:
    """Peers from a KopfPeering object's ``status`` (identity -> priority, lifetime, lastseen).

    Entries that cannot be read are skipped: another kopf version may add fields, and a
    broken entry must not stop the loop.
    """
    peers = []
    for identity, info in status.items():
        if not isinstance(info, Mapping):
            continue
        try:
            lastseen = datetime.fromisoformat(str(info["lastseen"]))
            if lastseen.tzinfo is None:
                lastseen = lastseen.replace(tzinfo=UTC)
            peers.append(
                Peer(
                    identity=str(identity),
                    priority=int(info.get("priority", 0)),
                    lifetime_s=float(info.get("lifetime", 60)),
                    lastseen=lastseen,
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return peers


def may_act(peers: list[Peer], identity: str, priority: int, now: datetime) -> tuple[bool, str]:
    """(True, why) when this replica leads; (False, why) when it must stand by."""
    if not any(p.identity == identity and p.alive(now) for p in peers):
        return False, f"{identity} is not (yet) listed in the peering object"
    others = [p for p in peers if p.identity != identity and p.alive(now)]
    higher = sorted((p for p in others if p.priority > priority), key=lambda p: -p.priority)
    if higher:
        return False, f"standing by for {higher[0].identity} (priority {higher[0].priority})"
    same = [p.identity for p in others if p.priority == priority]
    if same:
        return False, (
            f"{', '.join(same)} has the same priority {priority}; kopf pauses all of them: "
            "give each replica its own peering priority"
        )
    return True, f"leading with priority {priority} ({len(others)} other live replicas)"
