"""Quix Streams 3 running the project's engine for the cart abandonment and delivery journeys
(a contender of `make bench`; its own venv, `.venv-quix`, see benchmarks/peers.lock).

    inputs ─► decode, route ─┬─► group_by SKU ─► stock per SKU ─┐
                             └──────────────────────────────────┴─► group_by customer ─► journeys ─► outputs

Exactly-once (Kafka transactions), state in RocksDB with changelog topics, one process per
partition share (`python -m benchmarks.compare.peers.quix_app`, settings from the environment).

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

from confluent_kafka import Consumer, TopicPartition
from quixstreams import Application, State, message_context
from quixstreams.models.serializers import Deserializer, Serializer
from quixstreams.state.rocksdb import RocksDBOptions

from common import events as ev
from common.settings import Settings
from connectors.avro import Encoder, RegistryClient, load_schema
from connectors.decoder import DeadLetter, Decoder, Skipped
from connectors.records import KafkaRecord
from jobs.stages import wire
from journeys.catalog import FactsRequest, SkuBook
from journeys.codec import decode, encode
from journeys.engine import Engine, EngineConfig, event_time
from journeys.facts import Reference
from journeys.loader import DEFINITIONS, load_dir
from journeys.routing import CUSTOMERS, SKUS, STORES, route_event

JOURNEYS = ("cart_abandonment", "delivery_followup")


class WireOut(Serializer):  # type: ignore[misc]
    """Into a repartition topic: the item of a routed (destination, key, item), in the job's own
    compact encoding of events between stages; the key is the message's."""

    def __call__(self, value: Any, ctx: Any = None) -> bytes:
        return wire.encode(value[2])


class WireIn(Deserializer):  # type: ignore[misc]
    def __call__(self, value: bytes, ctx: Any = None) -> Any:
        return wire.decode(value)


class App:
    def __init__(self, settings: Settings) -> None:
        self.s = settings
        registry = RegistryClient(settings.registry.client_config())
        self.decoder = Decoder(settings, registry)
        journeys = [j for j in load_dir(DEFINITIONS) if j.id in JOURNEYS]
        self.reference = Reference()
        self.engine = Engine(journeys, EngineConfig.from_settings(settings.journeys), self.reference)
        self.low = settings.journeys.low_stock_threshold
        t = settings.topics
        action = load_schema("action")
        self.actions = {ch: Encoder(registry, topic, action) for ch, topic in t.actions.items()}
        self.events = Encoder(registry, t.journey_events, load_schema("journey_event"))
        self.clock = 0

    def load_stores(self) -> None:
        """Every store, read once: Quix has no broadcast of a small table to every partition."""
        c = Consumer({**self.s.kafka.librdkafka_properties(), "group.id": "quix-stores"})
        topic = self.s.topics.cdc["inventory.stores"]
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        left = {p for p, end in ends.items() if end > 0}
        while left:
            m = c.poll(1.0)
            if m is None or m.error() is not None:
                continue
            at = m.offset() or 0
            record = KafkaRecord(topic, m.partition() or 0, at, m.timestamp()[1], m.key(), m.value())
            event = self.decoder.decode(record)
            if type(event) is ev.ChangeEvent:
                store = event.after
                self.reference.set_store(store, (store or event.before).store_id)  # type: ignore[arg-type,union-attr]
            if (m.offset() or 0) + 1 >= ends[m.partition() or 0]:
                left.discard(m.partition() or 0)
        c.close()

    def route(self, value: bytes, key: Any, timestamp: int, headers: Any) -> list[tuple[int, str, Any]]:
        """Decode and route: (destination, key, item)."""
        ctx = message_context()
        record = KafkaRecord(ctx.topic, ctx.partition, ctx.offset, timestamp, key, value)
        event = self.decoder.decode(record)
        if type(event) is DeadLetter or type(event) is Skipped:
            return []  # the job writes these to the dead-letter topic
        return [(to, item[0], item[1]) for to, item in route_event(event) if to != STORES]  # type: ignore[arg-type]

    def skus(
        self, item: Any, sku: str, timestamp: int, headers: Any, state: State
    ) -> list[tuple[int, str, Any]]:
        """Stock per SKU: clicks leave with the SKU's facts, changes become notices to watchers."""
        raw = state.get("book")
        book = SkuBook(sku, watchers={}) if raw is None else pickle.loads(raw)
        if type(item) is ev.ClickEvent:
            out = [book.enrich(item)]
        elif type(item) is FactsRequest:
            notice = book.request(item)
            out = [] if notice is None else [notice]
        else:
            found, _ = book.apply(item, self.low)
            out = list(found)
        state.set("book", pickle.dumps(book, protocol=pickle.HIGHEST_PROTOCOL))
        return [(CUSTOMERS, _customer(n), n) for n in out]

    def journeys(
        self, event: Any, key: str, timestamp: int, headers: Any, state: State
    ) -> list[tuple[str, bytes]]:
        """The engine for one customer: (topic, Avro value) of each action and journey event."""
        self.clock = max(self.clock, event_time(event))
        raw = state.get("s")
        customer_state = None if raw is None else decode(raw)
        out: list[tuple[str, bytes]] = []
        # no timers: a wait that fell due is acted on when the customer's next event comes
        due = None if customer_state is None else self.engine.due(customer_state)
        if customer_state is not None and due is not None and due <= self.clock:
            result = self.engine.on_timer(customer_state, due)
            out += self._outputs(result)
            customer_state = result.state
        result = self.engine.on_event(customer_state, event, self.clock)
        out += self._outputs(result)
        if result.state is None:
            state.delete("s")
        else:
            state.set("s", encode(result.state))
        return out

    def _outputs(self, result: Any) -> list[tuple[str, bytes]]:
        out = []
        for a in result.actions:
            enc = self.actions[a["channel"]]
            out.append((enc.topic, enc.encode(a)))
        for j in result.journey_events:
            out.append((self.events.topic, self.events.encode(j)))
        return out


