"""The cart experiment of `make demo`: enough abandoned carts on the recorded day for the
holdout to mean something, and the orders that follow some of them.

`cart_abandonment` splits its carts 45/45/10 into `control`, `urgency_copy` and the holdout
(journeys/definitions/cart_abandonment.yaml). Here a cart's customer orders the next day with a
chance that depends on where the split put them (the engine's own bucket, so the generator knows
in advance): 9 % in the holdout, 15 % with `control`, 18 % with `urgency_copy`. One order in
twenty is returned, so the report's revenue is net of it. Deterministic: the same records every run.
"""

from __future__ import annotations

import hashlib

from journeyctl.sample_data import BERLIN, DAY, HOUR, MUNICH, PRODUCTS, T0, Recorder, _customer
from journeys.stepping import bucket

#: the split of cart_abandonment: holdout below 10, then control below 55, then urgency_copy
ORDER_CHANCE = {"holdout": 0.09, "control": 0.15, "urgency_copy": 0.18}
#: the SKUs of its carts: in stock at the Berlin store, low online, plenty online
SKUS = ("SKU-1", "SKU-2", "SKU-3")


def _arm(customer_id: str) -> str:
    b = bucket(customer_id, "cart_abandonment")
    return "holdout" if b < 10 else "control" if b < 55 else "urgency_copy"


def _chance(customer_id: str, what: str) -> float:
    digest = hashlib.blake2b(f"experiment:{customer_id}:{what}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def experiment(carts: int = 600) -> list[str]:
    """JSON lines as `simulate` and `replay` read them: customers x-1 .. x-N, each with one cart
    abandoned between 11:00 and 17:00 Berlin time on the shop day, and their orders."""
    r = Recorder()
    for n in range(1, carts + 1):
        cid = f"x-{n}"
        t = T0 - HOUR
        r.cdc(t, "crm.customers", "r", _customer(cid, BERLIN if n % 2 else MUNICH))
        for purpose in ("marketing", "transactional"):
            row = {
                "customer_id": cid,
                "channel": "email",
                "purpose": purpose,
                "granted": True,
                "updated_at": "2026-11-01T08:00:00Z",
            }
            r.cdc(t, "crm.consents", "r", row)
        cart = f"x-cart-{n}"
        sku = SKUS[n % len(SKUS)]
        added = T0 + HOUR + n * (6 * HOUR // carts)
        r.add_to_cart(added, cid, cart, sku)
        if _chance(cid, "order") >= ORDER_CHANCE[_arm(cid)]:
            continue
        price = next(p[5] for p in PRODUCTS if p[0] == sku)
        ordered = added + DAY
        order = {
            "order_id": f"x-o-{n}",
            "customer_id": cid,
            "cart_id": cart,
            "status": "paid",
            "total": price,
            "currency": "EUR",
            "created_at": ordered * 1000,  # timestamp: epoch microseconds
        }
        r.cdc(ordered, "orders.orders", "c", order)
        if _chance(cid, "return") < 0.05:
            r.cdc(ordered + 3 * DAY, "orders.orders", "u", {**order, "status": "returned"}, before=order)
    return r.lines()


def _when(line: str) -> int:
    """A recorded line's own time: a click's timestamp, a change's ts_ms, a tombstone's stamp."""
    import json
    from datetime import datetime

    obj = json.loads(line)
    value = obj.get("value")
    if value is None:
        return int(obj.get("timestamp", 0))
    if "ts_ms" in value:
        return int(value["ts_ms"])
    return int(datetime.fromisoformat(value["timestamp"].replace("Z", "+00:00")).timestamp() * 1000)


def with_experiment(day: list[str], carts: int = 600) -> list[str]:
    """The shop day and the experiment as one recording, in time order (a stable sort: lines of
    the same moment keep their order), as a source would have delivered them."""
    return sorted([*day, *experiment(carts)], key=_when)
