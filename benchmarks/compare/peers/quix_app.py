"""Quix Streams 3 running the project's engine for the cart abandonment and delivery journeys
(a contender of `make bench`; its own venv, `.venv-quix`, see benchmarks/peers.lock).

    inputs ─► decode, route ─┬─► group_by SKU ─► stock per SKU ─┐
                             └──────────────────────────────────┴─► group_by customer ─► journeys ─► outputs

Exactly-once (Kafka transactions), state in RocksDB with changelog topics, one process
(`python -m benchmarks.compare.peers.quix_app`, settings from the environment; why one:
`benchmarks.compare.contenders._quix`).

What it does not do as the job does, and why:
- **no per-key timers**: a wait falls due only when the customer's next event arrives (a cart
  nobody touches again is never reminded); a ticker would have to produce a message per
  pending wait;
- **no broadcast**: each process reads the stores once at start, with a plain consumer;
- **no order by event time across topics** beyond Quix's own timestamp alignment of the
  partitions it consumes; the stock join costs two repartition topics (SKU, then customer);
- the SKU stage keeps no in-stock ranking per category (no alternatives for a sold-out cart).
"""

from __future__ import annotations

import os
import pickle
from typing import Any

from quixstreams import Application, State, message_context
from quixstreams.models.serializers import Deserializer, Serializer
from quixstreams.state.rocksdb import RocksDBOptions

from benchmarks.compare.peers.common import Peer, Routed
from common.settings import Settings
from connectors.records import KafkaRecord
from jobs.stages import wire
from journeys.catalog import SkuBook
from journeys.codec import decode, encode
from journeys.routing import CUSTOMERS, SKUS


class WireOut(Serializer):  # type: ignore[misc]
    """Into a repartition topic: the item of a routed record, in the job's own compact encoding
    of events between stages (its key is the message's)."""

    def __call__(self, value: Routed, ctx: Any = None) -> bytes:
        return wire.encode(value[2])


class WireIn(Deserializer):  # type: ignore[misc]
    def __call__(self, value: bytes, ctx: Any = None) -> Any:
        return wire.decode(value)


class Stages:
    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def route(self, value: bytes, key: Any, timestamp: int, headers: Any) -> list[Routed]:
        ctx = message_context()
        return self.peer.route(KafkaRecord(ctx.topic, ctx.partition, ctx.offset, timestamp, key, value))

    def skus(self, item: Any, sku: str, timestamp: int, headers: Any, state: State) -> list[Routed]:
        raw = state.get("book")
        book = SkuBook(sku, watchers={}) if raw is None else pickle.loads(raw)
        out = self.peer.sku(book, item)
        state.set("book", pickle.dumps(book, protocol=pickle.HIGHEST_PROTOCOL))
        return out

    def journeys(
        self, event: Any, key: str, timestamp: int, headers: Any, state: State
    ) -> list[tuple[str, bytes]]:
        engine, now = self.peer.engine, self.peer.tick(event)
        raw = state.get("s")
        customer = None if raw is None else decode(raw)
        out: list[tuple[str, bytes]] = []
        # no timers: a wait that fell due is acted on when the customer's next event comes
        due = None if customer is None else engine.due(customer)
        if customer is not None and due is not None and due <= now:
            result = engine.on_timer(customer, due)
            out += self.peer.outputs(result)
            customer = result.state
        result = engine.on_event(customer, event, now)
        out += self.peer.outputs(result)
        if result.state is None:
            state.delete("s")
        else:
            state.set("s", encode(result.state))
        return out


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else pickle.dumps(value)


def main() -> None:
    settings = Settings()
    peer = Peer(settings)
    peer.load_stores()
    stages = Stages(peer)
    app = Application(
        broker_address=settings.kafka.bootstrap_servers,
        consumer_group=settings.consumer_group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=1.0,  # the job checkpoints every second
        state_dir=os.environ.get("QUIX_STATE_DIR", "state"),
        # the engine's own encoding of a customer (bytes) and pickled SKU books as they are
        rocksdb_options=RocksDBOptions(dumps=_as_bytes, loads=bytes),
        loglevel="WARNING",
    )
    frames = [
        app.dataframe(app.topic(t, value_deserializer="bytes", key_deserializer="bytes"))
        for t in settings.topics.inputs()
    ]
    sdf = frames[0]
    for other in frames[1:]:
        sdf = sdf.concat(other)
    routed = sdf.apply(stages.route, expand=True, metadata=True)
    codec = {"value_serializer": WireOut(), "value_deserializer": WireIn()}
    by_sku = routed.filter(lambda r: r[0] == SKUS).group_by(lambda r: r[1], name="sku", **codec)
    notices = by_sku.apply(stages.skus, stateful=True, expand=True, metadata=True)
    direct = routed.filter(lambda r: r[0] == CUSTOMERS)
    by_customer = direct.concat(notices).group_by(lambda r: r[1], name="customer", **codec)
    out = by_customer.apply(stages.journeys, stateful=True, expand=True, metadata=True)
    for name in [*settings.topics.actions.values(), settings.topics.journey_events]:
        topic = app.topic(name, value_serializer="bytes", key_serializer="str")
        out.filter(lambda o, n=name: o[0] == n).apply(lambda o: o[1]).to_topic(topic)
    app.run()


if __name__ == "__main__":
    main()
