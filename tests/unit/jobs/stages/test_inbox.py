"""Held records come out in journey-time order, ties in arrival order, and only up to the time asked."""

from __future__ import annotations

from jobs.stages.inbox import Inbox


def test_records_leave_in_time_order_ties_in_arrival_order() -> None:
    inbox = Inbox()
    for ts, record in ((30, "c"), (10, "a"), (30, "d"), (20, "b")):
        inbox.hold(ts, record)
    assert inbox.next_at() == 10
    assert inbox.ready(25) == [(10, "a"), (20, "b")]
    assert inbox and inbox.next_at() == 30
    assert inbox.ready(30) == [(30, "c"), (30, "d")]
    assert not inbox and inbox.next_at() is None and inbox.ready(10**15) == []


class Timers:
    def __init__(self, watermark: int) -> None:
        self.watermark = watermark
        self.registered: list[int] = []

    def current_watermark(self) -> int:
        return self.watermark

    def register_event_time_timer(self, t: int) -> None:
        self.registered.append(t)


def test_only_a_record_ahead_of_the_watermark_is_held_with_a_timer_at_its_time() -> None:
    inbox, timers = Inbox(), Timers(watermark=100)
    assert not inbox.hold_if_early(100, "due", timers)
    assert inbox.hold_if_early(101, "early", timers)
    assert timers.registered == [101] and inbox.ready(101) == [(101, "early")]
