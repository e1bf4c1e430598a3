"""What a sender holds between reading an action and being done with it: the actions that wait
for `send_after` or for a retry, in due order, and per partition the offset below which every
action is done (the offset the sender may commit).

Plain Python with the time passed in, so that it is tested with a fake clock; the Kafka loop
(senders/service.py) only moves records in and out.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any


@dataclass(order=True, slots=True)
class Pending:
    """An action waiting to be handled."""

    due_ms: int
    seq: int
    partition: int = field(compare=False)
    offset: int = field(compare=False)
    action: dict[str, Any] = field(compare=False)
    #: provider calls that failed transiently so far
    attempts: int = field(default=0, compare=False)


class _Partition:
    """Offsets read but not done yet, and the next offset after the highest one read."""

    __slots__ = ("done", "next", "open")

    def __init__(self) -> None:
        self.open: list[int] = []  # heap; an offset is removed lazily once it is in `done`
        self.done: set[int] = set()
        self.next = -1

    def committable(self) -> int:
        while self.open and self.open[0] in self.done:
            self.done.discard(heapq.heappop(self.open))
        return self.open[0] if self.open else self.next


class Outbox:
    """Actions in due order, and the offsets that are safe to commit.

    An offset is safe once every action at or below it is done (sent, dropped, dead-lettered):
    a sender that stops re-reads from there, so an action that waits for hours holds its
    partition's committed offset back for as long, and the actions after it that were sent in
    the meantime are read again after a restart (the ledger knows them: senders/ledger.py)."""

    def __init__(self) -> None:
        self._due: list[Pending] = []
        self._seq = itertools.count()
        self._partitions: dict[int, _Partition] = {}

    def __len__(self) -> int:
        return len(self._due)

    def read(self, partition: int, offset: int) -> None:
        """An offset was read; it is open until `done`."""
        p = self._partitions.get(partition)
        if p is None:
            p = self._partitions[partition] = _Partition()
        heapq.heappush(p.open, offset)
        p.next = max(p.next, offset + 1)

    def done(self, partition: int, offset: int) -> None:
        p = self._partitions.get(partition)
        if p is not None:
            p.done.add(offset)

    def hold(
        self, partition: int, offset: int, action: dict[str, Any], due_ms: int, attempts: int = 0
    ) -> None:
        """An action read (`read` first) that is not to be handled before `due_ms`."""
        heapq.heappush(self._due, Pending(due_ms, next(self._seq), partition, offset, action, attempts))

    def due(self, now_ms: int) -> list[Pending]:
        out: list[Pending] = []
        while self._due and self._due[0].due_ms <= now_ms:
            out.append(heapq.heappop(self._due))
        return out

    def next_due_ms(self) -> int | None:
        return self._due[0].due_ms if self._due else None

    def committable(self) -> dict[int, int]:
        """partition -> the offset to commit (the first one not done), for partitions read from."""
        return {n: p.committable() for n, p in self._partitions.items() if p.next >= 0}

    def forget(self, partitions: set[int]) -> None:
        """Partitions this sender no longer owns: their actions are another sender's now."""
        self._due = [p for p in self._due if p.partition not in partitions]
        heapq.heapify(self._due)
        for n in partitions:
            self._partitions.pop(n, None)
