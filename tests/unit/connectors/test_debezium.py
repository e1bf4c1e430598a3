from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from common import events as ev
from connectors.avro import Encoder, LocalSchemas
from connectors.debezium import TABLES, decode_change
from connectors.errors import InvalidValue, MalformedAvro, MissingField, UnknownOp, UnknownSchemaId, WrongType
from connectors.examples import (
    NOW_MS,
    ROWS,
    avro_envelope_record,
    avro_envelope_schema,
    envelope,
    topic_of,
    with_json_schema,
)

EXPECTED: dict[str, ev.Row] = {
    "inventory.products": ev.Product("SKU-1", "p-1", "Shell jacket", "Jackets", "Nordwind", 129.0),
    "inventory.stores": ev.Store("s-berlin", "Berlin Mitte", 52.52, 13.405),
    "inventory.stock_levels": ev.StockLevel("SKU-1", "s-berlin", 3, NOW_MS),
    "orders.orders": ev.Order("o-1", "c-42", "cart-9", "placed", 129.0, "EUR", NOW_MS),
    "orders.shipments": ev.Shipment("sh-1", "o-1", "c-42", "in_transit", "2025-11-23", None, "DHL"),
    "crm.customers": ev.Customer(
        "c-42",
        "c42@example.com",
        "+4915100000042",
        "Europe/Berlin",
        52.5,
        13.4,
        "email",
        "silver",
        1200,
        False,
    ),
    "crm.consents": ev.Consent("c-42", "email", "marketing", True, NOW_MS),
    "support.tickets": ev.Ticket("t-1", "c-42", "high", "open", NOW_MS),
    "onboarding.applications": ev.Application(
        "a-1", "c-42", "current_account", "DE", "pending_documents", ("passport", "proof_of_address"), NOW_MS
    ),
}


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _avro(registry: LocalSchemas, table: str, env: dict[str, Any]) -> bytes:
    return Encoder(registry, topic_of(table), avro_envelope_schema(table)).encode(avro_envelope_record(env))


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_in_every_encoding_gives_the_same_typed_row(table: str) -> None:
    registry = LocalSchemas()
    env = envelope(table, "c")
    forms = {
        "json": _json(env),
        "json+schema": _json(with_json_schema(table, env)),
        "avro": _avro(registry, table, env),
    }
    for form, value in forms.items():
        change = decode_change(value, TABLES[table], registry, "t/0/1")
        assert change is not None, form
        assert change.after == EXPECTED[table], form
        assert (change.op, change.ts_ms, change.table, change.before) == ("c", NOW_MS, table, None), form


@pytest.mark.parametrize("table", sorted(TABLES))
def test_a_delete_carries_the_key_columns_of_before(table: str) -> None:
    change = decode_change(_json(envelope(table, "d")), TABLES[table], LocalSchemas(), "t/0/1")
    assert change is not None and change.op == "d" and change.after is None
    for col in TABLES[table].key:
        assert getattr(change.before, col) == getattr(EXPECTED[table], col)


def test_snapshot_reads_build_the_same_rows_as_inserts() -> None:
    table = "inventory.stock_levels"
    read = decode_change(_json(envelope(table, "r")), TABLES[table], LocalSchemas(), "x")
    insert = decode_change(_json(envelope(table, "c")), TABLES[table], LocalSchemas(), "x")
    assert read is not None and insert is not None
    assert read.after == insert.after


def test_event_id_is_stable_for_the_same_change_and_differs_between_rows() -> None:
    t = TABLES["inventory.stock_levels"]
    a = decode_change(_json(envelope(t.name, "u", lsn=5)), t, LocalSchemas(), "topic/0/1")
    again = decode_change(_json(envelope(t.name, "u", lsn=5)), t, LocalSchemas(), "topic/1/99")
    other = decode_change(
        _json(envelope(t.name, "u", after={**ROWS[t.name], "location_id": "online"}, lsn=5)),
        t,
        LocalSchemas(),
        "topic/0/2",
    )
    assert a is not None and again is not None and other is not None
    assert a.event_id == again.event_id != other.event_id


