"""Debezium change events of CONTRACTS.md's tables into typed `ChangeEvent`s.

Accepts the JsonConverter with and without `schemas.enable` and the Avro converter through the
registry (Confluent wire format). Column encodings are Debezium's defaults; where the envelope
carries a schema, its semantic type names refine them (a `timestamp(3)` column arrives as
`io.debezium.time.Timestamp` in milliseconds, not microseconds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from connectors import columns as c
from connectors.avro import SchemaSource, decode, is_wire_format
from connectors.errors import BadEnvelope, MalformedJson, MissingField, UnknownOp, WrongType
from journeys import events as ev

Req, Opt = c.required, c.optional


@dataclass(frozen=True)
class Table:
    """One captured table: its row type, its columns in the row type's order, its key columns."""

    name: str
    row: type
    columns: tuple[tuple[str, c.Converter], ...]
    key: tuple[str, ...]

    def build(
        self, values: dict[str, Any], where: str, hints: dict[str, c.Converter], key_only: bool = False
    ) -> ev.Row:
        if type(values) is not dict:
            raise WrongType(f"{where}: expected an object, got {type(values).__name__}")
        args = []
        for col, conv in self.columns:
            raw = values.get(col)
            if key_only and col not in self.key:
                # a delete under REPLICA IDENTITY DEFAULT carries only the key columns
                args.append(None if raw is None else hints.get(col, conv)(raw, f"{where}.{col}"))
                continue
            args.append(hints.get(col, conv)(raw, f"{where}.{col}"))
        row: ev.Row = self.row(*args)
        return row


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "inventory.products",
            ev.Product,
            (
                ("sku", Req(c.text)),
                ("product_id", Opt(c.text)),
                ("name", Opt(c.text)),
                ("category", Opt(c.text)),
                ("brand", Opt(c.text)),
                ("price", Opt(c.number)),
            ),
            ("sku",),
        ),
        Table(
            "inventory.stores",
            ev.Store,
            (
                ("store_id", Req(c.text)),
                ("name", Opt(c.text)),
                ("lat", Opt(c.number)),
                ("lon", Opt(c.number)),
            ),
            ("store_id",),
        ),
        Table(
            "inventory.stock_levels",
            ev.StockLevel,
            (
                ("sku", Req(c.text)),
                ("location_id", Req(c.text)),
                ("quantity", Req(c.integer)),
                ("updated_at", Opt(c.micros_timestamp)),
            ),
            ("sku", "location_id"),
        ),
        Table(
            "orders.orders",
            ev.Order,
            (
                ("order_id", Req(c.text)),
                ("customer_id", Req(c.text)),
                ("cart_id", Opt(c.text)),
                ("status", Req(c.one_of(ev.ORDER_STATUSES))),
                ("total", Opt(c.number)),
                ("currency", Opt(c.text)),
                ("created_at", Opt(c.micros_timestamp)),
            ),
            ("order_id",),
        ),
        Table(
            "orders.shipments",
            ev.Shipment,
            (
                ("shipment_id", Req(c.text)),
                ("order_id", Req(c.text)),
                ("customer_id", Req(c.text)),
                ("status", Req(c.one_of(ev.SHIPMENT_STATUSES))),
                ("estimated_delivery", Opt(c.days_date)),
                ("delivered_at", Opt(c.micros_timestamp)),
                ("carrier", Opt(c.text)),
            ),
            ("shipment_id",),
        ),
        Table(
            "crm.customers",
            ev.Customer,
            (
                ("customer_id", Req(c.text)),
                ("email", Opt(c.text)),
                ("phone", Opt(c.text)),
                ("timezone", Opt(c.text)),
                ("lat", Opt(c.number)),
                ("lon", Opt(c.number)),
                ("preferred_channel", Opt(c.one_of(ev.CHANNELS))),
                ("loyalty_tier", Opt(c.one_of(ev.LOYALTY_TIERS))),
                ("loyalty_points", Opt(c.integer)),
                ("vip", Req(c.boolean)),
            ),
            ("customer_id",),
        ),
        Table(
            "crm.consents",
            ev.Consent,
            (
                ("customer_id", Req(c.text)),
                ("channel", Req(c.one_of(ev.CHANNELS))),
                ("purpose", Req(c.one_of(ev.PURPOSES))),
                ("granted", Req(c.boolean)),
                ("updated_at", Opt(c.iso_timestamp)),
            ),
            ("customer_id", "channel", "purpose"),
        ),
        Table(
            "support.tickets",
            ev.Ticket,
            (
                ("ticket_id", Req(c.text)),
                ("customer_id", Req(c.text)),
                ("priority", Req(c.one_of(ev.TICKET_PRIORITIES))),
                ("status", Req(c.one_of(ev.TICKET_STATUSES))),
                ("created_at", Opt(c.micros_timestamp)),
            ),
            ("ticket_id",),
        ),
        Table(
            "onboarding.applications",
            ev.Application,
            (
                ("application_id", Req(c.text)),
                ("customer_id", Req(c.text)),
                ("product", Opt(c.text)),
                ("jurisdiction", Opt(c.text)),
                ("verification_status", Req(c.one_of(ev.VERIFICATION_STATUSES))),
                ("missing_documents", lambda v, col: () if v is None else c.json_string_list(v, col)),
                ("updated_at", Opt(c.micros_timestamp)),
            ),
            ("application_id",),
        ),
    )
}


