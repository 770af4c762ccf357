"""``with thing:`` for everything the tools start: it starts, and it stops whatever happens."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class StartStop:
    """A context manager from ``start()`` (returning the started object) and ``stop()``.

    ``stop_on_exit`` is told whether the body failed (a stack keeps its logs then); by default
    it just stops.
    """

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def stop_on_exit(self, failed: bool) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_on_exit(failed=exc_type is not None)
