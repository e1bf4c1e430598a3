"""Bytewax 0.21 running the project's engine for the cart abandonment and delivery journeys (a
contender of `make bench`; its own venv, `.venv-bytewax`).

    inputs ─► decode, route ─┬─► key on SKU ─► stock per SKU ─┐
                             └────────────────────────────────┴─► key on customer ─► journeys ─► Kafka

Per-key timers: each customer's logic asks to be woken at its next due moment (`notify_at`).
State is snapshotted to the recovery store every second when the flow runs with recovery
(`-r <dir> -s 1`). Run with `python -m bytewax.run benchmarks.compare.peers.bytewax_flow:flow`,
settings from the environment.

What it does not do as the job does, and why:
- **the sink is at-least-once**: after a restart the outputs of the resumed epoch come again;
- **timers run on the clock, not on journey time**: a backlog's waits fall due as it is read,
  whatever came after them in the backlog;
- **no broadcast**: each process reads the stores once at start, with a plain consumer;
- **no order by event time** across partitions; the SKU stage keeps no in-stock ranking per
  category (no alternatives for a sold-out cart).
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage, KafkaSource
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulLogic

from benchmarks.compare.peers.common import JOURNEYS, Peer, Routed
from common.settings import Settings
from connectors.records import KafkaRecord
from journeys.catalog import SkuBook
from journeys.codec import decode, encode
from journeys.routing import CUSTOMERS, SKUS

settings = Settings()
peer = Peer(settings, JOURNEYS)
peer.load_stores()


def _route(m: Any) -> list[Routed]:
    return peer.route(KafkaRecord(m.topic, m.partition, m.offset, m.timestamp[1], m.key, m.value))


class Skus(StatefulLogic):  # type: ignore[misc]
    """Stock per SKU: clicks leave with the SKU's facts, changes become notices to watchers."""

    def __init__(self, resume: bytes | None) -> None:
        self.book: SkuBook | None = None if resume is None else pickle.loads(resume)

    def on_item(self, keyed: tuple[str, Any]) -> tuple[list[Routed], bool]:
        sku, item = keyed
        if self.book is None:
            self.book = SkuBook(sku, watchers={})
        return peer.sku(self.book, item), StatefulLogic.RETAIN

    def snapshot(self) -> bytes:
        return pickle.dumps(self.book, protocol=pickle.HIGHEST_PROTOCOL)


class Journeys(StatefulLogic):  # type: ignore[misc]
    """One customer: the engine on each event, and at its next due moment (a per-key timer)."""

    def __init__(self, resume: bytes | None) -> None:
        self.state = None if resume is None else decode(resume)

    def on_item(self, event: Any) -> tuple[list[tuple[str, bytes]], bool]:
        result = peer.engine.on_event(self.state, event, peer.tick(event))
        self.state = result.state
        return peer.outputs(result), self.state is None

    def on_notify(self) -> tuple[list[tuple[str, bytes]], bool]:
        due = None if self.state is None else peer.engine.due(self.state)
        if self.state is None or due is None:
            return [], self.state is None
        result = peer.engine.on_timer(self.state, due)
        self.state = result.state
        return peer.outputs(result), self.state is None

    def notify_at(self) -> datetime | None:
        due = None if self.state is None else peer.engine.due(self.state)
        return None if due is None else datetime.fromtimestamp(due / 1000, UTC)

    def snapshot(self) -> bytes | None:
        return None if self.state is None else encode(self.state)


flow = Dataflow("journeys")
source = KafkaSource(
    [settings.kafka.bootstrap_servers],
    settings.topics.inputs(),
    add_config={
        # Bytewax keeps its offsets in its recovery store; committing them to the group as well
        # shows its progress as the other contenders' does
        "group.id": settings.consumer_group,
        "enable.auto.commit": "true",
        "auto.commit.interval.ms": "1000",
    },
)
routed = op.flat_map("decode and route", op.input("inputs", flow, source), _route)
to_skus = op.key_on("key on SKU", op.filter("to SKUs", routed, lambda r: r[0] == SKUS), lambda r: r[1])
notices = op.stateful("stock per SKU", op.map_value("SKU and item", to_skus, lambda r: (r[1], r[2])), Skus)
direct = op.filter("to customers", routed, lambda r: r[0] == CUSTOMERS)
to_customers = op.merge("all for customers", direct, op.map("unkey", notices, lambda kv: kv[1]))
by_customer = op.key_on("key on customer", to_customers, lambda r: r[1])
outputs = op.stateful("journeys", op.map_value("event", by_customer, lambda r: r[2]), Journeys)
messages = op.map("to Kafka", outputs, lambda kv: KafkaSinkMessage(kv[0].encode(), kv[1][1], topic=kv[1][0]))
op.output("outputs", messages, KafkaSink([settings.kafka.bootstrap_servers], None))
