"""A small shop that lives now: its systems change through SQL, its clickstream goes to Kafka.

`samples/shop.jsonl` is a day recorded once (`journeyctl.sample_data`); this is the same shop as
it runs at a customer's site: stores, products in categories and stock per store in the
`inventory` database, customers (time zones, locations, tiers) and consents in `crm`, orders and
shipments in `orders`, tickets in `support`, applications in `onboarding`, each changed with SQL
so that Debezium captures it, while the matching clicks go to the clickstream topic stamped now.
`journeyctl shop` plays it (the demo does); the e2e tests drive it step by step.

Every key a run writes carries the run's tag (`c-1.<tag>`, `SKU-1.<tag>`, category
`Jackets.<tag>`): runs share the databases and topics without seeing each other's customers,
stock or alternatives. A run's stores and customers sit at a longitude of its own, far from
other runs' stores, so that "nearest store" is always one of its own. Customers get a time zone
where it is daytime now, so that no action waits for the end of quiet hours.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Producer

from common.clock import daytime_zone, iso_ms
from common.settings import Settings
from journeyctl.sample_data import KEYS, PRODUCTS, STOCK, STORES
from journeys.definition import Journey
from journeys.engine import bucket
from journeys.loader import DEFINITIONS

SYSTEMS = ("inventory", "orders", "crm", "support", "onboarding")
BERLIN, MUNICH = (52.51, 13.39), (48.14, 11.58)


#: the waits a live run shortens (`quick_definitions`): the cart's 30 minutes and the browse hour
LIVE_WAITS = {"wait: {quiet: 30m}": "wait: {quiet: 20s}", "wait: {quiet: 1h}": "wait: {quiet: 20s}"}


def quick_definitions(folder: Path, waits: dict[str, str]) -> Path:
    """The shipped definitions with some waits shortened, for a live run that cannot wait 30
    minutes: `waits` maps a wait as written (`"{quiet: 30m}"`) to its stand-in (`"{quiet: 20s}"`).
    Each must occur in the files, so a changed definition fails loudly instead of running long."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = {f.name: f.read_text() for f in sorted(DEFINITIONS.glob("*.yaml"))}
    for old, new in waits.items():
        hits = [name for name, text in texts.items() if old in text]
        if not hits:
            raise ValueError(f"no definition in {DEFINITIONS} has {old!r}")
        for name in hits:
            texts[name] = texts[name].replace(old, new)
    for name, text in texts.items():
        (folder / name).write_text(text)
    return folder


