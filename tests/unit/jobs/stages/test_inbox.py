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
