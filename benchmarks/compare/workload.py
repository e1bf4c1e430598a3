"""The workload of `make bench` (`journeyctl bench compare`): one shop, generated from a seed,
in the formats CONTRACTS.md gives the sources (Segment JSON clicks, Debezium JSON changes).

A catalogue of `skus` SKUs in 50 categories with stock online and in 20 stores; a CRM snapshot
of `customers` customers with consents; then sessions of views, adds, removals, checkouts and
orders, by customers picked with a skew (a few customers are very active, most are not), among
CDC-shaped changes: stock, orders (placed, paid, cancelled, returned), shipments (created, in
transit, delayed, delivered), support tickets, consents and loyalty tiers.

`stream` yields the records one by one without their time: the throughput run stamps them over
an hour of history (`backlog`), the latency run stamps each as it writes it (`live`). Each CDC
change carries a log sequence number, so that its event id (`table:lsn:op:key`, as the decoder
makes it) is known to the writer: a shipment delay is a latency probe, and the action it causes
names it in `trigger_event_id`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.workload import CATEGORIES, SENTINEL, _customer, _Records, product_row
from common.clock import daytime_zone, iso_ms

#: one record of the stream: it writes itself at the time it is given; a change gives its event
#: id when the records carry log sequence numbers (`_Records(lsn=True)`)
Emit = Callable[[_Records, int], str | None]
PROBE_TABLE = "orders.shipments"
#: the kind of record whose action is measured for latency: a delay of a shipment the delivery
#: journey follows, acted on at once (a status update) by the job and by each peer
PROBE = "shipment delayed"
STORES = 20
#: where it is daytime now: no marketing action of the run waits for the end of quiet hours
ZONE = daytime_zone()


@dataclass(frozen=True)
class Shop:
    customers: int = 100_000
    skus: int = 10_000
    #: browsing sessions in the stream (about 9 records each, changes included)
    sessions: int = 60_000
    seed: int = 7
    #: before every order, shipment, ticket and cart id: a live stream beside a backlog of the
    #: same shop must not repeat its ids (the engine drops an event it has seen)
    tag: str = ""


class Stream:
    """The shop's records in order, each as an `Emit`."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self.rng = random.Random(shop.seed)
        self.order_n = 0

    def _customer_id(self) -> str:
        # a skew: customer c-i is picked about as often as 1/sqrt(i), the first few very often
        return f"c-{int(self.shop.customers * self.rng.random() ** 2)}"

    def _product(self) -> dict[str, Any]:
        sku = self.rng.randrange(self.shop.skus)
        return {"sku": f"SKU-{sku}", "product_id": f"p-{sku}", "category": f"cat-{sku % CATEGORIES}"}

    def setup(self) -> Iterator[tuple[str, Emit]]:
        """The catalogue and the CRM snapshot."""
        for s in range(STORES):
            row = {"store_id": f"s-{s}", "name": f"Store {s}", "lat": 52.0 + s / 100, "lon": 13.0}
            yield "store", _change("inventory.stores", "r", row)
        for i in range(self.shop.skus):
            sku = f"SKU-{i}"
            yield "product", _change("inventory.products", "r", product_row(i))
            for location in ("online", f"s-{i % STORES}"):
                yield "stock", _stock(sku, location, 50 if location == "online" else 3, "r")
        for c in range(self.shop.customers):
            cid = f"c-{c}"
            yield "customer", _change("crm.customers", "r", _customer(cid, ZONE))
            channels = ("email", "push", "sms") if c % 10 == 0 else ("email", "push") if c % 2 else ("email",)
            for channel in channels:
                yield "consent", _consent(cid, channel, True, "r")

    def sessions(self) -> Iterator[tuple[str, Emit]]:
        rng = self.rng
        for n in range(self.shop.sessions):
            cid = self._customer_id()
            cart = f"{self.shop.tag}cart-{cid}-{n}"
            added: list[dict[str, Any]] = []
            for _ in range(rng.randint(1, 6)):
                yield "view", _click(cid, "Product Viewed", self._product())
            if rng.random() < 0.5:
                for _ in range(rng.randint(1, 3)):
                    item = self._product() | {"price": 19.9, "quantity": 1}
                    added.append(item)
                    yield "add", _click(cid, "Product Added", item | {"cart_id": cart})
                if rng.random() < 0.15:
                    gone = added.pop()
                    yield "remove", _click(cid, "Product Removed", gone | {"cart_id": cart})
            if added and rng.random() < 0.4:
                yield "checkout", _click(cid, "Checkout Started", {"cart_id": cart, "products": added})
                if rng.random() < 0.6:
                    yield from self._order(cid, cart, added)
            yield from self._background()

    def _order(self, cid: str, cart: str, items: list[dict[str, Any]]) -> Iterator[tuple[str, Emit]]:
        rng = self.rng
        self.order_n += 1
        oid, sid = f"{self.shop.tag}o-{self.order_n}", f"{self.shop.tag}sh-{self.order_n}"
        total = round(19.9 * len(items), 2)
        order = {
            "order_id": oid,
            "customer_id": cid,
            "cart_id": cart,
            "status": "placed",
            "total": f"{total:.2f}",
            "currency": "EUR",
            "created_at": 0,
        }
        props = {"order_id": oid, "cart_id": cart, "total": total, "currency": "EUR", "products": items}
        yield "order", _click(cid, "Order Completed", props)
        yield "order change", _change("orders.orders", "c", order)
        yield "order change", _change("orders.orders", "u", order | {"status": "paid"}, before=order)
        fate = rng.random()
        if fate < 0.03:
            yield "order change", _change("orders.orders", "u", order | {"status": "cancelled"})
            return
        yield from shipment(cid, oid, sid, delayed=fate < 0.25)
        if fate > 0.98:
            yield "order change", _change("orders.orders", "u", order | {"status": "returned"})

    def _background(self) -> Iterator[tuple[str, Emit]]:
        """The other systems' changes, about one per session: stock most, the rest rarely."""
        rng = self.rng
        r = rng.random()
        if r < 0.6:
            sku = f"SKU-{rng.randrange(self.shop.skus)}"
            yield "stock", _stock(sku, "online", rng.choice((0, 2, 4, 20, 50)), "u")
        elif r < 0.63:
            cid, tid = self._customer_id(), f"{self.shop.tag}t-{rng.getrandbits(32):08x}"
            priority = rng.choice(("normal", "high", "urgent"))
            yield "ticket", _ticket(cid, tid, priority, "open")
            yield "ticket", _ticket(cid, tid, priority, "solved")
        elif r < 0.65:
            cid = self._customer_id()
            yield "consent", _consent(cid, rng.choice(("email", "push", "sms")), rng.random() < 0.5, "u")
        elif r < 0.67:
            yield "tier", _tier(self._customer_id(), rng.choice(("silver", "gold", "platinum")))


