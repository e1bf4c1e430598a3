"""Debezium change events of CONTRACTS.md's tables into typed `ChangeEvent`s.

Accepts the JsonConverter with and without `schemas.enable` and the Avro converter through the
registry (Confluent wire format). Column encodings are Debezium's defaults; where the envelope
carries a schema, its semantic type names refine them (a `timestamp(3)` column arrives as
`io.debezium.time.Timestamp` in milliseconds, not microseconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from common import events as ev
from connectors import columns as c
from connectors.avro import SchemaSource, decode, is_wire_format
from connectors.errors import BadEnvelope, DecodeError, MalformedJson, MissingField, UnknownOp, WrongType

Req, Opt = c.required, c.optional


@dataclass(frozen=True)
class Table:
    """One captured table: its row type, its columns in the row type's order, its key columns."""

    name: str
    row: type
    columns: tuple[tuple[str, c.Converter], ...]
    key: tuple[str, ...]
    #: columns no decision reads: a value there that cannot be read becomes None (and is counted)
    #: instead of costing the whole row (CONTRACTS.md: never lose a row over such a column)
    soft: frozenset[str] = frozenset()

    def build(
        self,
        values: dict[str, Any],
        where: str,
        hints: dict[str, c.Converter],
        key_only: bool = False,
        dropped: list[str] | None = None,
    ) -> ev.Row:
        if type(values) is not dict:
            raise WrongType(f"{where}: expected an object, got {type(values).__name__}")
        args: list[Any] = []
        for col, conv in self.columns:
            raw = values.get(col)
            if key_only and raw is None and col not in self.key:
                # a delete under REPLICA IDENTITY DEFAULT carries only the key columns
                args.append(None)
                continue
            try:
                args.append(hints.get(col, conv)(raw, f"{where}.{col}"))
            except DecodeError:
                if col not in self.soft:
                    raise
                args.append(None)
                if dropped is not None:
                    dropped.append(f"{self.name}.{col}")
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
            frozenset({"product_id", "name", "price"}),
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
            frozenset({"name"}),
        ),
        Table(
            "inventory.stock_levels",
            ev.StockLevel,
            (
                ("sku", Req(c.text)),
                ("location_id", Req(c.text)),
                ("quantity", Req(c.integer)),
                ("updated_at", Opt(c.timestamp)),
            ),
            ("sku", "location_id"),
            frozenset({"updated_at"}),
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
                ("created_at", Opt(c.timestamp)),
            ),
            ("order_id",),
            frozenset({"total", "currency", "created_at"}),
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
                ("delivered_at", Opt(c.timestamp)),
                ("carrier", Opt(c.text)),
            ),
            ("shipment_id",),
            frozenset({"carrier"}),
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
            # each has a fallback where it is absent (the best channel, no nearest store, the
            # default time zone): not worth losing the row's email, tier or VIP flag over
            frozenset({"preferred_channel", "lat", "lon", "loyalty_points"}),
        ),
        Table(
            "crm.consents",
            ev.Consent,
            (
                ("customer_id", Req(c.text)),
                ("channel", Req(c.one_of(ev.CHANNELS))),
                ("purpose", Req(c.one_of(ev.PURPOSES))),
                ("granted", Req(c.boolean)),
                ("updated_at", Opt(c.timestamp)),
            ),
            ("customer_id", "channel", "purpose"),
            frozenset({"updated_at"}),
        ),
        Table(
            "support.tickets",
            ev.Ticket,
            (
                ("ticket_id", Req(c.text)),
                ("customer_id", Req(c.text)),
                ("priority", Req(c.one_of(ev.TICKET_PRIORITIES))),
                ("status", Req(c.one_of(ev.TICKET_STATUSES))),
                ("created_at", Opt(c.timestamp)),
            ),
            ("ticket_id",),
            frozenset({"created_at"}),
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
                ("updated_at", Opt(c.timestamp)),
            ),
            ("application_id",),
            frozenset({"updated_at"}),
        ),
    )
}


_MILLIS = c.optional(c.millis_timestamp)
_MICROS = c.optional(c.micros_timestamp)
_DAYS = c.optional(c.days_date)
#: what a schema's semantic type says of a column's unit: Debezium's names, Connect's logical
#: types (`time.precision.mode=connect`) and Avro's logical types
_SEMANTIC: dict[str, c.Converter] = {
    "io.debezium.time.Timestamp": _MILLIS,
    "io.debezium.time.MicroTimestamp": _MICROS,
    "io.debezium.time.NanoTimestamp": c.optional(c.nanos_timestamp),
    "io.debezium.time.ZonedTimestamp": c.optional(c.timestamp),
    "io.debezium.time.Date": _DAYS,
    "org.apache.kafka.connect.data.Timestamp": _MILLIS,
    "org.apache.kafka.connect.data.Date": _DAYS,
    "timestamp-millis": _MILLIS,
    "timestamp-micros": _MICROS,
    "local-timestamp-millis": _MILLIS,
    "local-timestamp-micros": _MICROS,
    "date": _DAYS,
}


