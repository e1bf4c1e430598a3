"""The peers' shared core (decode, route, SKU books, engine) decides as `simulate` does: a peer is
a fair contender only if it does the job's work. Timers fire here as `simulate` fires them (each
peer has its own way, or none); alternatives for a sold-out cart are the one thing the peers
leave out (no category rankings)."""

from __future__ import annotations

import heapq
import time
from typing import Any

from benchmarks.compare.peers.common import JOURNEYS, Peer
from benchmarks.compare.workload import Shop, backlog
from benchmarks.workload import _Records
from common.settings import Settings
from connectors.avro import LocalSchemas
from connectors.decoder import Decoder
from jobs.simulate import Simulation, parse_records
from journeys.catalog import SkuBook
from journeys.loader import load_dir
from journeys.routing import SKUS


def _peer_actions(lines: list[str]) -> list[dict[str, Any]]:
    peer = Peer(Settings())
    peer.decoder = Decoder(Settings(), LocalSchemas())  # no registry: the records are JSON
    books: dict[str, SkuBook] = {}
    states: dict[str, Any] = {}
    actions: list[dict[str, Any]] = []
    stores_topic = Settings().topics.cdc["inventory.stores"]
    stores = [r for r in parse_records(lines) if r.topic == stores_topic]
    assert stores
    for r in stores:  # as `Peer.load_stores` reads them, without Kafka
        event = peer.decoder.decode(r)
        peer.reference.set_store(event.after, event.after.store_id)  # type: ignore[union-attr]
    timers: list[tuple[int, str]] = []

    def keep(customer: str, result: Any) -> None:
        states[customer] = result.state
        actions.extend(result.actions)
        if result.next_due is not None:
            heapq.heappush(timers, (result.next_due, customer))

    for record in parse_records(lines):
        for to, key, item in peer.route(record):
            book = books.setdefault(key, SkuBook(key, watchers={})) if to == SKUS else None
            for _, customer, event in [(to, key, item)] if book is None else peer.sku(book, item):
                now = peer.tick(event)
                while timers and timers[0][0] <= now:
                    due, who = heapq.heappop(timers)
                    state = states.get(who)
                    if state is not None and peer.engine.due(state) == due:
                        keep(who, peer.engine.on_timer(state, due))
                keep(customer, peer.engine.on_event(states.get(customer), event, now))
    return actions


def test_the_peers_core_decides_the_delivery_updates_simulate_decides() -> None:
    w = _Records(lsn=True)
    backlog(w, Shop(customers=300, skus=100, sessions=600, seed=5), int(time.time() * 1000) - 3_600_000)
    lines = w.lines()
    sim = Simulation([j for j in load_dir() if j.id in JOURNEYS])
    sim.run(parse_records(lines), drain_ms=0)
    expected = {a["action_id"] for a in sim.actions if a["action_type"] == "delivery_status_update"}
    got = {a["action_id"] for a in _peer_actions(lines) if a["action_type"] == "delivery_status_update"}
    assert expected and got == expected


def test_the_peers_core_decides_what_simulate_decides_but_alternatives() -> None:
    w = _Records(lsn=True)
    backlog(w, Shop(customers=300, skus=100, sessions=600, seed=6), int(time.time() * 1000) - 3_600_000)
    lines = w.lines()
    sim = Simulation([j for j in load_dir() if j.id in JOURNEYS])
    sim.run(parse_records(lines), drain_ms=0)
    expected = {a["action_id"] for a in sim.actions if a["action_type"] != "cart_alternatives"}
    got = {a["action_id"] for a in _peer_actions(lines)}
    assert {a["action_type"] for a in sim.actions} >= {"cart_reminder", "delivery_status_update"}
    assert got == expected
