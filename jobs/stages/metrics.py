"""Python-side tallies exported as Flink counters.

No Python gauges: in thread mode a gauge is a Python callable that Flink calls from its own
threads (the metric query service behind the web UI and REST API), and pemja then takes the GIL
from a thread Python does not know; a TaskManager of the standalone cluster died of it with a
SIGSEGV in `take_gil`. A counter is a Java object the operator increments from its own thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Tally:
    """A counter that follows a number the plain-Python core keeps (its `read`): `sync` adds
    what it grew by since the last call, so the core stays free of Flink objects."""

    __slots__ = ("_counter", "_read", "_seen")

    def __init__(self, counter: Any, read: Callable[[], int]) -> None:
        self._counter = counter
        self._read = read
        self._seen = 0

    def sync(self) -> None:
        n = self._read()
        if n != self._seen:
            self._counter.inc(n - self._seen)
            self._seen = n


#: records between two updates of a stage's counters: a counter's `inc` is a call into the JVM
SYNC_EVERY = 256


class Tallies:
    """A stage's tallies, handed to Flink every `SYNC_EVERY` records (`tick`) and when the stage
    closes, instead of a call into the JVM per record: the counters run behind by at most that
    many records."""

    __slots__ = ("_tallies", "_until_sync")

    def __init__(self, *tallies: Tally) -> None:
        self._tallies = tallies
        self._until_sync = 0

    def tick(self) -> None:
        self._until_sync -= 1
        if self._until_sync < 0:
            self._until_sync = SYNC_EVERY
            self.sync()

    def sync(self) -> None:
        for t in self._tallies:
            t.sync()
