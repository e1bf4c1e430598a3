"""The journey stage's Python work per record, outside Flink (`journeyctl bench engine`'s third row).

`jobs.stages.journey.JourneyCore` is what the operator runs for each record and timer: it reads
the customer's state, decodes it (`journeys.codec`), steps the engine, encodes the state again,
moves the customer's one timer and makes the outputs' JSON batch for the JVM. Here it runs over
exactly the inputs of the "engine alone" row, against a value state that keeps what Flink's
`PICKLED_BYTE_ARRAY` state keeps (the pickled bytes), the job's state cache, and a timer service
over one heap, so the difference between the two rows is the price of state (de)serialization,
timer bookkeeping and output encoding, without the PyFlink crossing itself (DESIGN.md: ~30 us).
"""

from __future__ import annotations

import heapq
import pickle
import time
from typing import Any

from common import events as ev
from common.settings import Settings
from connectors.outputs import OutputEncoder
from jobs.stages.cache import StateCache
from jobs.stages.journey import JourneyCore
from journeys.definition import Journey
from journeys.engine import Engine, EngineConfig, customer_of, event_time
from journeys.facts import Reference

CORE = "JourneyCore (state as Flink stores it)"


class _ValueState:
    """One key's value state as Flink keeps it for a Python operator: the pickled value."""

    __slots__ = ("blob",)

    def __init__(self) -> None:
        self.blob: bytes | None = None

    def value(self) -> Any:
        return None if self.blob is None else pickle.loads(self.blob)

    def update(self, value: Any) -> None:
        self.blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def clear(self) -> None:
        self.blob = None


class _TimerService:
    """Every key's event-time timers on one heap; a deleted timer is skipped when it comes up."""

    def __init__(self) -> None:
        self.heap: list[tuple[int, str]] = []
        self.live: set[tuple[int, str]] = set()
        self.key = ""

    def register_event_time_timer(self, t: int) -> None:
        if (t, self.key) not in self.live:
            self.live.add((t, self.key))
            heapq.heappush(self.heap, (t, self.key))

    def delete_event_time_timer(self, t: int) -> None:
        self.live.discard((t, self.key))


def core_row(
    journeys: list[Journey],
    stores: dict[str, ev.Store],
    preload: list[ev.EngineInput],
    inputs: list[ev.EngineInput],
) -> tuple[float, int, int, list[int]]:
    """(seconds, output records, timers fired, state bytes per customer at the end)."""
    settings = Settings()
    core = JourneyCore(
        Engine(journeys, EngineConfig(), Reference(stores=dict(stores))),
        OutputEncoder(settings),
        StateCache.sized(settings.journeys.state_cache, settings.journeys.state_ttl_days),
    )
    states: dict[str, _ValueState] = {}
    timers = _TimerService()
    outputs = fired = 0
    heap, live, pop, batch = timers.heap, timers.live, heapq.heappop, OutputEncoder.batch

    def feed(e: ev.EngineInput) -> int:
        cid = customer_of(e)
        if cid is None:
            return 0
        timers.key = cid
        store = states.get(cid)
        if store is None:
            store = states[cid] = _ValueState()
        out = core.on_event(store, timers, e)
        if out:
            batch(out)
        return len(out)

    for e in preload:
        feed(e)
    start = time.perf_counter()
    for e in inputs:
        t = event_time(e)
        # the JVM releases a record once the watermark has passed it; the timers before it fire first
        while heap and heap[0][0] < t:
            due, cid = pop(heap)
            if (due, cid) not in live:
                continue
            live.discard((due, cid))
            timers.key = cid
            out = core.on_timer(states[cid], timers, due, cid)
            if out:
                batch(out)
            outputs += len(out)
            fired += 1
        outputs += feed(e)
    seconds = time.perf_counter() - start
    sizes = [len(s.blob) for s in states.values() if s.blob is not None]
    return seconds, outputs, fired, sizes
