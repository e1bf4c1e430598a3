"""The state codec: every state the engine makes comes back equal, and the engine goes on from a
decoded state exactly as from the original."""

from __future__ import annotations

import copy
import pickle

import pytest

from benchmarks.engine import workload
from common import events as ev
from jobs.simulate import Simulation
from journeys.catalog import SkuBook
from journeys.codec import CodecError, decode, decode_book, encode, encode_book
from journeys.loader import load_dir
from journeys.state import CustomerState
from tests.unit.journeys.world import DAY, HOUR, T0, World


@pytest.fixture(scope="module")
def states() -> list[CustomerState]:
    """Every customer's state after a simulated shop of 2,000 customers over two days."""
    w = workload(6_000, customers=2_000, skus=200, days=2.0)
    sim = Simulation(load_dir())
    for e in [*w.setup, *w.stream]:
        sim.feed(e)
    assert sum(bool(s.instances) for s in sim.states.values()) > 100
    return list(sim.states.values())


def test_every_state_comes_back_equal_and_smaller_than_its_pickle(states: list[CustomerState]) -> None:
    for s in states:
        blob = encode(s)
        assert decode(blob) == s
        # (marshal marks objects that are referenced twice, so bytes of equal states may differ)
        assert decode(encode(decode(blob))) == s
    assert sum(len(encode(s)) for s in states) < 0.6 * sum(len(pickle.dumps(s, 5)) for s in states)


def test_a_deferred_action_of_an_open_instance_names_that_same_instance_after_decoding() -> None:
    w = World(only=("cart_abandonment",))
    w.product("S1", "Jackets", {"online": 20})
    w.at(T0 + 12 * HOUR).customer("c-1")  # 21:00 in Berlin: the first touch is deferred
    w.click("c-1", "Product Added", cart="k-1", sku="S1")
    w.run_until(T0 + 12 * HOUR + HOUR)
    state = w.state("c-1")
    assert state.deferred and state.instances
    back = decode(encode(state))
    assert back.deferred[0].origin is back.instances[0]


def test_the_engine_goes_on_from_a_decoded_state_as_from_the_original(states: list[CustomerState]) -> None:
    sim = Simulation(load_dir())
    for s in states[:300]:
        later = (s.due or s.last_event) + DAY
        a = sim.engine.on_timer(copy.deepcopy(s), later)
        b = sim.engine.on_timer(decode(encode(s)), later)
        assert (a.actions, a.journey_events, a.next_due) == (b.actions, b.journey_events, b.next_due)


def test_bytes_of_another_layout_are_refused_with_what_they_are() -> None:
    with pytest.raises(CodecError, match="layout"):
        decode(b"\x09" + encode(CustomerState("c-1"))[1:])


def test_a_sku_book_comes_back_with_the_watchers_it_is_given() -> None:
    book = SkuBook("S1", ev.Product("S1", "p-1", "Shell", "Jackets", "N", 129.0), {"online": 3, "s-1": 0}, 7)
    watchers = {"c-1": T0}
    back = decode_book("S1", encode_book(book), watchers)
    assert (back.product, back.stock, back.version) == (book.product, book.stock, book.version)
    assert back.watchers is watchers
    assert decode_book("S2", encode_book(SkuBook("S2")), {}) == SkuBook("S2")