class Shop:
    """One run of the shop: SQL into the source databases, clicks into Kafka.

    Rows are written whole (insert, or update on a key that exists): Debezium turns them into
    `c` and `u` change events; `delete` into a `d` and a tombstone.
    """

    def __init__(self, settings: Settings, tag: str | None = None, zone: str | None = None) -> None:
        self.settings = settings
        self.tag = tag or uuid.uuid4().hex[:8]
        self.zone = zone or daytime_zone()
        # a longitude of the run's own, in 3-degree steps (about 200 km at these latitudes)
        self.lon_shift = int(hashlib.sha256(self.tag.encode()).hexdigest()[:8], 16) % 100 * 3 - 150.0
        self._db: dict[str, psycopg.Connection[Any]] = {}
        self._producer = Producer({**settings.kafka.librdkafka_properties(), "enable.idempotence": True})
        self._failed: list[str] = []
        self.clicks = 0

    # ------------------------------------------------------------------ names of this run
    def id(self, name: str) -> str:
        return f"{name}.{self.tag}"

    def where(self, at: tuple[float, float]) -> tuple[float, float]:
        lon = at[1] + self.lon_shift
        return at[0], (lon + 180) % 360 - 180

    # ------------------------------------------------------------------ writes
    def _conn(self, system: str) -> psycopg.Connection[Any]:
        if system not in self._db:
            try:
                self._db[system] = psycopg.connect(self.settings.sources.dsn(system), autocommit=True)
            except psycopg.OperationalError as e:
                raise RuntimeError(
                    f"cannot reach the {system} database at {self.settings.sources.host}:"
                    f"{self.settings.sources.port}: start the local stack with `make stack-up` "
                    f"(or set JOURNEY_SOURCES__HOST/PORT). {e}"
                ) from e
        return self._db[system]

    def upsert(self, table: str, row: dict[str, Any]) -> None:
        """`table` as `<system>.<table>` (common.events.CDC_TABLES)."""
        system, name = table.split(".")
        keys = KEYS[name]
        cols = list(row)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in keys)
        statement = (
            f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )
        self._conn(system).execute(statement.encode(), [row[c] for c in cols])

    def delete(self, table: str, key: dict[str, Any]) -> None:
        system, name = table.split(".")
        where = " AND ".join(f"{c} = %s" for c in key)
        self._conn(system).execute(f"DELETE FROM {name} WHERE {where}".encode(), list(key.values()))

    def click(self, user: str, event: str, **props: Any) -> str:
        """A Segment `track` call stamped now; its messageId."""
        now = int(time.time() * 1000)
        message_id = f"msg-{self.tag}-{self.clicks:05d}"
        self.clicks += 1
        value = {
            "type": "track",
            "messageId": message_id,
            "userId": user,
            "anonymousId": f"anon-{user}",
            "event": event,
            "timestamp": iso_ms(now),
            "properties": props,
            "context": {"channel": "web", "timezone": self.zone},
        }
        self._producer.produce(
            self.settings.topics.clickstream,
            key=user.encode(),
            value=json.dumps(value).encode(),
            timestamp=now,
            on_delivery=self._delivered,
        )
        self._producer.poll(0)
        return message_id

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed.append(f"{msg.topic()}: {err.str()}")

    def flush(self) -> None:
        left = self._producer.flush(30)
        if left or self._failed:
            raise RuntimeError(f"clicks not written: {left} unacknowledged, refused: {self._failed[:1]}")

    def close(self) -> None:
        self.flush()
        for conn in self._db.values():
            conn.close()
        self._db.clear()

    # ------------------------------------------------------------------ the shop's things
    def product(self, sku: str) -> dict[str, Any]:
        """The click properties of one of the catalogue's products (its recorded name)."""
        s, pid, name, cat, brand, price = next(p for p in PRODUCTS if p[0] == sku)
        return {
            "product_id": self.id(pid),
            "sku": self.id(s),
            "category": self.id(cat),
            "brand": brand,
            "name": name,
            "price": float(price),
        }

    def catalogue(self) -> None:
        """The stores, products and stock of `journeyctl.sample_data`, as this run's."""
        for sid, name, lat, lon in STORES:
            at = self.where((lat, lon))
            self.upsert(
                "inventory.stores", {"store_id": self.id(sid), "name": name, "lat": at[0], "lon": at[1]}
            )
        for sku, pid, name, cat, brand, price in PRODUCTS:
            row = {"sku": self.id(sku), "product_id": self.id(pid), "name": name, "category": self.id(cat)}
            self.upsert("inventory.products", {**row, "brand": brand, "price": price})
        for sku, loc, qty in STOCK:
            self.stock(sku, loc, qty)

    def stock(self, sku: str, location: str, quantity: int) -> None:
        row = {
            "sku": self.id(sku),
            "location_id": location if location == "online" else self.id(location),
            "quantity": quantity,
            "updated_at": datetime.now(UTC).replace(tzinfo=None),
        }
        self.upsert("inventory.stock_levels", row)

    def customer(
        self,
        name: str,
        at: tuple[float, float] = BERLIN,
        tier: str = "member",
        channel: str = "email",
        vip: bool = False,
        consents: Iterable[str] = ("email", "push", "in_app"),
    ) -> str:
        """A customer with marketing and transactional consent on `consents`; their id."""
        cid = self.id(name)
        lat, lon = self.where(at)
        self.upsert("crm.customers", self.customer_row(cid, lat, lon, tier, channel, vip))
        for ch in consents:
            for purpose in ("marketing", "transactional"):
                self.upsert(
                    "crm.consents",
                    {
                        "customer_id": cid,
                        "channel": ch,
                        "purpose": purpose,
                        "granted": True,
                        "updated_at": datetime.now(UTC),
                    },
                )
        return cid

    def customer_row(
        self, cid: str, lat: float, lon: float, tier: str, channel: str, vip: bool
    ) -> dict[str, Any]:
        return {
            "customer_id": cid,
            "email": f"{cid}@example.com",
            "phone": "+4915100000000",
            "timezone": self.zone,
            "lat": lat,
            "lon": lon,
            "preferred_channel": channel,
            "loyalty_tier": tier,
            "loyalty_points": 100,
            "vip": vip,
        }

    def tier(self, cid: str, tier: str, points: int) -> None:
        self._conn("crm").execute(
            b"UPDATE customers SET loyalty_tier = %s, loyalty_points = %s WHERE customer_id = %s",
            [tier, points, cid],
        )

    def forget(self, cid: str) -> None:
        """The customer deleted in the CRM: an erasure request."""
        self.delete("crm.consents", {"customer_id": cid})
        self.delete("crm.customers", {"customer_id": cid})

    def add_to_cart(self, cid: str, cart: str, sku: str) -> None:
        self.click(cid, "Product Added", cart_id=cart, quantity=1, **self.product(sku))

    def view(self, cid: str, sku: str) -> None:
        self.click(cid, "Product Viewed", **self.product(sku))

    def sign_up(self, cid: str) -> None:
        self.click(cid, "Signed Up")

    def order(
        self, cid: str, order_id: str, total: str, cart: str | None = None, status: str = "paid"
    ) -> None:
        self.upsert(
            "orders.orders",
            {
                "order_id": order_id,
                "customer_id": cid,
                "cart_id": cart,
                "status": status,
                "total": total,
                "currency": "EUR",
                "created_at": datetime.now(UTC).replace(tzinfo=None),
            },
        )

    def shipment(self, cid: str, order_id: str, shipment_id: str, status: str, eta: date) -> None:
        delivered = datetime.now(UTC).replace(tzinfo=None) if status == "delivered" else None
        self.upsert(
            "orders.shipments",
            {
                "shipment_id": shipment_id,
                "order_id": order_id,
                "customer_id": cid,
                "status": status,
                "estimated_delivery": eta,
                "delivered_at": delivered,
                "carrier": "DHL",
            },
        )

    def ticket(self, cid: str, ticket_id: str, priority: str, status: str) -> None:
        self.upsert(
            "support.tickets",
            {
                "ticket_id": ticket_id,
                "customer_id": cid,
                "priority": priority,
                "status": status,
                "created_at": datetime.now(UTC).replace(tzinfo=None),
            },
        )

    def application(self, cid: str, application_id: str, status: str, missing: list[str]) -> None:
        self.upsert(
            "onboarding.applications",
            {
                "application_id": application_id,
                "customer_id": cid,
                "product": "current_account",
                "jurisdiction": "DE",
                "verification_status": status,
                "missing_documents": json.dumps(missing),
                "updated_at": datetime.now(UTC).replace(tzinfo=None),
            },
        )