def _json_schema_hints(schema: Any) -> dict[str, c.Converter]:
    """Semantic types of the row struct of a JsonConverter schema (schemas.enable=true)."""
    hints: dict[str, c.Converter] = {}
    if type(schema) is not dict:
        return hints
    for part in schema.get("fields") or ():
        if type(part) is dict and part.get("field") in ("after", "before"):
            for f in part.get("fields") or ():
                conv = _SEMANTIC.get(f.get("name") or "") if type(f) is dict else None
                if conv is not None:
                    hints[f["field"]] = conv
            break
    return hints


def _avro_column_hint(t: Any) -> c.Converter | None:
    for tb in t if isinstance(t, list) else [t]:
        if isinstance(tb, dict):
            conv = _SEMANTIC.get(tb.get("connect.name") or "") or _SEMANTIC.get(tb.get("logicalType") or "")
            if conv is not None:
                return conv
    return None


def _avro_schema_hints(schema: dict[str, Any]) -> dict[str, c.Converter]:
    """Semantic types from `connect.name` (or an Avro `logicalType`) in the writer schema.

    The row record is defined where it first appears, in `before`; `after` only names it."""
    hints: dict[str, c.Converter] = {}
    for f in schema.get("fields", ()):
        if f.get("name") not in ("before", "after"):
            continue
        for branch in f["type"] if isinstance(f["type"], list) else [f["type"]]:
            if isinstance(branch, dict) and branch.get("type") == "record":
                for col in branch.get("fields", ()):
                    conv = _avro_column_hint(col["type"])
                    if conv is not None:
                        hints[col["name"]] = conv
                return hints
    return hints


#: hints per writer schema (the registry client hands out the same object for an id); the schema
#: is kept beside its hints so that an id() is never mistaken for a collected schema's
_AVRO_HINTS: dict[int, tuple[dict[str, Any], dict[str, c.Converter]]] = {}


def _cached_avro_hints(schema: dict[str, Any]) -> dict[str, c.Converter]:
    found = _AVRO_HINTS.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    if len(_AVRO_HINTS) > 1000:
        _AVRO_HINTS.clear()
    hints = _avro_schema_hints(schema)
    _AVRO_HINTS[id(schema)] = (schema, hints)
    return hints


_OPS = frozenset("curdt")


def decode_change(
    value: bytes, table: Table, schemas: SchemaSource, record_id: str, dropped: list[str] | None = None
) -> ev.ChangeEvent | None:
    """A change event, or None for a tombstone (the null value after a delete). Soft columns
    that could not be read are appended to `dropped`."""
    hints: dict[str, c.Converter]
    if is_wire_format(value):
        payload, writer = decode(value, schemas)
        hints = _cached_avro_hints(writer)
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
        before = table.build(raw_before, "before", hints, key_only=True, dropped=dropped)
    elif op != "t":
        if raw_after is None:
            raise MissingField(f"envelope: op {op!r} without 'after'")
        after = table.build(raw_after, "after", hints, dropped=dropped)
        if raw_before is not None:
            # REPLICA IDENTITY DEFAULT gives no before on updates; FULL gives all of it
            before = table.build(raw_before, "before", hints, key_only=True, dropped=dropped)
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


def decode_tombstone(
    key: bytes | None, table: Table, schemas: SchemaSource, ts_ms: int
) -> ev.ChangeEvent | None:
    """A tombstone (null value) as the delete of the row its key names, or None when the key does
    not name one. Debezium sends one after every delete; where a pipeline keeps only the
    tombstone (an unwrap SMT, a compacted topic), it is the only word that the row is gone, and a
    deleted consent must stop counting. Applying it after its delete changes nothing."""
    if not key:
        return None
    try:
        if is_wire_format(key):
            fields: Any = decode(key, schemas)[0]
        else:
            fields = orjson.loads(key)
            if type(fields) is dict and "payload" in fields and "schema" in fields:
                fields = fields["payload"]
    except (DecodeError, orjson.JSONDecodeError):
        fields = key.decode("utf-8", "replace")
    if type(fields) is not dict:
        if len(table.key) != 1 or type(fields) is not str:
            return None
        fields = {table.key[0]: fields}
    try:
        row = table.build(fields, "key", {}, key_only=True)
    except DecodeError:
        return None
    # the same on every replay and whatever the topic is called (unlike topic/partition/offset)
    key_text = "/".join(str(getattr(row, k)) for k in table.key)
    return ev.ChangeEvent(
        table=table.name,
        op="d",
        before=row,
        after=None,
        ts_ms=ts_ms,
        event_id=f"{table.name}:tombstone:{key_text}:{ts_ms}",
    )
