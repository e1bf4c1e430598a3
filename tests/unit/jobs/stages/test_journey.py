"""The journey stage's core with fake state and timers, as a harness test would drive the operator:
records come in journey-time order (the JVM holds them until then), state is read once and
written at most once, timers are kept to one per customer, and state and timers are gone when
the customer's instances have exited."""

from __future__ import annotations

import pickle
from typing import Any

from common import events as ev
from jobs.stages.cache import StateCache
from jobs.stages.journey import JourneyCore, Slot
from jobs.stages.legacy import Inbox
from journeys.codec import decode
from journeys.engine import Engine, EngineConfig, event_time
from journeys.facts import Reference
from journeys.loader import load_dir
from journeys.state import CustomerState

T0 = 1_795_424_400_000
MIN = 60_000


class FakeState:
    """Value state that keeps what Flink would: the pickled value."""

    def __init__(self) -> None:
        self.blob: bytes | None = None
        self.reads = self.writes = 0

    def value(self) -> Any:
        self.reads += 1
        return None if self.blob is None else pickle.loads(self.blob)

    def update(self, value: Any) -> None:
        self.writes += 1
        self.blob = pickle.dumps(value)

    def clear(self) -> None:
        self.writes += 1
        self.blob = None

    def state(self) -> CustomerState | None:
        return None if self.blob is None else decode(pickle.loads(self.blob))


class FakeTimers:
    def __init__(self) -> None:
        self.timers: set[int] = set()
        self.watermark = 0

    def current_watermark(self) -> int:
        return self.watermark

    def register_event_time_timer(self, t: int) -> None:
        self.timers.add(t)

    def delete_event_time_timer(self, t: int) -> None:
        self.timers.discard(t)


class Outputs:
    def action(self, record: dict[str, Any]) -> bytes:
        return f"action:{record['action_type']}".encode()

    def journey_event(self, record: dict[str, Any]) -> bytes:
        return f"event:{record['event_type']}:{record.get('reason')}".encode()


class Harness:
    """One customer's key: fires timers as the watermark passes them, like Flink."""

    def __init__(self, cache: StateCache[CustomerState] | None = None) -> None:
        engine = Engine(load_dir(), EngineConfig(), Reference())
        self.core = JourneyCore(engine, Outputs(), cache)  # type: ignore[arg-type]
        self.state, self.timers = FakeState(), FakeTimers()
        self.out: list[str] = []

    def event(self, e: ev.EngineInput) -> None:
        """As `EventTimeOrder` hands it over: with the watermark if it is behind it."""
        reads, writes = self.state.reads, self.state.writes
        late_floor = self.timers.watermark if event_time(e) <= self.timers.watermark else None
        self.out += [b.decode() for b in self.core.on_event(self.state, self.timers, e, late_floor)]
        assert self.state.reads <= reads + 1 and self.state.writes <= writes + 1

    def advance(self, watermark: int) -> None:
        while self.timers.timers and min(self.timers.timers) <= watermark:
            t = min(self.timers.timers)
            self.timers.timers.discard(t)
            self.timers.watermark = t
            self.out += [b.decode() for b in self.core.on_timer(self.state, self.timers, t, "c-1")]
        self.timers.watermark = watermark


def customer(cid: str, t: int = T0 - 60 * MIN) -> ev.ChangeEvent:
    row = ev.Customer(cid, f"{cid}@x.test", None, "Europe/Berlin", 52.5, 13.4, "email", "member", 0, False)
    return ev.ChangeEvent("crm.customers", "r", None, row, t, f"crm:{cid}")


def consent(cid: str, granted: bool = True) -> ev.ChangeEvent:
    row = ev.Consent(cid, "email", "marketing", granted, T0 - 60 * MIN)
    return ev.ChangeEvent("crm.consents", "r", None, row, T0 - 60 * MIN, f"consent:{cid}")


def signed_up(cid: str, t: int) -> ev.ClickEvent:
    return ev.ClickEvent(f"m-{cid}-{t}", cid, None, "Signed Up", t)


def test_records_in_journey_time_order_are_applied_at_once_at_their_own_time() -> None:
    h = Harness()
    h.timers.watermark = T0 - 2 * 60 * MIN
    h.event(customer("c-1"))
    h.event(consent("c-1"))
    h.event(signed_up("c-1", T0))
    assert "action:welcome" in h.out, h.out  # the consent was there when the welcome was decided
    assert h.core.late == 0
    state = h.state.state()
    assert state is not None and state.last_event == T0
    assert h.timers.timers == {state.due}, "one timer, at the engine's next due moment"


def test_a_wait_that_ended_before_a_record_fires_before_it_is_applied() -> None:
    h = Harness()
    h.timers.watermark = T0 - 2 * 60 * MIN
    h.event(customer("c-1"))
    h.event(consent("c-1"))
    h.event(signed_up("c-1", T0))
    # the next record comes 4 days later, before the watermark has fired the 3-day wait
    h.event(ev.ClickEvent("m-late", "c-1", None, "Product Viewed", T0 + 4 * 24 * 60 * MIN))
    assert h.out.count("action:welcome") == 2, h.out