def test_numeric_as_double_and_timestamp_millis_hint() -> None:
    t = TABLES["orders.orders"]
    env = envelope(t.name, after={**ROWS[t.name], "total": 129.5})
    change = decode_change(_json(env), t, LocalSchemas(), "x")
    assert change is not None and isinstance(change.after, ev.Order) and change.after.total == 129.5
    wrapped = with_json_schema(t.name, envelope(t.name, after={**ROWS[t.name], "created_at": NOW_MS}))
    for f in wrapped["schema"]["fields"][1]["fields"]:
        if f["field"] == "created_at":
            f["name"] = "io.debezium.time.Timestamp"
    change = decode_change(_json(wrapped), t, LocalSchemas(), "x")
    assert change is not None and isinstance(change.after, ev.Order) and change.after.created_at == NOW_MS


def test_timestamp_millis_hint_from_the_avro_writer_schema() -> None:
    """Debezium's Avro envelope defines the row record in `before` and names it in `after`: the
    semantic types are found either way (a `timestamp(3)` column is milliseconds)."""
    t = TABLES["orders.orders"]
    schema = avro_envelope_schema(t.name)
    before, after = schema["fields"][0], schema["fields"][1]
    assert isinstance(before["type"][1], dict) and isinstance(after["type"][1], str)
    for f in before["type"][1]["fields"]:
        if f["name"] == "created_at":
            f["type"][1]["connect.name"] = "io.debezium.time.Timestamp"
    registry = LocalSchemas()
    value = Encoder(registry, topic_of(t.name), schema).encode(
        avro_envelope_record(envelope(t.name, after={**ROWS[t.name], "created_at": NOW_MS}))
    )
    change = decode_change(value, t, registry, "x")
    assert change is not None and isinstance(change.after, ev.Order) and change.after.created_at == NOW_MS


def test_tombstone_and_truncate() -> None:
    t = TABLES["crm.customers"]
    assert decode_change(b"null", t, LocalSchemas(), "x") is None
    assert decode_change(_json({"schema": None, "payload": None}), t, LocalSchemas(), "x") is None
    trunc = decode_change(_json({**envelope(t.name, "c"), "op": "t", "after": None}), t, LocalSchemas(), "x")
    assert trunc is not None and trunc.op == "t" and trunc.row is None


@pytest.mark.parametrize(
    ("mutate", "error", "needle"),
    [
        (lambda e: e.__setitem__("op", "x"), UnknownOp, "unknown op"),
        (lambda e: e.pop("op"), MissingField, "'op'"),
        (lambda e: e.__setitem__("after", None), MissingField, "without 'after'"),
        (lambda e: e.pop("ts_ms") and e.pop("source"), MissingField, "ts_ms"),
        (lambda e: e["after"].pop("sku"), MissingField, "after.sku"),
        (lambda e: e["after"].__setitem__("quantity", "three"), WrongType, "after.quantity"),
        (lambda e: e.__setitem__("after", [1]), WrongType, "after"),
    ],
)
def test_bad_envelopes_name_what_is_wrong(mutate: Any, error: type[Exception], needle: str) -> None:
    env = copy.deepcopy(envelope("inventory.stock_levels", "u"))
    mutate(env)
    with pytest.raises(error, match=needle):
        decode_change(_json(env), TABLES["inventory.stock_levels"], LocalSchemas(), "x")


def test_values_outside_the_contract_are_refused() -> None:
    t = TABLES["crm.customers"]
    env = envelope(t.name, after={**ROWS[t.name], "loyalty_tier": "diamond"})
    with pytest.raises(InvalidValue, match="loyalty_tier"):
        decode_change(_json(env), t, LocalSchemas(), "x")


