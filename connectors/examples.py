"""Example records of every contract form: the shapes of CONTRACTS.md as real producers write
them (Segment calls, Debezium envelopes in each encoding, actions, journey events).

Used by the tests, the benchmarks and the demo, so that all three speak the same contract.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from common import events as ev

NOW_MS = 1_763_896_443_120  # 2025-11-23T11:14:03.120Z
NOW_US = NOW_MS * 1000

CLICK: dict[str, Any] = {
    "type": "track",
    "messageId": "5f1c-0001",
    "userId": "c-42",
    "anonymousId": "a-9",
    "event": "Product Added",
    "timestamp": "2025-11-23T11:14:03.120Z",
    "properties": {
        "cart_id": "cart-9",
        "product_id": "p-1",
        "sku": "SKU-1",
        "category": "Jackets",
        "brand": "Nordwind",
        "name": "Shell jacket",
        "price": 129.0,
        "quantity": 1,
        "coupon": "WINTER",
    },
    "context": {"channel": "web", "timezone": "Europe/Berlin"},
}

ORDER_COMPLETED: dict[str, Any] = {
    "type": "track",
    "messageId": "5f1c-0002",
    "userId": "c-42",
    "event": "Order Completed",
    "timestamp": "2025-11-23T11:20:00.000Z",
    "properties": {
        "order_id": "o-1",
        "cart_id": "cart-9",
        "total": 129.0,
        "currency": "EUR",
        "products": [
            {
                "product_id": "p-1",
                "sku": "SKU-1",
                "category": "Jackets",
                "brand": "Nordwind",
                "name": "Shell jacket",
                "price": 129.0,
                "quantity": 1,
            }
        ],
    },
    "context": {"channel": "web"},
}

#: `after` rows as Debezium's JsonConverter writes them with the contract's default encodings
ROWS: dict[str, dict[str, Any]] = {
    "inventory.products": {
        "sku": "SKU-1",
        "product_id": "p-1",
        "name": "Shell jacket",
        "category": "Jackets",
        "brand": "Nordwind",
        "price": "129.00",
    },
    "inventory.stores": {"store_id": "s-berlin", "name": "Berlin Mitte", "lat": 52.52, "lon": 13.405},
    "inventory.stock_levels": {
        "sku": "SKU-1",
        "location_id": "s-berlin",
        "quantity": 3,
        "updated_at": NOW_US,
    },
    "orders.orders": {
        "order_id": "o-1",
        "customer_id": "c-42",
        "cart_id": "cart-9",
        "status": "placed",
        "total": "129.00",
        "currency": "EUR",
        "created_at": NOW_US,
    },
    "orders.shipments": {
        "shipment_id": "sh-1",
        "order_id": "o-1",
        "customer_id": "c-42",
        "status": "in_transit",
        "estimated_delivery": 20_415,
        "delivered_at": None,
        "carrier": "DHL",
    },
    "crm.customers": {
        "customer_id": "c-42",
        "email": "c42@example.com",
        "phone": "+4915100000042",
        "timezone": "Europe/Berlin",
        "lat": 52.5,
        "lon": 13.4,
        "preferred_channel": "email",
        "loyalty_tier": "silver",
        "loyalty_points": 1200,
        "vip": False,
    },
    "crm.consents": {
        "customer_id": "c-42",
        "channel": "email",
        "purpose": "marketing",
        "granted": True,
        "updated_at": "2025-11-23T11:14:03.120000Z",
    },
    "support.tickets": {
        "ticket_id": "t-1",
        "customer_id": "c-42",
        "priority": "high",
        "status": "open",
        "created_at": NOW_US,
    },
    "onboarding.applications": {
        "application_id": "a-1",
        "customer_id": "c-42",
        "product": "current_account",
        "jurisdiction": "DE",
        "verification_status": "pending_documents",
        "missing_documents": '["passport", "proof_of_address"]',
        "updated_at": NOW_US,
    },
}

KEYS = ev.PRIMARY_KEYS

#: Postgres column types, for the JsonConverter schema and the Avro converter schema
COLUMN_TYPES: dict[str, str] = {
    "price": "numeric",
    "total": "numeric",
    "lat": "double",
    "lon": "double",
    "quantity": "int",
    "loyalty_points": "int",
    "vip": "boolean",
    "granted": "boolean",
    "updated_at": "timestamp",
    "created_at": "timestamp",
    "delivered_at": "timestamp",
    "estimated_delivery": "date",
}
# consents.updated_at is timestamptz in the contract
TZ_COLUMNS = {("crm.consents", "updated_at")}


def topic_of(table: str) -> str:
    system, name = table.split(".")
    return f"{system}.public.{name}"


def envelope(
    table: str,
    op: str = "c",
    after: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    lsn: int = 1000,
) -> dict[str, Any]:
    system, name = table.split(".")
    if after is None and op in "cru":
        after = copy.deepcopy(ROWS[table])
    if op == "d" and before is None:
        row = ROWS[table]
        before = {k: (row[k] if k in KEYS[table] else None) for k in row}
    return {
        "before": before,
        "after": after if op != "d" else None,
        "source": {
            "version": "3.3.2.Final",
            "connector": "postgresql",
            "name": system,
            "ts_ms": NOW_MS - 5,
            "snapshot": "false",
            "db": system,
            "schema": "public",
            "table": name,
            "txId": 771,
            "lsn": lsn,
        },
        "op": op,
        "ts_ms": NOW_MS,
        "transaction": None,
    }


def key_of(table: str, row: dict[str, Any] | None = None) -> bytes:
    row = row or ROWS[table]
    return json.dumps({k: row[k] for k in KEYS[table]}).encode()


def _connect_field(table: str, col: str) -> dict[str, Any]:
    t = COLUMN_TYPES.get(col, "string")
    if (table, col) in TZ_COLUMNS:
        return {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp", "field": col}
    if t == "timestamp":
        return {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTimestamp", "field": col}
    if t == "date":
        return {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "field": col}
    return {
        "type": {"numeric": "string", "double": "double", "int": "int32", "boolean": "boolean"}.get(
            t, "string"
        ),
        "optional": col not in KEYS[table],
        "field": col,
    }


def with_json_schema(table: str, env: dict[str, Any]) -> dict[str, Any]:
    """The same envelope as the JsonConverter writes it with schemas.enable=true."""
    value = {
        "type": "struct",
        "optional": True,
        "name": f"{topic_of(table)}.Value",
        "fields": [_connect_field(table, col) for col in ROWS[table]],
    }
    schema = {
        "type": "struct",
        "name": f"{topic_of(table)}.Envelope",
        "optional": False,
        "fields": [
            {**value, "field": "before"},
            {**value, "field": "after"},
            {
                "type": "struct",
                "optional": False,
                "name": "io.debezium.connector.postgresql.Source",
                "field": "source",
                "fields": [],
            },
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
        ],
    }
    return {"schema": schema, "payload": env}


def _avro_type(table: str, col: str) -> Any:
    t = COLUMN_TYPES.get(col, "string")
    if (table, col) in TZ_COLUMNS:
        base: Any = {
            "type": "string",
            "connect.version": 1,
            "connect.name": "io.debezium.time.ZonedTimestamp",
        }
    elif t == "timestamp":
        base = {"type": "long", "connect.version": 1, "connect.name": "io.debezium.time.MicroTimestamp"}
    elif t == "date":
        base = {"type": "int", "connect.version": 1, "connect.name": "io.debezium.time.Date"}
    else:
        base = {"numeric": "string", "double": "double", "int": "int", "boolean": "boolean"}.get(t, "string")
    return base if col in KEYS[table] else ["null", base]


def avro_envelope_schema(table: str) -> dict[str, Any]:
    """The value schema Debezium's Avro converter registers for a table."""
    value = {
        "type": "record",
        "name": "Value",
        "namespace": topic_of(table),
        "fields": [
            {"name": col, "type": _avro_type(table, col), **({} if col in KEYS[table] else {"default": None})}
            for col in ROWS[table]
        ],
        "connect.name": f"{topic_of(table)}.Value",
    }
    source = {
        "type": "record",
        "name": "Source",
        "namespace": "io.debezium.connector.postgresql",
        "fields": [
            {"name": "version", "type": "string"},
            {"name": "connector", "type": "string"},
            {"name": "name", "type": "string"},
            {"name": "ts_ms", "type": "long"},
            {"name": "db", "type": "string"},
            {"name": "schema", "type": "string"},
            {"name": "table", "type": "string"},
            {"name": "txId", "type": ["null", "long"], "default": None},
            {"name": "lsn", "type": ["null", "long"], "default": None},
        ],
    }
    return {
        "type": "record",
        "name": "Envelope",
        "namespace": topic_of(table),
        "fields": [
            {"name": "before", "type": ["null", value], "default": None},
            {"name": "after", "type": ["null", f"{topic_of(table)}.Value"], "default": None},
            {"name": "source", "type": source},
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": ["null", "long"], "default": None},
        ],
        "connect.name": f"{topic_of(table)}.Envelope",
    }