def test_a_record_behind_the_watermark_is_applied_at_the_watermark_and_counted_late() -> None:
    h = Harness()
    h.timers.watermark = T0
    h.event(customer("c-1"))
    assert h.core.late == 1
    state = h.state.state()
    assert state is not None and state.last_event == T0


def test_state_and_timers_are_gone_once_every_instance_has_exited() -> None:
    # (a customer's CRM rows stay until they are erased; this one has none)
    h = Harness()
    h.timers.watermark = T0 - 2 * 60 * MIN
    h.event(signed_up("c-1", T0))
    h.advance(T0 + 60 * MIN)
    assert h.state.blob is not None and h.timers.timers, "the welcome series waits 3 days"
    order = ev.ClickEvent("m-o", "c-1", None, "Order Completed", T0 + 2 * 60 * MIN, order_id="o-1")
    h.event(order)
    h.advance(T0 + 400 * 24 * 60 * MIN)  # past every memory the engine keeps
    assert "event:exited:ordered" in h.out
    assert h.state.blob is None
    assert h.timers.timers == set()


def test_a_stale_timer_reads_the_state_and_writes_nothing() -> None:
    h = Harness()
    h.timers.watermark = T0 - 2 * 60 * MIN
    h.event(customer("c-1"))
    writes = h.state.writes
    assert h.core.on_timer(h.state, h.timers, T0 - 90 * MIN) == []
    assert h.state.writes == writes


def test_a_duplicate_writes_nothing() -> None:
    h = Harness()
    h.timers.watermark = T0 - 2 * 60 * MIN
    h.event(customer("c-1"))
    writes = h.state.writes
    h.event(customer("c-1"))
    assert h.state.writes == writes


def test_a_slot_pickled_before_layout_3_is_migrated_and_its_held_events_applied() -> None:
    h = Harness()
    engine = h.core.engine
    state = engine.on_event(None, customer("c-1"), T0 - 60 * MIN).state
    state = engine.on_event(state, consent("c-1"), T0 - 60 * MIN).state
    assert state is not None
    state.v, state.due = 2, None  # as version 2 kept it (no `due`)
    inbox = Inbox()
    inbox.held.append((T0, 0, signed_up("c-1", T0)))
    # pickled as that job did, with the classes' names of then
    blob = pickle.dumps(Slot(state, inbox), protocol=2)
    blob = blob.replace(b"cjobs.stages.legacy\nSlot\n", b"cjobs.stages.journey\nSlot\n")
    blob = blob.replace(b"cjobs.stages.legacy\nInbox\n", b"cjobs.stages.inbox\nInbox\n")
    blob = blob.replace(b"ccommon.events\n", b"cjourneys.events\n")
    assert b"journeys.events" in blob and b"jobs.stages.journey" in blob and b"legacy" not in blob
    h.state.blob = blob
    h.timers.watermark = T0 + MIN
    h.event(ev.ClickEvent("m-2", "c-1", None, "Product Viewed", T0 + 2 * MIN))
    assert "action:welcome" in h.out, h.out
    migrated = h.state.state()
    assert migrated is not None and migrated.v == 3 and "m-c-1-" + str(T0) in migrated.seen


def test_a_cached_state_is_read_from_the_cache_and_still_written_to_flink() -> None:
    h = Harness(StateCache(100, 200 * 86_400_000))
    h.timers.watermark = T0 - 2 * 60 * MIN
    h.event(customer("c-1"))
    h.event(consent("c-1"))
    h.event(signed_up("c-1", T0))
    assert h.state.reads == 1, "only the first record reads the state"
    assert h.state.writes == 3, "every change is written"
    assert "action:welcome" in h.out
    h.advance(T0 + 400 * 24 * 60 * MIN)
    cached = h.core.cache.get("c-1")  # type: ignore[union-attr]
    assert cached == h.state.state(), "the cache holds what Flink holds"


def test_the_cache_decides_exactly_as_reading_the_state_would() -> None:
    plain, cached = Harness(), Harness(StateCache(100, 200 * 86_400_000))
    for h in (plain, cached):
        h.timers.watermark = T0 - 2 * 60 * MIN
        h.event(customer("c-1"))
        h.event(consent("c-1"))
        h.event(signed_up("c-1", T0))
        h.event(customer("c-1"))  # a duplicate: nothing written, nothing cached
        h.advance(T0 + 2 * 24 * 60 * MIN)
        h.event(ev.ClickEvent("m-o", "c-1", None, "Order Completed", T0 + 3 * 24 * 60 * MIN, order_id="o-1"))
        h.advance(T0 + 400 * 24 * 60 * MIN)
    assert cached.out == plain.out
    assert cached.state.blob == plain.state.blob
    assert cached.state.reads < plain.state.reads


def test_a_cleared_state_leaves_the_cache() -> None:
    h = Harness(StateCache(100, 200 * 86_400_000))
    h.timers.watermark = T0 - 2 * 60 * MIN
    h.event(signed_up("c-1", T0))
    order = ev.ClickEvent("m-o", "c-1", None, "Order Completed", T0 + 2 * 60 * MIN, order_id="o-1")
    h.event(order)
    h.advance(T0 + 400 * 24 * 60 * MIN)
    assert h.state.blob is None
    assert h.core.cache.get("c-1") is None  # type: ignore[union-attr]