def test_avro_with_an_unknown_id_or_a_truncated_body() -> None:
    registry = LocalSchemas()
    table = "inventory.stock_levels"
    wire = _avro(registry, table, envelope(table))
    with pytest.raises(UnknownSchemaId):
        decode_change(b"\x00\x00\x00\x03\x09" + wire[5:], TABLES[table], registry, "x")
    with pytest.raises(MalformedAvro):
        decode_change(wire[:-4], TABLES[table], registry, "x")
    with pytest.raises(MalformedAvro, match="left after"):
        decode_change(wire + b"\x00\x01", TABLES[table], registry, "x")


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("orders.shipments", "delivered_at"),
        ("orders.shipments", "estimated_delivery"),
        ("crm.customers", "vip"),
    ],
)
def test_a_column_the_decision_reads_is_refused_when_unreadable(table: str, column: str) -> None:
    env = envelope(table, after={**ROWS[table], column: "soon"})
    with pytest.raises(WrongType, match=f"after.{column}"):
        decode_change(_json(env), TABLES[table], LocalSchemas(), "x")


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("crm.consents", "updated_at"),
        ("inventory.stock_levels", "updated_at"),
        ("orders.orders", "total"),
        ("crm.customers", "preferred_channel"),
    ],
)
def test_a_column_no_decision_reads_never_costs_the_row(table: str, column: str) -> None:
    """An unreadable value there is left empty and counted; the rest of the row is used."""
    dropped: list[str] = []
    env = envelope(table, after={**ROWS[table], column: {"odd": True}})
    change = decode_change(_json(env), TABLES[table], LocalSchemas(), "x", dropped)
    assert change is not None and getattr(change.after, column) is None
    want = {k: getattr(EXPECTED[table], k) for k in TABLES[table].row.__slots__ if k != column}
    assert {k: getattr(change.after, k) for k in want} == want
    assert dropped == [f"{table}.{column}"]


#: 2025-11-23T11:14:03.120Z in every encoding a time column arrives in
TIME_ENCODINGS = [
    NOW_MS,
    NOW_MS * 1000,
    NOW_MS * 1_000_000,
    "2025-11-23T11:14:03.120Z",
    "2025-11-23T11:14:03.120000Z",
    "2025-11-23 12:14:03.12+01",
    "2025-11-23T11:14:03.120",
    str(NOW_MS * 1000),
    float(NOW_MS),
]


@pytest.mark.parametrize("value", TIME_ENCODINGS)
@pytest.mark.parametrize("table", ["crm.consents", "onboarding.applications", "orders.orders"])
def test_time_columns_accept_every_encoding(table: str, value: Any) -> None:
    column = "created_at" if table == "orders.orders" else "updated_at"
    env = envelope(table, after={**ROWS[table], column: value})
    change = decode_change(_json(env), TABLES[table], LocalSchemas(), "x")
    assert change is not None and getattr(change.after, column) == NOW_MS


def test_a_timestamp_column_at_a_timestamptz_source_through_avro() -> None:
    """consents.updated_at as `timestamp` (MicroTimestamp) in the writer schema, where the
    contract's example has `timestamptz`: the row is read, in milliseconds."""
    t = TABLES["crm.consents"]
    schema = avro_envelope_schema(t.name)
    for f in schema["fields"][0]["type"][1]["fields"]:
        if f["name"] == "updated_at":
            f["type"][1] = {
                "type": "long",
                "connect.version": 1,
                "connect.name": "io.debezium.time.MicroTimestamp",
            }
    registry = LocalSchemas()
    env = envelope(t.name, after={**ROWS[t.name], "updated_at": NOW_MS * 1000})
    value = Encoder(registry, topic_of(t.name), schema).encode(avro_envelope_record(env))
    change = decode_change(value, t, registry, "x")
    assert change is not None and change.after == EXPECTED[t.name]


@pytest.mark.parametrize("logical", ["timestamp-millis", "timestamp-micros"])
def test_avro_logical_types_give_the_unit(logical: str) -> None:
    t = TABLES["orders.orders"]
    schema = avro_envelope_schema(t.name)
    for f in schema["fields"][0]["type"][1]["fields"]:
        if f["name"] == "created_at":
            f["type"][1] = {"type": "long", "logicalType": logical}
    registry = LocalSchemas()
    raw = NOW_MS if logical == "timestamp-millis" else NOW_MS * 1000
    env = envelope(t.name, after={**ROWS[t.name], "created_at": raw})
    value = Encoder(registry, topic_of(t.name), schema).encode(avro_envelope_record(env))
    change = decode_change(value, t, registry, "x")
    assert change is not None and isinstance(change.after, ev.Order) and change.after.created_at == NOW_MS
