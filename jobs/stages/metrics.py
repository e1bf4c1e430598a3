"""Python-side tallies exported as Flink counters.

No Python gauges: in thread mode a gauge is a Python callable that Flink calls from its own
threads (the metric query service behind the web UI and REST API), and pemja then takes the GIL
from a thread Python does not know; a TaskManager of the standalone cluster died of it with a
SIGSEGV in `take_gil`. A counter is a Java object the operator increments from its own thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from journeys.state import CustomerState


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


class LabelledTally:
    """Counts by label values (a mapping the core keeps, e.g. (journey, channel) -> n), each value
    handed to a counter of its own in Flink's key/value groups, which Flink's Prometheus reporter
    turns into labels. A counter is made the first time its values are seen; a count may go down
    (a counter's `dec`), for numbers that are open/closed rather than ever growing."""

    __slots__ = ("_counters", "_group", "_labels", "_name", "_read", "_seen")

    def __init__(
        self,
        group: Any,
        name: str,
        labels: tuple[str, ...],
        read: Callable[[], Mapping[tuple[str, ...], int]],
    ) -> None:
        self._group = group
        self._name = name
        self._labels = labels
        self._read = read
        self._seen: dict[tuple[str, ...], int] = {}
        self._counters: dict[tuple[str, ...], Any] = {}

    def sync(self) -> None:
        for values, n in self._read().items():
            seen = self._seen.get(values, 0)
            if n == seen:
                continue
            counter = self._counters.get(values)
            if counter is None:
                g = self._group
                for k, v in zip(self._labels, values, strict=True):
                    g = g.add_group(k, v)
                counter = self._counters[values] = g.counter(self._name)
            if n > seen:
                counter.inc(n - seen)
            else:
                counter.dec(seen - n)
            self._seen[values] = n


class Syncs(Protocol):
    def sync(self) -> None: ...


#: records between two updates of a stage's counters: a counter's `inc` is a call into the JVM
SYNC_EVERY = 256
#: and the longest between two, while records come
SYNC_S = 1.0


class Tallies:
    """A stage's tallies, handed to Flink every `SYNC_EVERY` records or `SYNC_S` seconds (on the
    next `tick`), and when the stage closes, instead of a call into the JVM per record: the
    counters run behind by at most that many records or the last second of a stream that then
    went quiet (a Python function gets no call while no record or timer comes)."""

    __slots__ = ("_clock", "_next_sync", "_tallies", "_until_sync")

    def __init__(self, *tallies: Syncs, clock: Callable[[], float] = time.monotonic) -> None:
        self._tallies = tallies
        self._until_sync = 0
        self._clock = clock
        self._next_sync = 0.0

    def tick(self) -> None:
        self._until_sync -= 1
        if self._until_sync < 0 or self._clock() >= self._next_sync:
            self._until_sync = SYNC_EVERY
            self._next_sync = self._clock() + SYNC_S
            self.sync()

    def sync(self) -> None:
        for t in self._tallies:
            t.sync()


#: the decision latency's buckets (Prometheus' `le`), in milliseconds: Flink's reporter writes
#: every character of a label value but letters, digits and _ as _, so "0.05" would reach
#: Prometheus as "0_05", which no query reads as a number; "Inf" is the last bucket
LATENCY_BUCKETS_MS = (50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000)
Census = tuple[tuple[str, bool], ...]


def census(state: CustomerState | None) -> Census:
    """A customer's open instances: (journey, whether it waits for a deadline) each."""
    if state is None or not state.instances:
        return ()
    return tuple((i.journey_id, i.wake_at is not None) for i in state.instances)


class JourneyCounts:
    """What the journey stage counts, by label, in plain Python: actions by journey, type and
    channel; suppressions by journey and reason; open instances and deadline waits by journey
    (up and down as a customer's state changes: since the task started, as every Flink metric);
    and the decision latency, wall-clock time at the decision minus the journey time it was
    taken at, as a Prometheus histogram in milliseconds (cumulative buckets, sum and count)."""

    __slots__ = (
        "_wall",
        "actions",
        "latency",
        "latency_count",
        "latency_sum_ms",
        "open",
        "suppressed",
        "waiting",
    )

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.actions: dict[tuple[str, ...], int] = {}
        self.suppressed: dict[tuple[str, ...], int] = {}
        self.open: dict[tuple[str, ...], int] = {}
        self.waiting: dict[tuple[str, ...], int] = {}
        self.latency: dict[tuple[str, ...], int] = {(str(b),): 0 for b in LATENCY_BUCKETS_MS}
        self.latency[_INF] = 0
        self.latency_sum_ms = 0
        self.latency_count = 0
        self._wall = wall

    def outputs(self, actions: list[dict[str, Any]], journey_events: list[dict[str, Any]]) -> None:
        if actions:
            now_ms = int(self._wall() * 1000)
            for a in actions:
                key: tuple[str, ...] = (a["journey_id"], a["action_type"], a["channel"])
                self.actions[key] = self.actions.get(key, 0) + 1
                lag_ms = max(0, now_ms - a["decided_at"])
                self.latency_sum_ms += lag_ms
                self.latency_count += 1
                for b in LATENCY_BUCKETS_MS:
                    if lag_ms <= b:
                        self.latency[(str(b),)] += 1
                self.latency[_INF] += 1
        for j in journey_events:
            if j["event_type"] == "suppressed":
                why = (j["journey_id"], j.get("reason") or "")
                self.suppressed[why] = self.suppressed.get(why, 0) + 1

    def moved(self, before: Census, after: Census) -> None:
        if before == after:
            return
        for sign, instances in ((-1, before), (1, after)):
            for journey, waits in instances:
                key = (journey,)
                self.open[key] = self.open.get(key, 0) + sign
                if waits:
                    self.waiting[key] = self.waiting.get(key, 0) + sign


_INF: tuple[str, ...] = ("Inf",)
