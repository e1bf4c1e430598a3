from __future__ import annotations

from jobs.stages.metrics import SYNC_EVERY, Tallies, Tally


class FakeCounter:
    def __init__(self) -> None:
        self.count = 0
        self.calls = 0

    def inc(self, n: int = 1) -> None:
        self.count += n
        self.calls += 1


def test_a_tally_adds_what_the_number_grew_by_and_calls_nothing_when_it_did_not() -> None:
    n = [0]
    counter = FakeCounter()
    t = Tally(counter, lambda: n[0])
    t.sync()
    assert (counter.count, counter.calls) == (0, 0)
    n[0] = 3
    t.sync()
    t.sync()
    n[0] = 5
    t.sync()
    assert (counter.count, counter.calls) == (5, 2)


def test_tallies_reach_flink_every_few_hundred_records_and_on_close() -> None:
    n = [0]
    counter = FakeCounter()
    tallies = Tallies(Tally(counter, lambda: n[0]))
    for _ in range(SYNC_EVERY + 2):
        n[0] += 1
        tallies.tick()
    assert counter.calls == 2, "one call on the first record, one after SYNC_EVERY more"
    n[0] += 5
    tallies.sync()
    assert counter.count == SYNC_EVERY + 7