def outside_holdouts(names: Iterable[str], journeys: Iterable[Journey], tries: int = 1000) -> str:
    """A run tag under which none of these customers falls into a holdout of these journeys, so
    that every path a run plays shows its action (holdouts have tests of their own)."""
    names = list(names)
    holdouts = {
        j.id: max((st.split.holdout for st in j.steps if st.split is not None), default=0) for j in journeys
    }
    for _ in range(tries):
        tag = uuid.uuid4().hex[:8]
        if all(bucket(f"{n}.{tag}", j) >= share for n in names for j, share in holdouts.items()):
            return tag
    raise RuntimeError("no run tag keeps these customers out of every holdout")


#: what `day` must make the shipped journeys send, as (customer, action type); carts 4 and 5 end
#: without an action (bought during the wait; sold out with nothing in stock to offer instead)
DAY_ACTIONS = [
    ("c-1", "reserve_and_collect"),
    ("c-2", "cart_reminder"),
    ("c-3", "cart_alternatives"),
    ("c-6", "tier_recognition"),
    ("c-6", "benefits_unlocked"),
    ("c-7", "document_request"),
    ("c-7", "activation_fast_track"),
    ("c-8", "delivery_status_update"),
    ("c-9", "welcome"),
    ("c-10", "browse_reminder"),
]

