"""The benchmark's workload: records as the sources write them (Debezium JSON, Segment JSON),
made from seeded generators so that the same call makes the same records. `_Records` keeps them
(a recorded file for `simulate` and `replay`), `_Writer` produces them into Kafka as they are made.
"""

from __future__ import annotations

import json
import random
from typing import Any

from confluent_kafka import Producer

from common import events as ev
from common.clock import iso_ms
from common.settings import Settings, TopicSettings

CATEGORIES = 50
#: the customer whose last-of-all tier upgrade says the job has applied everything before it
SENTINEL = "bench-sentinel"
SESSION = ("Product Viewed", "Product Viewed", "Product Viewed", "Product Added", "Product Viewed")


#: a raw record as a source writes it: (table or "clickstream", key, value, Kafka timestamp)
Raw = tuple[str, Any, dict[str, Any], int]


class _Records:
    """Raw records as the sources would write them (Debezium JSON, Segment JSON), in order.
    Message ids come from a seeded generator, so that the same workload is the same records."""

    def __init__(self, seed: int = 7, lsn: bool = False) -> None:
        self.n = 0
        self.kept: list[Raw] = []
        self._ids = random.Random(seed)
        #: with `lsn`, each change carries a log sequence number, as Debezium's do: its event id
        #: (`table:lsn:op:key`, `connectors.debezium`) is then known when it is written
        self.lsn: int | None = 0 if lsn else None

    def _emit(self, raw: Raw) -> None:
        self.kept.append(raw)

    def change(
        self, ts: int, table: str, op: str, row: dict[str, Any], before: dict[str, Any] | None = None
    ) -> str | None:
        """The change written; its event id if it carries a log sequence number."""
        system, name = table.split(".")
        key = {k: row[k] for k in ev.PRIMARY_KEYS[table]}
        source: dict[str, Any] = {
            "connector": "postgresql",
            "name": system,
            "ts_ms": ts,
            "db": system,
            "table": name,
        }
        event_id = None
        if self.lsn is not None:
            self.lsn += 1
            source["lsn"] = self.lsn
            event_id = f"{table}:{self.lsn}:{op}:{'/'.join(str(v) for v in key.values())}"
        value = {"before": before, "after": row, "source": source, "op": op, "ts_ms": ts}
        self.n += 1
        self._emit((table, key, value, ts))
        return event_id

    def click(self, ts: int, user: str, event: str, **props: Any) -> None:
        value = {
            "type": "track",
            "messageId": f"{self._ids.getrandbits(64):016x}",
            "userId": user,
            "event": event,
            "timestamp": iso_ms(ts),
            "properties": props,
            "context": {"channel": "web"},
        }
        self.n += 1
        self._emit(("clickstream", user, value, ts))

    def lines(self) -> list[str]:
        """The records kept, as a recorded file (`journeyctl simulate`, `journeyctl replay`)."""
        t = TopicSettings()
        return [
            json.dumps(
                {"topic": t.clickstream if src == "clickstream" else t.cdc[src], "key": key, "value": value},
                separators=(",", ":"),
            )
            for src, key, value, _ in self.kept
        ]


class _Writer(_Records):
    """The records into Kafka as they are made, to the topics settings name."""

    def __init__(self, settings: Settings, linger_ms: int = 20, lsn: bool = False) -> None:
        """`linger_ms`: how long the producer waits to fill a batch; a latency benchmark, which
        stamps each record when it hands it over, writes with 0 so that the wait is not counted
        as the job's."""
        super().__init__(lsn=lsn)
        self.t = settings.topics
        self.producer = Producer(
            {**settings.kafka.librdkafka_properties(), "linger.ms": linger_ms, "enable.idempotence": True}
        )
        self.failed: list[str] = []

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append(f"{msg.topic()}: {err.str()}")

    def _emit(self, raw: Raw) -> None:
        self.send(*render(self.t, raw), raw[3])

    def send(self, topic: str, key: bytes, value: bytes, ts: int) -> None:
        """One record handed to the producer, waiting for room in its queue if it is full."""
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, timestamp=ts, on_delivery=self._delivered)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)

    def flush(self) -> None:
        left = self.producer.flush(60)
        if left or self.failed:
            raise RuntimeError(
                f"{left} records unacknowledged, {len(self.failed)} refused: {self.failed[:1]}"
            )