_SEMANTIC: dict[str, Callable[[Any, str], Any]] = {
    "io.debezium.time.Timestamp": c.optional(c.millis_timestamp),
    "io.debezium.time.MicroTimestamp": c.optional(c.micros_timestamp),
    "io.debezium.time.NanoTimestamp": c.optional(lambda v, col: c.integer(v, col) // 1_000_000),
    "io.debezium.time.ZonedTimestamp": c.optional(c.iso_timestamp),
    "io.debezium.time.Date": c.optional(c.days_date),
}


def _json_schema_hints(schema: Any) -> dict[str, c.Converter]:
    """Semantic types of the `after` struct of a JsonConverter schema (schemas.enable=true)."""
    hints: dict[str, c.Converter] = {}
    if type(schema) is not dict:
        return hints
    for part in schema.get("fields") or ():
        if type(part) is dict and part.get("field") in ("after", "before"):
            for f in part.get("fields") or ():
                conv = _SEMANTIC.get(f.get("name", "")) if type(f) is dict else None
                if conv is not None:
                    hints[f["field"]] = conv
            break
    return hints


def _avro_schema_hints(schema: dict[str, Any]) -> dict[str, c.Converter]:
    """Semantic types from `connect.name` in the Avro converter's writer schema.

    The row record is defined where it first appears, in `before`; `after` only names it."""
    hints: dict[str, c.Converter] = {}
    for f in schema.get("fields", ()):
        if f.get("name") not in ("before", "after"):
            continue
        for branch in f["type"] if isinstance(f["type"], list) else [f["type"]]:
            if isinstance(branch, dict) and branch.get("type") == "record":
                for col in branch.get("fields", ()):
                    t = col["type"]
                    for tb in t if isinstance(t, list) else [t]:
                        conv = _SEMANTIC.get(tb.get("connect.name", "")) if isinstance(tb, dict) else None
                        if conv is not None:
                            hints[col["name"]] = conv
                return hints
    return hints


_OPS = frozenset("curdt")


def decode_change(value: bytes, table: Table, schemas: SchemaSource, record_id: str) -> ev.ChangeEvent | None:
    """A change event, or None for a tombstone (the null value after a delete)."""
    hints: dict[str, c.Converter]
    if is_wire_format(value):
        payload, writer = decode(value, schemas)
        hints = _avro_schema_hints(writer)
    else:
        try:
            payload = orjson.loads(value)
        except orjson.JSONDecodeError as e:
            raise MalformedJson(f"not JSON: {e}"[:300]) from None
        hints = {}
        if type(payload) is dict and "payload" in payload and "schema" in payload:
            hints = _json_schema_hints(payload["schema"])
            payload = payload["payload"]
    if payload is None:
        return None
    if type(payload) is not dict:
        raise BadEnvelope(f"expected a Debezium envelope object, got {type(payload).__name__}")
    op = payload.get("op")
    if op is None:
        raise MissingField("envelope: field 'op' is missing")
    if type(op) is not str or op not in _OPS:
        raise UnknownOp(f"envelope: unknown op {str(op)[:20]!r} (expected c, u, d, r or t)")
    ts_ms = payload.get("ts_ms")
    if ts_ms is None:
        source = payload.get("source")
        ts_ms = source.get("ts_ms") if type(source) is dict else None
    if ts_ms is None:
        raise MissingField("envelope: field 'ts_ms' is missing")
    ts_ms = c.integer(ts_ms, "ts_ms")
    raw_before, raw_after = payload.get("before"), payload.get("after")
    before = after = None
    if op == "d":
        if raw_before is None:
            raise MissingField("envelope: a delete without 'before'")
        before = table.build(raw_before, "before", hints, key_only=True)
    elif op != "t":
        if raw_after is None:
            raise MissingField(f"envelope: op {op!r} without 'after'")
        after = table.build(raw_after, "after", hints)
        if raw_before is not None:
            # REPLICA IDENTITY DEFAULT gives no before on updates; FULL gives all of it
            before = table.build(raw_before, "before", hints, key_only=True)
    source = payload.get("source")
    lsn = source.get("lsn") if type(source) is dict else None
    row = after or before
    if lsn is not None and row is not None:
        key = "/".join(str(getattr(row, k)) for k in table.key)
        event_id = f"{table.name}:{lsn}:{op}:{key}"
    else:
        event_id = record_id
    return ev.ChangeEvent(
        table=table.name,
        op=op,  # type: ignore[arg-type]  # checked against _OPS above
        before=before,
        after=after,
        ts_ms=ts_ms,
        event_id=event_id,
    )
