"""Records that arrived ahead of journey time, held until the watermark passes them.

Each keyed stage applies its records in journey-time order, not arrival order: a record ahead of
the watermark waits here (with an event-time timer at its time), so that a record read from one
topic never overtakes one from another topic that happened before it. That is what makes a replay
through Kafka decide what `simulate` decides; it costs each record the watermark's lag
(out-of-orderness plus the slowest source's delay). Plain Python: it is stored inside the keyed
state it belongs to, so holding a record costs no extra state access.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Inbox:
    #: (time, arrival number, record), sorted: records of the same time keep their arrival order
    held: list[tuple[int, int, Any]] = field(default_factory=list)
    seq: int = 0

    def hold(self, ts: int, record: Any) -> None:
        insort(self.held, (ts, self.seq, record), key=lambda x: (x[0], x[1]))
        self.seq += 1

    def next_at(self) -> int | None:
        return self.held[0][0] if self.held else None

    def ready(self, until: int) -> list[tuple[int, Any]]:
        """(time, record) of every held record up to `until`, in order; they leave the inbox."""
        n = 0
        while n < len(self.held) and self.held[n][0] <= until:
            n += 1
        out = [(t, r) for t, _, r in self.held[:n]]
        del self.held[:n]
        return out

    def hold_if_early(self, ts: int, record: Any, timers: Any) -> bool:
        """Hold the record if it is ahead of the watermark (with a timer at its time); False: it
        is due now and the caller applies it. `timers` is Flink's timer service, or a fake."""
        if ts <= timers.current_watermark():
            return False
        self.hold(ts, record)
        timers.register_event_time_timer(ts)
        return True

    def __bool__(self) -> bool:
        return bool(self.held)
