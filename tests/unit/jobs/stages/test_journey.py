"""The journey stage's core with fake state and timers, as a harness test would drive the operator:
events wait for journey time, state is read once and written once, timers are kept to one per
customer, and state and timers are gone when the customer's instances have exited."""

from __future__ import annotations

from typing import Any

from common import events as ev
from jobs.stages.journey import JourneyCore, Slot
from journeys.engine import Engine, EngineConfig
from journeys.facts import Reference
from journeys.loader import load_dir

T0 = 1_795_424_400_000
MIN = 60_000


class FakeState:
    def __init__(self) -> None:
        self.slot: Slot | None = None
        self.reads = self.writes = 0

    def value(self) -> Slot | None:
        self.reads += 1
        return self.slot

    def update(self, slot: Slot) -> None:
        self.writes += 1
        self.slot = slot

    def clear(self) -> None:
        self.writes += 1
        self.slot = None


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

    def __init__(self) -> None:
        self.core = JourneyCore(Engine(load_dir(), EngineConfig(), Reference()), Outputs())  # type: ignore[arg-type]
        self.state, self.timers = FakeState(), FakeTimers()
        self.out: list[str] = []

    def event(self, e: ev.EngineInput) -> None:
        reads = self.state.reads
        self.out += [b.decode() for b in self.core.on_event(self.state, self.timers, e)]
        assert self.state.reads == reads + 1

    def advance(self, watermark: int) -> None:
        while self.timers.timers and min(self.timers.timers) <= watermark:
            t = min(self.timers.timers)
            self.timers.timers.discard(t)
            self.timers.watermark = t
            self.out += [b.decode() for b in self.core.on_timer(self.state, self.timers, t)]
        self.timers.watermark = watermark


def customer(cid: str) -> ev.ChangeEvent:
    row = ev.Customer(cid, f"{cid}@x.test", None, "Europe/Berlin", 52.5, 13.4, "email", "member", 0, False)
    return ev.ChangeEvent("crm.customers", "r", None, row, T0 - 60 * MIN, f"crm:{cid}")


def consent(cid: str, granted: bool = True) -> ev.ChangeEvent:
    row = ev.Consent(cid, "email", "marketing", granted, T0 - 60 * MIN)
    return ev.ChangeEvent("crm.consents", "r", None, row, T0 - 60 * MIN, f"consent:{cid}")


def signed_up(cid: str, t: int) -> ev.ClickEvent:
    return ev.ClickEvent(f"m-{cid}-{t}", cid, None, "Signed Up", t)


def test_an_event_ahead_of_the_watermark_waits_and_is_applied_in_journey_time_order() -> None:
    h = Harness()
    h.timers.watermark = T0 - 2 * 60 * MIN
    # the sign-up is read before the customer's CRM rows, which happened an hour earlier
    h.event(signed_up("c-1", T0))
    h.event(customer("c-1"))
    h.event(consent("c-1"))
    assert h.out == [] and h.state.writes == 3
    h.advance(T0)
    assert "action:welcome" in h.out, h.out  # the consent was there when the welcome was decided


def test_an_event_behind_the_watermark_is_applied_at_once_and_counted_late() -> None:
    h = Harness()
    h.timers.watermark = T0
    h.event(customer("c-1"))
    assert h.core.late == 1
    assert h.state.slot is not None and not h.state.slot.inbox


def test_state_and_timers_are_gone_once_every_instance_has_exited() -> None:
    # (a customer's CRM rows stay until they are erased; this one has none)
    h = Harness()
    h.timers.watermark = T0 - 2 * 60 * MIN
    h.event(signed_up("c-1", T0))
    h.advance(T0 + 60 * MIN)
    assert h.state.slot is not None and h.timers.timers, "the welcome series waits 3 days"
    order = ev.ClickEvent("m-o", "c-1", None, "Order Completed", T0 + 2 * 60 * MIN, order_id="o-1")
    h.event(order)
    h.advance(T0 + 400 * 24 * 60 * MIN)  # past every memory the engine keeps
    assert "event:exited:ordered" in h.out
    assert h.state.slot is None
    assert h.timers.timers == set()


def test_a_stale_timer_reads_the_state_and_writes_nothing() -> None:
    h = Harness()
    h.timers.watermark = T0 - 2 * 60 * MIN
    h.event(customer("c-1"))
    writes = h.state.writes
    assert h.core.on_timer(h.state, h.timers, T0 - 90 * MIN) == []
    assert h.state.writes == writes
