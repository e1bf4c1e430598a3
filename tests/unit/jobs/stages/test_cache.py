"""The state cache the keyed stages keep beside Flink's state: least recently used keys go first,
and nothing outlives the state's TTL."""

from __future__ import annotations

from jobs.stages.cache import StateCache


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire_with_the_state_ttl_and_the_least_recently_used_go_first() -> None:
    clock = Clock()
    cache = StateCache[list[str]](2, ttl_ms=10_000, clock=clock)
    a, b, c = ["a"], ["b"], ["c"]
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # a is now the most recently used
    cache.put("c", c)
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    clock.now += 10.0
    assert cache.get("a") is None, "Flink would have dropped a state nobody wrote for the TTL"


def test_no_cache_is_made_for_a_capacity_of_nothing() -> None:
    assert StateCache.sized(0, 200) is None
    cache = StateCache[str].sized(1, 1)
    assert cache is not None
    cache.put("a", "x")
    assert cache.get("a") == "x"
