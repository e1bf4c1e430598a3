from __future__ import annotations

from jobs.stages.metrics import SYNC_EVERY, JourneyCounts, LabelledTally, Tallies, Tally, census
from journeys.state import CustomerState, Instance


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


class FakeGroup:
    """Flink's metric group as far as key/value groups and counters go."""

    def __init__(self, path: tuple[str, ...] = ()) -> None:
        self.path = path
        self.counters: dict[tuple[str, ...], FakeUpDown] = {}

    def add_group(self, key: str, value: str) -> FakeGroup:
        g = FakeGroup((*self.path, f"{key}={value}"))
        g.counters = self.counters
        return g

    def counter(self, name: str) -> FakeUpDown:
        c = self.counters[(*self.path, name)] = FakeUpDown()
        return c


class FakeUpDown(FakeCounter):
    def dec(self, n: int = 1) -> None:
        self.count -= n
        self.calls += 1


def test_a_labelled_tally_makes_one_counter_per_label_values_and_follows_them_up_and_down() -> None:
    counts: dict[tuple[str, ...], int] = {("cart", "email"): 2}
    group = FakeGroup()
    t = LabelledTally(group, "actions_sent", ("journey", "channel"), lambda: counts)
    t.sync()
    counts[("cart", "email")] = 1
    counts[("browse", "push")] = 4
    t.sync()
    t.sync()
    got = {k: c.count for k, c in group.counters.items()}
    assert got == {
        ("journey=cart", "channel=email", "actions_sent"): 1,
        ("journey=browse", "channel=push", "actions_sent"): 4,
    }
    assert group.counters[("journey=cart", "channel=email", "actions_sent")].calls == 2


def _state(*instances: tuple[str, int | None]) -> CustomerState:
    s = CustomerState("c-1")
    s.instances = [Instance(j, 1, "k", "wait", 0, 0, wake_at=w) for j, w in instances]
    return s


def test_journey_counts_follow_instances_waits_and_actions() -> None:
    counts = JourneyCounts(wall=lambda: 10.0)
    counts.moved(census(None), census(_state(("cart", 5_000), ("welcome", None))))
    counts.moved(census(_state(("cart", 5_000))), census(None))
    assert counts.open == {("cart",): 0, ("welcome",): 1}
    assert counts.waiting == {("cart",): 0}
    action = {"journey_id": "cart", "action_type": "cart_reminder", "channel": "email", "decided_at": 9_700}
    suppressed = {"event_type": "suppressed", "journey_id": "cart", "reason": "cap"}
    counts.outputs([action, {**action, "decided_at": 8_000}], [suppressed, {"event_type": "action"}])
    assert counts.actions == {("cart", "cart_reminder", "email"): 2}
    assert counts.suppressed == {("cart", "cap"): 1}
    # 300 ms and 2 s behind: cumulative buckets
    assert counts.latency[("250",)] == 0
    assert counts.latency[("500",)] == 1
    assert counts.latency[("2500",)] == 2 and counts.latency[("Inf",)] == 2
    assert (counts.latency_count, counts.latency_sum_ms) == (2, 2_300)


def test_tallies_also_reach_flink_once_a_second_while_records_come() -> None:
    n, now = [0], [100.0]
    counter = FakeCounter()
    tallies = Tallies(Tally(counter, lambda: n[0]), clock=lambda: now[0])
    tallies.tick()
    n[0] = 3
    tallies.tick()
    assert counter.count == 0, "within the second and under SYNC_EVERY records: not yet"
    now[0] += 1.0
    tallies.tick()
    assert counter.count == 3
