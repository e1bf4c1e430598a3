"""The shop's nights as recorded Kafka records: what quiet hours, deleted consents and a time
column's other encoding do to the journeys (issue 13's paths), in the contract's formats.

`journeyctl sample-data` writes it (samples/night.jsonl is its committed output) beside the shop
day; `simulate` replays it, and the job through Kafka must decide the same. Every customer is one
path; `PATHS` says what each must get.

- n-1: an application verified at 21:00: the fast track is deferred to 08:00 and goes out then,
  though the instance exited `verified` at once.
- n-2: the same at 21:10, rejected at 23:00: the deferred fast track is cancelled.
- n-3: delivered at 19:30, the follow-up due at 21:30 goes out at 08:00 after the instance ended.
- n-4: the same, returned at 23:30: the deferred follow-up is cancelled.
- n-5: a cart whose three touches all fall at 21:30: each goes out the next morning, the last
  after the series has ended.
- n-6: the same, bought at 07:00 before the last touch was due: it is cancelled.
- n-7: the email marketing consent row is deleted (a `d`, then its tombstone) and the push one
  only tombstoned (as an unwrap SMT leaves it): the welcome goes in-app, the one consent left.
- n-8: its consent rows' `updated_at` is a `timestamp` (epoch microseconds, and milliseconds)
  where the contract's example has `timestamptz`: the rows count, a withdrawal of email
  included, so the welcome goes by push.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from journeyctl.sample_data import BERLIN, KEYS, PRODUCTS, STORES, Recorder, _customer, _days

TZ = ZoneInfo("Europe/Berlin")


def at(day: int, hour: int, minute: int = 0) -> int:
    """Epoch ms of a local time in Berlin, November 2026."""
    return int(datetime(2026, 11, day, hour, minute, tzinfo=TZ).timestamp() * 1000)


#: customer -> (what they must get, journey events that must say why)
PATHS: dict[str, dict[str, Any]] = {
    "n-1": {"sent": [("activation_fast_track", at(24, 8))], "ends": [("action", None)]},
    "n-2": {"sent": [], "ends": [("suppressed", "cancelled")]},
    "n-3": {"sent": [("delivery_followup", at(24, 8))], "ends": [("action", None)]},
    "n-4": {"sent": [], "ends": [("suppressed", "cancelled")]},
    "n-5": {
        "sent": [("cart_reminder", at(21, 8)), ("cart_reminder", at(22, 8)), ("cart_reminder", at(24, 8))]
    },
    "n-6": {"sent": [("cart_reminder", at(21, 8)), ("cart_reminder", at(22, 8))]},
}
#: the channel each customer's first welcome message must take
WELCOME_CHANNEL = {"n-7": "in_app", "n-8": "push"}


def _consent(cid: str, channel: str, purpose: str, granted: bool, updated_at: Any) -> dict[str, Any]:
    return {
        "customer_id": cid,
        "channel": channel,
        "purpose": purpose,
        "granted": granted,
        "updated_at": updated_at,
    }


def _order_completed(r: Recorder, ts: int, cid: str, order_id: str, cart_id: str | None = None) -> None:
    sku, pid, name, cat, brand, price = PRODUCTS[0]
    r.click(
        ts,
        cid,
        "Order Completed",
        order_id=order_id,
        **({"cart_id": cart_id} if cart_id else {}),
        total=float(price),
        currency="EUR",
        products=[
            {
                "product_id": pid,
                "sku": sku,
                "category": cat,
                "brand": brand,
                "name": name,
                "price": float(price),
                "quantity": 1,
            }
        ],
    )


def shop_night() -> list[str]:
    r = Recorder()
    t = at(20, 9)  # the connectors' snapshots
    for sid, name, lat, lon in STORES:
        r.cdc(t, "inventory.stores", "r", {"store_id": sid, "name": name, "lat": lat, "lon": lon})
    sku, pid, name, cat, brand, price = PRODUCTS[2]  # the rain jacket: online only, plenty
    r.cdc(
        t,
        "inventory.products",
        "r",
        {"sku": sku, "product_id": pid, "name": name, "category": cat, "brand": brand, "price": price},
    )
    r.cdc(
        t,
        "inventory.stock_levels",
        "r",
        {"sku": sku, "location_id": "online", "quantity": 12, "updated_at": t * 1000},
    )
    iso = "2026-11-01T08:00:00Z"
    for n in range(1, 9):
        cid = f"n-{n}"
        r.cdc(t, "crm.customers", "r", _customer(cid, BERLIN))
        for ch in ("email", "push", "in_app"):
            for purpose in ("marketing", "transactional"):
                # n-8's source keeps updated_at as a timestamp: epoch micro- or milliseconds
                stamp: Any = iso if cid != "n-8" else (t * 1000 if purpose == "marketing" else t)
                r.cdc(t, "crm.consents", "r", _consent(cid, ch, purpose, True, stamp))

    # carts whose touches fall at 21:30 (30 minutes' quiet, then 24 h, then 48 h)
    for cid in ("n-5", "n-6"):
        r.add_to_cart(at(20, 21), cid, f"cart-{cid}", sku)
    _order_completed(r, at(24, 7), "n-6", "o-n6", cart_id="cart-n-6")

    # onboarding: verified at night; n-2 rejected before the morning
    def application(cid: str, ts: int, op: str, status: str) -> None:
        row = {
            "application_id": f"a-{cid}",
            "customer_id": cid,
            "product": "current_account",
            "jurisdiction": "GB",
            "verification_status": status,
            "missing_documents": "[]",
            "updated_at": ts * 1000,
        }
        r.cdc(ts, "onboarding.applications", op, row)

    application("n-1", at(23, 18), "c", "under_review")
    application("n-1", at(23, 21), "u", "verified")
    application("n-2", at(23, 21, 10), "c", "verified")
    application("n-2", at(23, 23), "u", "rejected")

    # deliveries in the evening: the follow-up, 2 h later, falls in quiet hours
    for cid, delivered, returned in (("n-3", at(23, 19, 30), None), ("n-4", at(23, 19, 45), at(23, 23, 30))):
        order_id = f"o-{cid}"
        _order_completed(r, at(22, 12), cid, order_id)
        ship = {
            "shipment_id": f"sh-{cid}",
            "order_id": order_id,
            "customer_id": cid,
            "status": "created",
            "estimated_delivery": _days(date(2026, 11, 25)),
            "delivered_at": None,
            "carrier": "DHL",
        }
        r.cdc(at(22, 14), "orders.shipments", "c", ship)
        r.cdc(
            delivered,
            "orders.shipments",
            "u",
            {**ship, "status": "delivered", "delivered_at": delivered * 1000},
        )
        if returned:
            r.cdc(
                returned,
                "orders.shipments",
                "u",
                {**ship, "status": "returned", "delivered_at": delivered * 1000},
            )

    # n-7: email marketing consent deleted (delete, then tombstone), push only tombstoned
    email = _consent("n-7", "email", "marketing", True, iso)
    key_only = {k: (v if k in KEYS["consents"] else None) for k, v in email.items()}
    r.cdc(at(23, 19), "crm.consents", "d", email, before={**key_only, "granted": False})
    r.tombstone(at(23, 19), "crm.consents", email)
    r.tombstone(at(23, 19, 1), "crm.consents", _consent("n-7", "push", "marketing", True, iso))
    # n-8: email marketing withdrawn, updated_at in epoch microseconds
    r.cdc(at(23, 19), "crm.consents", "u", _consent("n-8", "email", "marketing", False, at(23, 19) * 1000))
    for cid in ("n-7", "n-8"):
        r.click(at(23, 19, 30), cid, "Signed Up")
    return r.lines()
