"""State written by the job before its state codec (layout 3): read once, and migrated.

Until then each keyed stage pickled one Python object per key: the journey stage a `Slot`
(customer state and the events it held until journey time), the SKU stage a `SkuSlot` (the
SKU's book with its watchers, and its held records). Pickle names every class by its module, so
these classes stay loadable under their old names (`jobs.stages.journey.Slot`,
`jobs.stages.catalog.SkuSlot`, `jobs.stages.inbox.Inbox`, and the event types under
`journeys.events`), and a savepoint of such a job restores into this one. The stages turn what
they read into the new layout on first access and write it back in that; the ordering of held
records moved into the JVM (`EventTimeOrder`), so records a slot still held are applied at once,
in their journey-time order, when it is migrated.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from common import events
from journeys.catalog import SkuBook
from journeys.state import CustomerState


@dataclass(slots=True)
class Inbox:
    #: (time, arrival number, record), sorted
    held: list[tuple[int, int, Any]] = field(default_factory=list)
    seq: int = 0


@dataclass(slots=True)
class Slot:
    state: CustomerState | None = None
    inbox: Inbox = field(default_factory=Inbox)


@dataclass(slots=True)
class SkuSlot:
    book: SkuBook
    inbox: Inbox = field(default_factory=Inbox)


def held(inbox: Inbox) -> list[tuple[int, Any]]:
    """(time, record) of what an inbox held, in the order it would have released them."""
    return [(t, r) for t, _, r in sorted(inbox.held, key=lambda x: (x[0], x[1]))]


# the old homes of these classes, for pickle
sys.modules.setdefault("journeys.events", events)
sys.modules.setdefault("jobs.stages.inbox", sys.modules[__name__])
