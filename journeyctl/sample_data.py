"""A small shop's day as recorded Kafka records: every journey of SCENARIOS.md, every branch.

`journeyctl sample-data` writes it (samples/shop.jsonl is its committed output); `simulate`
replays it. Deterministic: the same file on every run.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from common import events as ev
from common.clock import iso_ms

T0 = int(datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp() * 1000)  # 10:00 in Berlin
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR

#: primary-key columns by bare table name
KEYS = {table.split(".")[1]: key for table, key in ev.PRIMARY_KEYS.items()}
STORES = [
    ("s-mitte", "Berlin Mitte", 52.5200, 13.4050),
    ("s-munich", "München Marienplatz", 48.1374, 11.5755),
]
PRODUCTS = [
    ("SKU-1", "p-1", "Shell jacket", "Jackets", "Nordwind", "129.00"),
    ("SKU-2", "p-2", "Down jacket", "Jackets", "Nordwind", "189.00"),
    ("SKU-3", "p-3", "Rain jacket", "Jackets", "Fjell", "99.00"),
    ("SKU-4", "p-4", "Hiking boot", "Boots", "Fjell", "149.00"),
    ("SKU-5", "p-5", "Trail runner", "Boots", "Fjell", "119.00"),
    ("SKU-6", "p-6", "Wool socks", "Socks", "Nordwind", "15.00"),
]
STOCK = [
    ("SKU-1", "online", 20),
    ("SKU-1", "s-mitte", 3),
    ("SKU-2", "online", 4),
    ("SKU-3", "online", 12),
    ("SKU-4", "online", 0),
    ("SKU-5", "online", 8),
    ("SKU-5", "s-munich", 2),
    ("SKU-6", "online", 1),
]
BERLIN, MUNICH = (52.51, 13.39), (48.14, 11.58)


def _customer(
    cid: str, where: tuple[float, float], tier: str = "member", vip: bool = False, channel: str = "email"
) -> dict[str, Any]:
    return {
        "customer_id": cid,
        "email": f"{cid}@example.com",
        "phone": f"+49151{cid[2:]:0>7}",
        "timezone": "Europe/Berlin",
        "lat": where[0],
        "lon": where[1],
        "preferred_channel": channel,
        "loyalty_tier": tier,
        "loyalty_points": 100,
        "vip": vip,
    }


class Recorder:
    def __init__(self) -> None:
        self.records: list[tuple[int, int, dict[str, Any]]] = []
        self.lsn = 1000

    def cdc(
        self, ts: int, table: str, op: str, row: dict[str, Any], before: dict[str, Any] | None = None
    ) -> None:
        system, name = table.split(".")
        self.lsn += 8
        value = {
            "before": before,
            "after": None if op == "d" else row,
            "source": {
                "version": "3.3.2.Final",
                "connector": "postgresql",
                "name": system,
                "ts_ms": ts,
                "snapshot": "false",
                "db": system,
                "schema": "public",
                "table": name,
                "txId": self.lsn // 8,
                "lsn": self.lsn,
            },
            "op": op,
            "ts_ms": ts,
        }
        key = {k: row[k] for k in KEYS[name]}
        self._add(ts, {"topic": f"{system}.public.{name}", "key": key, "value": value})

    def tombstone(self, ts: int, table: str, row: dict[str, Any]) -> None:
        """The null value Debezium sends after a delete, keyed by the row's key; a tombstone has
        no time of its own, so the line carries its Kafka timestamp."""
        system, name = table.split(".")
        key = {k: row[k] for k in KEYS[name]}
        self._add(ts, {"topic": f"{system}.public.{name}", "key": key, "value": None, "timestamp": ts})

    def click(self, ts: int, user: str, event: str, **props: Any) -> None:
        n = len(self.records)
        iso = iso_ms(ts)
        value = {
            "type": "track",
            "messageId": f"msg-{n:05d}",
            "userId": user,
            "anonymousId": f"anon-{user}",
            "event": event,
            "timestamp": iso,
            "properties": props,
            "context": {"channel": "web", "timezone": "Europe/Berlin"},
        }
        self._add(ts, {"topic": "clickstream", "key": user, "value": value})

    def add_to_cart(self, ts: int, user: str, cart: str, sku: str) -> None:
        sku_, pid, name, cat, brand, price = next(p for p in PRODUCTS if p[0] == sku)
        self.click(
            ts,
            user,
            "Product Added",
            cart_id=cart,
            product_id=pid,
            sku=sku_,
            category=cat,
            brand=brand,
            name=name,
            price=float(price),
            quantity=1,
        )

    def _add(self, ts: int, record: dict[str, Any]) -> None:
        self.records.append((ts, len(self.records), record))

    def lines(self) -> list[str]:
        return [json.dumps(r, separators=(",", ":")) for _, _, r in sorted(self.records, key=lambda x: x[:2])]


def _days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def shop_day() -> list[str]:
    r = Recorder()
    t = T0 - HOUR  # the catalogue and the CRM as the connectors' snapshots deliver them
    for sid, name, lat, lon in STORES:
        r.cdc(t, "inventory.stores", "r", {"store_id": sid, "name": name, "lat": lat, "lon": lon})
    for sku, pid, name, cat, brand, price in PRODUCTS:
        r.cdc(
            t,
            "inventory.products",
            "r",
            {"sku": sku, "product_id": pid, "name": name, "category": cat, "brand": brand, "price": price},
        )
    for sku, loc, qty in STOCK:
        r.cdc(
            t,
            "inventory.stock_levels",
            "r",
            {"sku": sku, "location_id": loc, "quantity": qty, "updated_at": t * 1000},
        )
    customers = {
        "c-1": _customer("c-1", BERLIN),
        "c-2": _customer("c-2", MUNICH),
        "c-3": _customer("c-3", BERLIN),
        "c-4": _customer("c-4", BERLIN),
        "c-5": _customer("c-5", MUNICH),
        "c-6": _customer("c-6", BERLIN, tier="silver", channel="push"),
        "c-7": _customer("c-7", BERLIN),
        "c-8": _customer("c-8", MUNICH),
        "c-9": _customer("c-9", BERLIN),
        "c-10": _customer("c-10", BERLIN),
    }
    for cid, row in customers.items():
        r.cdc(t, "crm.customers", "r", row)
        for ch in ("email", "push", "in_app"):
            for purpose in ("marketing", "transactional"):
                r.cdc(
                    t,
                    "crm.consents",
                    "r",
                    {
                        "customer_id": cid,
                        "channel": ch,
                        "purpose": purpose,
                        "granted": True,
                        "updated_at": "2026-11-01T08:00:00Z",
                    },
                )

    # 1. carts: in stock at the nearest store / low stock / sold out with alternatives /
    #    bought during the wait / sold out during the wait with no alternative
    r.add_to_cart(T0, "c-1", "cart-1", "SKU-1")
    r.add_to_cart(T0 + 1 * MIN, "c-2", "cart-2", "SKU-2")
    r.add_to_cart(T0 + 2 * MIN, "c-3", "cart-3", "SKU-4")
    r.add_to_cart(T0 + 3 * MIN, "c-4", "cart-4", "SKU-3")
    r.click(
        T0 + 13 * MIN,
        "c-4",
        "Order Completed",
        order_id="o-4",
        cart_id="cart-4",
        total=99.0,
        currency="EUR",
        products=[
            {
                "product_id": "p-3",
                "sku": "SKU-3",
                "category": "Jackets",
                "brand": "Fjell",
                "name": "Rain jacket",
                "price": 99.0,
                "quantity": 1,
            }
        ],
    )
    r.add_to_cart(T0 + 4 * MIN, "c-5", "cart-5", "SKU-6")
    r.cdc(
        T0 + 14 * MIN,
        "inventory.stock_levels",
        "u",
        {"sku": "SKU-6", "location_id": "online", "quantity": 0, "updated_at": (T0 + 14 * MIN) * 1000},
    )

    # 4. loyalty: c-6 goes from silver to gold
    r.cdc(
        T0 + 20 * MIN,
        "crm.customers",
        "u",
        {**customers["c-6"], "loyalty_tier": "gold", "loyalty_points": 5200},
    )

    # 2. onboarding: c-7's application needs documents, is verified a day later
    app = {
        "application_id": "a-7",
        "customer_id": "c-7",
        "product": "current_account",
        "jurisdiction": "DE",
        "verification_status": "pending_documents",
        "missing_documents": '["passport"]',
        "updated_at": (T0 + 30 * MIN) * 1000,
    }
    r.cdc(T0 + 30 * MIN, "onboarding.applications", "c", app)
    r.cdc(
        T0 + DAY + 2 * HOUR,
        "onboarding.applications",
        "u",
        {
            **app,
            "verification_status": "verified",
            "missing_documents": "[]",
            "updated_at": (T0 + DAY + 2 * HOUR) * 1000,
        },
    )

    # 3. delivery: c-8's order ships, is delivered the next afternoon
    r.click(
        T0 + 40 * MIN,
        "c-8",
        "Order Completed",
        order_id="o-8",
        total=149.0,
        currency="EUR",
        products=[
            {
                "product_id": "p-4",
                "sku": "SKU-4",
                "category": "Boots",
                "brand": "Fjell",
                "name": "Hiking boot",
                "price": 149.0,
                "quantity": 1,
            }
        ],
    )
    r.cdc(
        T0 + 41 * MIN,
        "orders.orders",
        "c",
        {
            "order_id": "o-8",
            "customer_id": "c-8",
            "cart_id": None,
            "status": "paid",
            "total": "149.00",
            "currency": "EUR",
            "created_at": (T0 + 41 * MIN) * 1000,
        },
    )
    shipment = {
        "shipment_id": "sh-8",
        "order_id": "o-8",
        "customer_id": "c-8",
        "status": "created",
        "estimated_delivery": _days(date(2026, 11, 25)),
        "delivered_at": None,
        "carrier": "DHL",
    }
    r.cdc(T0 + 2 * HOUR, "orders.shipments", "c", shipment)
    r.cdc(T0 + DAY, "orders.shipments", "u", {**shipment, "status": "in_transit"})
    delivered = T0 + DAY + 5 * HOUR  # 15:00 in Munich
    r.cdc(
        delivered,
        "orders.shipments",
        "u",
        {**shipment, "status": "delivered", "delivered_at": delivered * 1000},
    )

    # 5. welcome: c-9 signs up and orders two days later; browse: c-10 views two jackets
    r.click(T0 + 50 * MIN, "c-9", "Signed Up")
    r.click(
        T0 + 2 * DAY + HOUR,
        "c-9",
        "Order Completed",
        order_id="o-9",
        total=15.0,
        currency="EUR",
        products=[{"sku": "SKU-6", "category": "Socks", "price": 15.0, "quantity": 1}],
    )
    for i, sku in enumerate(("SKU-2", "SKU-3")):
        _, pid, name, cat, brand, price = next(p for p in PRODUCTS if p[0] == sku)
        r.click(
            T0 + (60 + 5 * i) * MIN,
            "c-10",
            "Product Viewed",
            product_id=pid,
            sku=sku,
            category=cat,
            brand=brand,
            name=name,
            price=float(price),
        )
    return r.lines()


def write(path: Path, lines: list[str] | None = None) -> int:
    """Recorded lines (the shop day unless given) into a file."""
    lines = shop_day() if lines is None else lines
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return len(lines)
