"""Property test: every valid Debezium encoding of every contract column decodes to the same row.

A row of any captured table, drawn at random, is written the ways CONTRACTS.md allows: the
JsonConverter without and with `schemas.enable`, and the Avro converter through the registry;
each time column as epoch milli-, micro- or nanoseconds or ISO-8601 text (a column is `timestamp`
at one source and `timestamptz` at another), each numeric as a string or a double, each date as
days since epoch or ISO text. Whatever the form, the decoder must give the same typed event.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import events as ev
from connectors.avro import Encoder, LocalSchemas
from connectors.debezium import TABLES, decode_change
from connectors.errors import DecodeError
from connectors.examples import (
    COLUMN_TYPES,
    KEYS,
    ROWS,
    avro_envelope_record,
    avro_envelope_schema,
    envelope,
    topic_of,
)

ENUMS: dict[str, tuple[str, ...]] = {
    "orders.orders.status": ev.ORDER_STATUSES,
    "orders.shipments.status": ev.SHIPMENT_STATUSES,
    "crm.customers.preferred_channel": ev.CHANNELS,
    "crm.customers.loyalty_tier": ev.LOYALTY_TIERS,
    "crm.consents.channel": ev.CHANNELS,
    "crm.consents.purpose": ev.PURPOSES,
    "support.tickets.priority": ev.TICKET_PRIORITIES,
    "support.tickets.status": ev.TICKET_STATUSES,
    "onboarding.applications.verification_status": ev.VERIFICATION_STATUSES,
}
T_MIN = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000)
T_MAX = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp() * 1000)
TIME_FORMS = ("millis", "micros", "nanos", "iso_z", "iso_offset", "iso_naive")

text = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=10)


def kind(table: str, col: str) -> str:
    if f"{table}.{col}" in ENUMS:
        return "enum"
    if col == "missing_documents":
        return "documents"
    return COLUMN_TYPES.get(col, "string")


def _accepts_null(table: str, col: str) -> bool:
    conv = dict(TABLES[table].columns)[col]
    try:
        conv(None, col)
    except DecodeError:
        return False
    return True


@st.composite
def column(draw: st.DrawFn, table: str, col: str) -> tuple[Any, str]:
    """(typed value, form): the value the row type holds and how this column is written."""
    k = kind(table, col)
    nullable = col not in KEYS[table] and k != "documents" and _accepts_null(table, col)
    if nullable and draw(st.integers(0, 5)) == 0:
        return None, "null"
    if k == "timestamp":
        return draw(st.integers(T_MIN, T_MAX)), draw(st.sampled_from(TIME_FORMS))
    if k == "date":
        return draw(st.dates(date(2000, 1, 1), date(2100, 1, 1))).isoformat(), draw(
            st.sampled_from(("days", "iso"))
        )
    if k == "numeric":
        return draw(st.integers(0, 10**7)) / 100, draw(st.sampled_from(("string", "double")))
    if k == "double":
        return draw(st.floats(-90, 90, allow_nan=False)), "double"
    if k == "int":
        return draw(st.integers(-(2**31), 2**31 - 1)), "int"
    if k == "boolean":
        return draw(st.booleans()), "boolean"
    if k == "enum":
        return draw(st.sampled_from(ENUMS[f"{table}.{col}"])), "string"
    if k == "documents":
        return tuple(draw(st.lists(text, max_size=3))), "documents"
    return draw(text), "string"


def raw(value: Any, form: str) -> Any:
    """The value as a converter writes it."""
    if value is None:
        return None
    if form == "millis":
        return value
    if form == "micros":
        return value * 1000
    if form == "nanos":
        return value * 1_000_000
    if form.startswith("iso_"):
        dt = datetime.fromtimestamp(value / 1000, tz=UTC)
        if form == "iso_offset":
            return dt.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(timespec="milliseconds")
        if form == "iso_naive":
            return dt.replace(tzinfo=None).isoformat(timespec="milliseconds")
        return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if form == "days":
        return (date.fromisoformat(value) - date(1970, 1, 1)).days
    if form == "iso":
        return value
    if form == "string" and isinstance(value, float):
        return repr(value)
    if form == "documents":
        return json.dumps(list(value))
    return value


#: form -> (Connect schema type, semantic name) for the JsonConverter with schemas
CONNECT = {
    "millis": ("int64", "io.debezium.time.Timestamp"),
    "micros": ("int64", "io.debezium.time.MicroTimestamp"),
    "nanos": ("int64", "io.debezium.time.NanoTimestamp"),
    "iso_z": ("string", "io.debezium.time.ZonedTimestamp"),
    "iso_offset": ("string", "io.debezium.time.ZonedTimestamp"),
    "iso_naive": ("string", None),
    "days": ("int32", "io.debezium.time.Date"),
    "iso": ("string", None),
    "string": ("string", None),
    "double": ("double", None),
    "int": ("int32", None),
    "boolean": ("boolean", None),
    "documents": ("string", None),
}
AVRO_BASE = {"int64": "long", "int32": "int", "string": "string", "double": "double", "boolean": "boolean"}


@st.composite
def drawn_row(draw: st.DrawFn) -> tuple[str, dict[str, tuple[Any, str]]]:
    table = draw(st.sampled_from(sorted(TABLES)))
    cols = {col: draw(column(table, col)) for col in ROWS[table]}
    return table, cols


def forms_of(table: str, cols: dict[str, tuple[Any, str]]) -> dict[str, Any]:
    """A null column takes the form of a non-null one of its kind in the schemas."""
    out = {}
    for col, (_, form) in cols.items():
        if form == "null":
            form = {"timestamp": "micros", "date": "days", "numeric": "string", "int": "int"}.get(
                kind(table, col), "double" if kind(table, col) == "double" else "string"
            )
            form = "boolean" if kind(table, col) == "boolean" else form
        out[col] = form
    return out


def json_schema(table: str, forms: dict[str, str]) -> dict[str, Any]:
    fields = []
    for col, form in forms.items():
        t, name = CONNECT[form]
        f: dict[str, Any] = {"type": t, "optional": col not in KEYS[table], "field": col}
        if name:
            f["name"] = name
        fields.append(f)
    value = {"type": "struct", "optional": True, "name": f"{topic_of(table)}.Value", "fields": fields}
    return {
        "type": "struct",
        "name": f"{topic_of(table)}.Envelope",
        "fields": [
            {**value, "field": "before"},
            {**value, "field": "after"},
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
        ],
    }


def avro_schema(table: str, forms: dict[str, str]) -> dict[str, Any]:
    schema = avro_envelope_schema(table)
    for f in schema["fields"][0]["type"][1]["fields"]:
        t, name = CONNECT[forms[f["name"]]]
        base: Any = {"type": AVRO_BASE[t], "connect.name": name} if name else AVRO_BASE[t]
        f["type"] = base if f["name"] in KEYS[table] else ["null", base]
    return schema


def expected(table: str, cols: dict[str, tuple[Any, str]]) -> ev.Row:
    row: ev.Row = TABLES[table].row(*(v for v, _ in cols.values()))
    return row


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=drawn_row(), op=st.sampled_from(("c", "u", "r")))
def test_every_encoding_of_every_column_gives_the_same_event(
    drawn: tuple[str, dict[str, tuple[Any, str]]], op: str
) -> None:
    table, cols = drawn
    after = {col: raw(v, form) for col, (v, form) in cols.items()}
    forms = forms_of(table, cols)
    env = envelope(table, op, after=after)
    registry = LocalSchemas()
    values = {
        "json": json.dumps(env).encode(),
        "json+schema": json.dumps({"schema": json_schema(table, forms), "payload": env}).encode(),
        "avro": Encoder(registry, topic_of(table), avro_schema(table, forms)).encode(
            avro_envelope_record(env)
        ),
    }
    want = expected(table, cols)
    for name, value in values.items():
        dropped: list[str] = []
        change = decode_change(value, TABLES[table], registry, "t/0/1", dropped)
        assert change is not None, name
        assert change.after == want, f"{name}: {change.after} != {want}"
        assert (change.op, change.table) == (op, table), name
        assert dropped == [], f"{name}: {dropped}"