def render(topics: TopicSettings, raw: Raw) -> tuple[str, bytes, bytes]:
    """A raw record as it goes to Kafka: its topic, its key and its value, both JSON."""
    src, key, value, _ = raw
    topic = topics.clickstream if src == "clickstream" else topics.cdc[src]
    k = key if isinstance(key, str) else json.dumps(key, separators=(",", ":"))
    return topic, k.encode(), json.dumps(value, separators=(",", ":")).encode()


def product_row(i: int) -> dict[str, Any]:
    """SKU-<i> as the catalogue's products table holds it, in one of 50 categories."""
    return {
        "sku": f"SKU-{i}",
        "product_id": f"p-{i}",
        "name": f"Product {i}",
        "category": f"cat-{i % CATEGORIES}",
        "brand": "Bench",
        "price": "19.90",
    }


def _customer(cid: str, zone: str, tier: str = "member") -> dict[str, Any]:
    return {
        "customer_id": cid,
        "email": f"{cid}@example.com",
        "phone": "+4915100000000",
        "timezone": zone,
        "lat": 52.5,
        "lon": 13.4,
        "preferred_channel": "email",
        "loyalty_tier": tier,
        "loyalty_points": 100,
        "vip": False,
    }


def _catalogue(w: _Records, skus: int, ts: int) -> None:
    for s in range(20):
        w.change(
            ts,
            "inventory.stores",
            "r",
            {"store_id": f"s-{s}", "name": f"Store {s}", "lat": 52.0, "lon": 13.0},
        )
    for i in range(skus):
        sku = f"SKU-{i}"
        w.change(ts, "inventory.products", "r", product_row(i))
        w.change(
            ts,
            "inventory.stock_levels",
            "r",
            {"sku": sku, "location_id": "online", "quantity": 50, "updated_at": ts},
        )


def _crm(w: _Records, customers: int, ts: int, zone: str, consents: bool = False) -> None:
    """The CRM snapshot; with `consents`, every customer takes marketing by email and every
    other one by push too, so that journeys send rather than suppress for want of consent."""
    for c in range(customers):
        cid = f"c-{c}"
        w.change(ts, "crm.customers", "r", _customer(cid, zone))
        if consents:
            for channel in ("email", "push") if c % 2 == 0 else ("email",):
                row = {"customer_id": cid, "channel": channel, "purpose": "marketing", "granted": True}
                w.change(ts, "crm.consents", "r", row | {"updated_at": iso_ms(ts)})


def shop_backlog(
    w: _Records, customers: int, skus: int, events: int, t0: int, zone: str, seed: int = 7
) -> None:
    """The throughput workload: a catalogue of `skus` SKUs in 50 categories with stock, a CRM
    snapshot of `customers` customers, then an hour from `t0` of browsing sessions over them
    (views, adds to cart, checkouts), and last the sentinel's tier upgrade."""
    rng = random.Random(seed)
    _catalogue(w, skus, t0)
    _crm(w, customers, t0, zone, consents=True)
    step = max(1, 3_600_000 // max(events, 1))
    ts, n = t0, 0
    while n < events:
        cid = f"c-{rng.randrange(customers)}"
        cart = f"cart-{cid}-{n}"
        for event in SESSION:
            sku = rng.randrange(skus)
            props: dict[str, Any] = {
                "sku": f"SKU-{sku}",
                "product_id": f"p-{sku}",
                "category": f"cat-{sku % CATEGORIES}",
            }
            if event == "Product Added":
                props |= {"cart_id": cart, "price": 19.9, "quantity": 1}
            w.click(ts, cid, event, **props)
            ts, n = ts + step, n + 1
        if rng.random() < 0.2:
            item = {"product_id": "p-0", "sku": "SKU-0", "category": "cat-0", "price": 19.9, "quantity": 1}
            w.click(
                ts,
                cid,
                "Order Completed",
                order_id=f"o-{n}",
                cart_id=cart,
                total=19.9,
                currency="EUR",
                products=[item],
            )
            ts, n = ts + step, n + 1
    # the sentinel: a tier upgrade after everything else, acted on at once; its action comes out
    # only once the journey stage has applied every record before it in journey time
    w.change(t0 - 1, "crm.customers", "r", _customer(SENTINEL, zone))
    w.change(
        ts + 1, "crm.customers", "u", _customer(SENTINEL, zone, "gold"), before=_customer(SENTINEL, zone)
    )
