"""Decoded state kept beside Flink's, so that a key's next record reads nothing from Flink.

A state read in a Python operator is a call into the JVM with the interpreter's lock held, the
backend's get, unpickling and decoding: the largest share of the job's Python time
(docs/performance.md). A stage whose state changes only where it writes it back can keep what it
wrote and skip the read next time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
DAY_MS = 86_400_000


class StateCache(Generic[T]):
    """The decoded states of the keys seen last, as they were last written.

    Sound for a stage that changes a state only in calls whose result it writes, that writes
    through `put` and clears through `drop`, and that makes one cache per operator instance: a
    restore from a checkpoint starts a new, empty one. Entries older than the state's TTL are
    misses, as Flink would have dropped the state by then; the least recently used entries go
    past `capacity`.
    """

    __slots__ = ("_capacity", "_clock", "_entries", "_ttl_ms")

    def __init__(self, capacity: int, ttl_ms: int, clock: Callable[[], float] = time.time) -> None:
        self._capacity = capacity
        self._ttl_ms = ttl_ms
        self._clock = clock
        # an OrderedDict, not a dict: evicting a plain dict's first entry scans the holes that
        # earlier evictions left at its front, which grew to 3 % of the job's Python time
        self._entries: OrderedDict[str, tuple[T, float]] = OrderedDict()

    @classmethod
    def sized(cls, capacity: int, ttl_days: int) -> StateCache[T] | None:
        """A cache of `capacity` keys expiring with a TTL of `ttl_days`; None for capacity 0."""
        return cls(capacity, ttl_days * DAY_MS) if capacity > 0 else None

    def get(self, key: str) -> T | None:
        entries = self._entries
        entry = entries.get(key)
        if entry is None:
            return None
        if (self._clock() - entry[1]) * 1000 >= self._ttl_ms:
            del entries[key]
            return None
        entries.move_to_end(key)  # most recently used last
        return entry[0]

    def put(self, key: str, state: T) -> None:
        entries = self._entries
        entries[key] = (state, self._clock())
        entries.move_to_end(key)
        if len(entries) > self._capacity:
            entries.popitem(last=False)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)
