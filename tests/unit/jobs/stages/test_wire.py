"""Records between stages: every kind comes back equal, and much cheaper than pickle made them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from benchmarks.engine import workload
from common import events as ev
from jobs.simulate import Simulation
from jobs.stages import wire
from journeys.catalog import FactsRequest, RankUpdate
from journeys.loader import load_dir


def test_every_kind_of_record_comes_back_equal() -> None:
    w = workload(3_000, customers=500, skus=100, days=1.0)
    sim = Simulation(load_dir())
    seen: set[type] = set()
    for e in [*w.setup, *w.stream]:
        notices = sim.catalog.enrich(e) if type(e) is ev.ClickEvent else []
        for r in [e, *notices]:
            assert wire.decode(wire.encode(r)) == r
            seen.add(type(r))
    facts = ev.SkuFacts("S1", "n", "c", "b", 1.0, 3, {"s-1": 2}, (ev.SkuFacts("S2", online=4),), 7)
    for r in (
        FactsRequest("S1", "c-1", "Order Completed", "m-1", 5),
        RankUpdate("c", "S1", facts, 5),
        RankUpdate("c", "S1", None, 5),
        ev.StockNotice("c-1", facts, 5, "x"),
    ):
        assert wire.decode(wire.encode(r)) == r
    assert {ev.ClickEvent, ev.ChangeEvent, ev.ChannelFeedback} <= seen
    assert any(type(e) is ev.ClickEvent and e.facts for e in w.stream), "clicks with facts were checked"


def test_a_property_marshal_cannot_carry_is_carried_by_pickle() -> None:
    click = ev.ClickEvent("m-1", "c-1", None, "Promo Seen", 5, extra={"amount": Decimal("1.5")})
    blob = wire.encode(click)
    assert blob[:1] == b"\xff" and wire.decode(blob) == click


def test_bytes_of_another_layout_are_refused() -> None:
    with pytest.raises(wire.WireError, match="layout"):
        wire.decode(b"\x07" + wire.encode(ev.ChannelFeedback("a", "c", "email", "opened", 1))[1:])


@pytest.mark.parametrize("pickled", [False, True])
def test_a_record_let_through_late_comes_with_the_watermark_it_was_behind(pickled: bool) -> None:
    extra = {"amount": Decimal("1.5")} if pickled else {}
    click = ev.ClickEvent("m-1", "c-1", None, "Product Viewed", 5, extra=extra)
    blob = wire.encode(click)
    # what EventTimeOrder.markedLate makes of it
    late = bytes([wire.LATE]) + (1_795_424_400_000).to_bytes(8, "big") + blob
    assert wire.decode_timed(late) == (click, 1_795_424_400_000)
    assert wire.decode_timed(blob) == (click, None)
    assert wire.decode(late) == click, "a stage that does not care whether it is late"