def shipment(cid: str, oid: str, sid: str, delayed: bool) -> Iterator[tuple[str, Emit]]:
    """A shipment created, in transit, and perhaps delayed (the latency probe)."""
    eta = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    row = {
        "shipment_id": sid,
        "order_id": oid,
        "customer_id": cid,
        "status": "created",
        "estimated_delivery": eta,
        "delivered_at": None,
        "carrier": "DHL",
    }
    yield "shipment", _change(PROBE_TABLE, "c", row)
    yield "shipment", _change(PROBE_TABLE, "u", row | {"status": "in_transit"})
    if delayed:
        later = (datetime.now(UTC).date() + timedelta(days=4)).isoformat()
        yield PROBE, _change(PROBE_TABLE, "u", row | {"status": "delayed", "estimated_delivery": later})


def _change(table: str, op: str, row: dict[str, Any], before: dict[str, Any] | None = None) -> Emit:
    return lambda w, ts: w.change(ts, table, op, row, before)


def _click(cid: str, event: str, props: dict[str, Any]) -> Emit:
    def emit(w: _Records, ts: int) -> None:
        w.click(ts, cid, event, **props)

    return emit


def _stock(sku: str, location: str, quantity: int, op: str) -> Emit:
    return lambda w, ts: w.change(
        ts,
        "inventory.stock_levels",
        op,
        {"sku": sku, "location_id": location, "quantity": quantity, "updated_at": ts},
    )


def _consent(cid: str, channel: str, granted: bool, op: str) -> Emit:
    return lambda w, ts: w.change(
        ts,
        "crm.consents",
        op,
        {
            "customer_id": cid,
            "channel": channel,
            "purpose": "marketing",
            "granted": granted,
            "updated_at": iso_ms(ts),
        },
    )


def _ticket(cid: str, tid: str, priority: str, status: str) -> Emit:
    return lambda w, ts: w.change(
        ts,
        "support.tickets",
        "c" if status == "open" else "u",
        {
            "ticket_id": tid,
            "customer_id": cid,
            "priority": priority,
            "status": status,
            "created_at": ts * 1000,
        },
    )


def _tier(cid: str, tier: str) -> Emit:
    before = _customer(cid, ZONE)
    return lambda w, ts: w.change(ts, "crm.customers", "u", _customer(cid, ZONE, tier), before=before)


@dataclass
class Backlog:
    #: how many records of each kind
    mix: Counter[str]
    #: the event id of the last record, a shipment delay that every contender acts on at once:
    #: a contender that orders by event time acts on it only after everything before it
    sentinel: str


def backlog(w: _Records, shop: Shop, t0: int, progress: Callable[[int], None] | None = None) -> Backlog:
    """The whole shop into `w` (which must carry log sequence numbers): the snapshot stamped
    `t0`, the sessions over the hour after it, the sentinel last. `progress` is told the records
    written so far, now and then."""
    s = Stream(shop)
    mix: Counter[str] = Counter()
    for kind, emit in s.setup():
        emit(w, t0)
        mix[kind] += 1
        if progress is not None and w.n % 10_000 == 0:
            progress(w.n)
    _change("crm.customers", "r", _customer(SENTINEL, ZONE))(w, t0)
    # about 6 records a session (6.5 keeps the last of them in the past): an hour of them, ending
    # minutes before now, so that journey time runs on into a live load without a jump
    step = max(1, 3_600_000 // max(1, int(shop.sessions * 6.5)))
    ts = t0
    for kind, emit in s.sessions():
        ts += step
        emit(w, ts)
        mix[kind] += 1
        if progress is not None and w.n % 10_000 == 0:
            progress(w.n)
    sentinel = None
    for kind, emit in shipment(SENTINEL, "sentinel-o", "sentinel-sh", delayed=True):
        ts += step
        event_id = emit(w, ts)
        if kind == PROBE:
            sentinel = event_id
    if sentinel is None:
        raise ValueError("the records carry no log sequence numbers: write them with _Records(lsn=True)")
    mix["sentinel"] += 4
    return Backlog(mix, sentinel)