def _customer(item: Any) -> str:
    cid = item.customer_id if type(item) is ev.StockNotice else item.user_id
    return str(cid)


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else pickle.dumps(value)


def main() -> None:
    settings = Settings()
    engine = App(settings)
    engine.load_stores()
    app = Application(
        broker_address=settings.kafka.bootstrap_servers,
        consumer_group=settings.consumer_group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=1.0,  # the job checkpoints every second
        state_dir=os.environ.get("QUIX_STATE_DIR", "state"),
        # the engine's own encodings (bytes) and pickled SKU books as they are
        rocksdb_options=RocksDBOptions(dumps=_as_bytes, loads=bytes),
        loglevel="WARNING",
    )
    inputs = [
        app.dataframe(app.topic(t, value_deserializer="bytes", key_deserializer="bytes"))
        for t in settings.topics.inputs()
    ]
    sdf = inputs[0]
    for other in inputs[1:]:
        sdf = sdf.concat(other)
    routed = sdf.apply(engine.route, expand=True, metadata=True)
    codec = {"value_serializer": WireOut(), "value_deserializer": WireIn()}
    by_sku = routed.filter(lambda r: r[0] == SKUS).group_by(lambda r: r[1], name="sku", **codec)
    notices = by_sku.apply(engine.skus, stateful=True, expand=True, metadata=True)
    by_customer = (
        routed.filter(lambda r: r[0] == CUSTOMERS)
        .concat(notices)
        .group_by(lambda r: r[1], name="customer", **codec)
    )
    out = by_customer.apply(engine.journeys, stateful=True, expand=True, metadata=True)
    for name in [*settings.topics.actions.values(), settings.topics.journey_events]:
        topic = app.topic(name, value_serializer="bytes", key_serializer="bytes")
        out.filter(lambda o, n=name: o[0] == n).apply(lambda o: o[1]).to_topic(topic)
    app.run()


if __name__ == "__main__":
    main()
