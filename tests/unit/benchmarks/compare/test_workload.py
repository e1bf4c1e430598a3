"""The shop `make bench` writes: the same for a seed, in the contract's formats, with latency
probes whose actions name them."""

from __future__ import annotations

import time

from benchmarks.compare.workload import PROBE, Shop, Stream, backlog
from benchmarks.workload import _Records
from jobs.simulate import Simulation, parse_records
from journeys.loader import load_dir

SMALL = Shop(customers=500, skus=200, sessions=800, seed=3)
#: an hour ago: the customers live where it is daytime now (`workload.ZONE`)
T0 = int(time.time() * 1000) - 3_600_000


def _written(shop: Shop) -> tuple[_Records, dict[str, int]]:
    w = _Records(lsn=True)
    probes: dict[str, int] = {}
    s = Stream(shop)
    for kind, emit in [*s.setup(), *s.sessions()]:
        event_id = emit(w, T0 + w.n)
        if kind == PROBE:
            assert event_id is not None
            probes[event_id] = T0 + w.n
    return w, probes


def test_a_seed_makes_the_same_records_and_another_seed_others() -> None:
    a, b = _Records(lsn=True), _Records(lsn=True)
    backlog(a, SMALL, T0)
    backlog(b, SMALL, T0)
    assert a.lines() == b.lines()
    c = _Records(lsn=True)
    backlog(c, Shop(customers=500, skus=200, sessions=800, seed=4), T0)
    assert c.lines() != a.lines()


def test_every_kind_of_record_is_in_the_mix_and_activity_is_skewed() -> None:
    w = _Records(lsn=True)
    mix = backlog(w, SMALL, T0).mix
    kinds = {"store", "product", "stock", "customer", "consent", "view", "add", "remove", "checkout"}
    kinds |= {"order", "order change", "shipment", PROBE, "ticket", "tier"}
    assert kinds <= set(mix), kinds - set(mix)
    assert sum(mix.values()) == w.n
    clicks: dict[str, int] = {}
    for src, key, _, _ in w.kept:
        if src == "clickstream":
            clicks[key] = clicks.get(key, 0) + 1
    busiest = sorted(clicks.values(), reverse=True)
    # the busiest tenth of the customers make far more than a tenth of the clicks
    assert sum(busiest[: len(busiest) // 10]) > 0.25 * sum(busiest)


def test_the_records_decode_and_each_probe_causes_an_action_that_names_it() -> None:
    w, probes = _written(SMALL)
    sim = Simulation(load_dir())
    sim.run(parse_records(w.lines()), drain_ms=3_600_000)  # the carts' 30-minute waits
    assert not [k for k in sim.counts if k.startswith(("dead_letter", "skipped"))], sim.counts
    assert probes
    named = {a["trigger_event_id"] for a in sim.actions if a["action_type"] == "delivery_status_update"}
    assert named == set(probes)
    assert {a["journey_id"] for a in sim.actions} >= {"cart_abandonment", "delivery_followup"}


def test_the_sentinel_comes_last_and_is_acted_on() -> None:
    w = _Records(lsn=True)
    sentinel = backlog(w, SMALL, T0).sentinel
    assert w.kept[-1][1] == {"shipment_id": "sentinel-sh"}
    sim = Simulation(load_dir())
    sim.run(parse_records(w.lines()), drain_ms=0)
    assert sentinel in {a["trigger_event_id"] for a in sim.actions}