#: what `play` does, in order: (seconds after the start, what, the step)
Step = tuple[float, str, Callable[[Shop], None]]


def day(shop: Shop) -> list[Step]:
    """The recorded day's stories, live: the five cart paths of SCENARIOS.md section 1, a tier
    upgrade, an application that needs documents and is then verified, an order that ships and
    is delayed, a support ticket opened and solved, a sign-up, two views of a category. With the
    shipped definitions the carts act after 30 minutes; `quick_definitions` shortens that."""
    c = {n: shop.id(f"c-{n}") for n in range(1, 11)}
    today = datetime.now(UTC).date()
    homes = [BERLIN, MUNICH, BERLIN, BERLIN, MUNICH, BERLIN, BERLIN, MUNICH, BERLIN, BERLIN]

    def customers(s: Shop) -> None:
        for n, at in enumerate(homes, 1):
            s.customer(
                f"c-{n}", at, tier="silver" if n == 6 else "member", channel="push" if n == 6 else "email"
            )

    def cart(n: int, sku: str) -> Callable[[Shop], None]:
        return lambda s: s.add_to_cart(c[n], s.id(f"cart-{n}"), sku)

    def view(n: int, sku: str) -> Callable[[Shop], None]:
        return lambda s: s.view(c[n], sku)

    def ship(status: str, days: int) -> Callable[[Shop], None]:
        return lambda s: s.shipment(c[8], s.id("o-8"), s.id("sh-8"), status, today + timedelta(days=days))

    return [
        (0, "inventory: 2 stores, 6 products in 3 categories, stock online and in store", Shop.catalogue),
        (0, "crm: 10 customers, consent on email, push and in-app", customers),
        (2, "c-1 adds a shell jacket to cart-1 (in stock at Berlin Mitte, near them)", cart(1, "SKU-1")),
        (2, "c-2 adds a down jacket to cart-2 (4 left online)", cart(2, "SKU-2")),
        (2, "c-3 adds a hiking boot to cart-3 (sold out)", cart(3, "SKU-4")),
        (2, "c-4 adds a rain jacket to cart-4", cart(4, "SKU-3")),
        (2, "c-5 adds wool socks to cart-5 (1 left)", cart(5, "SKU-6")),
        (4, "c-9 signs up", lambda s: s.sign_up(c[9])),
        (4, "c-10 views a down jacket", view(10, "SKU-2")),
        (5, "c-10 views a rain jacket", view(10, "SKU-3")),
        (
            6,
            "orders: c-4 pays for cart-4",
            lambda s: s.order(c[4], s.id("o-4"), "99.00", cart=s.id("cart-4")),
        ),
        (6, "inventory: the last wool socks sell", lambda s: s.stock("SKU-6", "online", 0)),
        (8, "crm: c-6 goes from silver to gold", lambda s: s.tier(c[6], "gold", 5200)),
        (
            8,
            "onboarding: c-7 applies; a passport is missing",
            lambda s: s.application(c[7], s.id("a-7"), "pending_documents", ["passport"]),
        ),
        (9, "orders: c-8 pays; the shipment is created", lambda s: s.order(c[8], s.id("o-8"), "149.00")),
        (9, "orders: c-8's shipment, due in 2 days", ship("created", 2)),
        (12, "onboarding: c-7 is verified", lambda s: s.application(c[7], s.id("a-7"), "verified", [])),
        (10, "support: c-5 opens a ticket", lambda s: s.ticket(c[5], s.id("t-5"), "normal", "open")),
        (14, "orders: c-8's shipment is delayed by 2 days", ship("delayed", 4)),
        (15, "support: c-5's ticket is solved", lambda s: s.ticket(c[5], s.id("t-5"), "normal", "solved")),
    ]


def play(shop: Shop, steps: list[Step], say: Callable[[str], None] = print, speed: float = 1.0) -> None:
    """Each step at its time (divided by `speed`) after the start."""
    start = time.monotonic()
    for at, what, step in steps:
        delay = start + at / speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        step(shop)
        shop.flush()
        say(f"  +{time.monotonic() - start:5.1f} s  {what}")
