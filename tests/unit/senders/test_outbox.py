from __future__ import annotations

from senders.outbox import Outbox


def _read(box: Outbox, partition: int, offset: int, due: int) -> None:
    box.read(partition, offset)
    box.hold(partition, offset, {"action_id": f"a-{partition}-{offset}"}, due)


def test_actions_come_out_in_due_order_not_in_read_order() -> None:
    box = Outbox()
    _read(box, 0, 0, due=300)
    _read(box, 0, 1, due=100)
    _read(box, 1, 0, due=200)
    assert box.due(99) == []
    assert [p.action["action_id"] for p in box.due(250)] == ["a-0-1", "a-1-0"]
    assert box.next_due_ms() == 300


def test_an_offset_is_committable_only_once_everything_below_it_is_done() -> None:
    box = Outbox()
    for offset, due in enumerate([500, 10, 20]):
        _read(box, 0, offset, due)
    for p in box.due(100):  # offsets 1 and 2 are sent; 0 still waits
        box.done(p.partition, p.offset)
    assert box.committable() == {0: 0}
    for p in box.due(600):
        box.done(p.partition, p.offset)
    assert box.committable() == {0: 3}


def test_a_partition_with_nothing_open_commits_after_its_last_record() -> None:
    box = Outbox()
    box.read(3, 41)
    box.done(3, 41)
    assert box.committable() == {3: 42}


def test_forgotten_partitions_leave_their_actions_and_offsets_behind() -> None:
    box = Outbox()
    _read(box, 0, 0, 10)
    _read(box, 1, 0, 10)
    box.forget({1})
    assert [p.partition for p in box.due(100)] == [0]
    assert set(box.committable()) == {0}
