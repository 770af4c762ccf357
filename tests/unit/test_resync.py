"""Re-listing under the watch: missed applications are added, vanished ones dropped only after
two lists, and an older listed version never overwrites a newer watched one."""

from __future__ import annotations

from dataclasses import dataclass, field

from hrl_autoscaler.runtime.core.annotations import ENABLED_LABEL
from hrl_autoscaler.runtime.core.application import AppKey, AppSnapshot
from hrl_autoscaler.runtime.core.resync import Resync


def snap(name: str, rv: str = "1", enabled: bool = True) -> AppSnapshot:
    labels = {ENABLED_LABEL: "true" if enabled else "false"}
    return AppSnapshot(AppKey("ns", name), f"uid-{name}", rv, labels=labels)


@dataclass
class FakeRegistry:
    known: dict[AppKey, AppSnapshot] = field(default_factory=dict)

    @property
    def apps(self) -> list[AppKey]:
        return sorted(self.known)

    def upsert(self, snapshot: AppSnapshot) -> None:
        if not snapshot.enabled:
            self.remove(snapshot.key)
            return
        held = self.known.get(snapshot.key)
        if held is None or int(snapshot.resource_version) >= int(held.resource_version):
            self.known[snapshot.key] = snapshot

    def remove(self, key: AppKey) -> None:
        self.known.pop(key, None)


def test_an_application_the_watch_missed_is_added_by_the_next_list() -> None:
    registry = FakeRegistry({AppKey("ns", "a"): snap("a")})
    result = Resync(registry).apply([snap("a"), snap("missed")])
    assert result.added == (AppKey("ns", "missed"),)
    assert registry.apps == [AppKey("ns", "a"), AppKey("ns", "missed")]


def test_an_absent_application_is_dropped_only_when_two_lists_in_a_row_miss_it() -> None:
    registry = FakeRegistry({AppKey("ns", "a"): snap("a"), AppKey("ns", "new"): snap("new")})
    resync = Resync(registry)
    first = resync.apply([snap("a")])  # "new" came by the watch after the LIST was taken
    assert first.removed == ()
    assert AppKey("ns", "new") in registry.apps
    assert resync.apply([snap("a"), snap("new")]).removed == ()  # listed now: kept
    assert resync.apply([snap("a")]).removed == ()
    assert resync.apply([snap("a")]).removed == (AppKey("ns", "new"),)
    assert registry.apps == [AppKey("ns", "a")]


def test_a_listed_older_version_does_not_replace_the_watched_one() -> None:
    registry = FakeRegistry({AppKey("ns", "a"): snap("a", rv="9")})
    Resync(registry).apply([snap("a", rv="5")])
    assert registry.known[AppKey("ns", "a")].resource_version == "9"


def test_a_disabled_application_in_the_list_is_dropped_at_once() -> None:
    registry = FakeRegistry({AppKey("ns", "a"): snap("a")})
    Resync(registry).apply([snap("a", rv="2", enabled=False)])
    assert registry.apps == []