def avro_envelope_record(env: dict[str, Any]) -> dict[str, Any]:
    src = env["source"]
    return {
        "before": env["before"],
        "after": env["after"],
        "op": env["op"],
        "ts_ms": env["ts_ms"],
        "source": {
            k: src[k]
            for k in ("version", "connector", "name", "ts_ms", "db", "schema", "table", "txId", "lsn")
        },
    }


#: an action as the journey job writes it to actions.email
ACTION: dict[str, Any] = {
    "action_id": "act-0f3a",
    "customer_id": "c-42",
    "journey_id": "cart_abandonment",
    "journey_version": 3,
    "step_id": "first_touch",
    "action_type": "reserve_and_collect",
    "channel": "email",
    "purpose": "marketing",
    "variant": "B",
    "items": [
        {
            "sku": "SKU-1",
            "name": "Shell jacket",
            "category": "Jackets",
            "price": 129.0,
            "quantity": 1,
            "stock": 4,
        }
    ],
    "alternatives": [],
    "store": {"store_id": "s-berlin", "name": "Berlin Mitte", "distance_km": 1.2, "stock": 4},
    "urgency": True,
    "attributes": {"cart_id": "cart-9"},
    "reason": "SKU-1 in stock at Berlin Mitte, 1.2 km away",
    "trigger_event_id": "5f1c-0001",
    "decided_at": 1_763_896_443_120,
    "send_after": 1_763_896_443_120,
    "expires_at": None,
}
JOURNEY_EVENT: dict[str, Any] = {
    "event_id": "je-1",
    "customer_id": "c-42",
    "journey_id": "cart_abandonment",
    "journey_version": 3,
    "instance_key": "cart-9",
    "event_type": "suppressed",
    "step_id": "first_touch",
    "reason": "cap",
    "variant": None,
    "action_id": "act-0f3a",
    "action_type": "cart_reminder",
    "channel": None,
    "purpose": "marketing",
    "wait_until": None,
    "revenue": None,
    "currency": None,
    "order_id": None,
    "trigger_event_id": None,
    "occurred_at": 1_763_896_443_120,
    "attributes": {},
}

#: what a channel sender writes to channel-feedback
FEEDBACK: dict[str, Any] = {
    "action_id": "act-1",
    "customer_id": "c-42",
    "channel": "email",
    "event": "opened",
    "occurred_at": 1_763_896_443_120,
    "detail": None,
}
