"""Segment-style `track` calls, JSON or Avro (detected by the magic byte), into `ClickEvent`s."""

from __future__ import annotations

from typing import Any

import orjson

from connectors import columns as c
from connectors.avro import SchemaSource, decode, is_wire_format
from connectors.errors import BadEnvelope, InvalidValue, MalformedJson, MissingField, WrongType
from journeys.events import ClickEvent, Item

_opt_text = c.optional(c.text)
_opt_number = c.optional(c.number)
_KNOWN = frozenset(
    (
        "cart_id",
        "product_id",
        "sku",
        "category",
        "brand",
        "name",
        "price",
        "quantity",
        "order_id",
        "total",
        "currency",
        "products",
        "extra_json",
    )
)


def _quantity(v: Any, col: str) -> int:
    if v is None:
        return 1
    if type(v) is float and v.is_integer():
        return int(v)
    q = c.integer(v, col)
    if q < 0:
        raise InvalidValue(f"{col}: quantity {q} is negative")
    return q


def _item(p: dict[str, Any], where: str, sku_required: bool) -> Item | None:
    sku = p.get("sku")
    if sku is None:
        if sku_required:
            raise MissingField(f"{where}: field 'sku' is missing")
        return None
    return Item(
        sku=c.text(sku, f"{where}.sku"),
        product_id=_opt_text(p.get("product_id"), f"{where}.product_id"),
        category=_opt_text(p.get("category"), f"{where}.category"),
        brand=_opt_text(p.get("brand"), f"{where}.brand"),
        name=_opt_text(p.get("name"), f"{where}.name"),
        price=_opt_number(p.get("price"), f"{where}.price"),
        quantity=_quantity(p.get("quantity"), f"{where}.quantity"),
    )


def _timestamp(v: Any) -> int:
    if type(v) is int:  # the Avro form: timestamp-millis
        return v
    if v is None:
        raise MissingField("field 'timestamp' is missing")
    return c.iso_timestamp(v, "timestamp")


def from_mapping(obj: Any) -> ClickEvent:
    """A decoded JSON object or Avro record (same field names) into a `ClickEvent`."""
    if type(obj) is not dict:
        raise BadEnvelope(f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type", "track")
    if kind != "track":
        raise InvalidValue(f"only Segment track calls are used, got type {str(kind)[:40]!r}")
    message_id = obj.get("messageId")
    if message_id is None:
        raise MissingField("field 'messageId' is missing")
    event = obj.get("event")
    if event is None:
        raise MissingField("field 'event' is missing")
    props = obj.get("properties") or {}
    if type(props) is not dict:
        raise WrongType(f"properties: expected an object, got {type(props).__name__}")
    ctx = obj.get("context") or {}
    if type(ctx) is not dict:
        raise WrongType(f"context: expected an object, got {type(ctx).__name__}")
    raw_products = props.get("products") or ()
    if type(raw_products) not in (list, tuple):
        raise WrongType("properties.products: expected an array")
    products = []
    for i, p in enumerate(raw_products):
        if type(p) is not dict:
            raise WrongType(f"properties.products[{i}]: expected an object")
        item = _item(p, f"properties.products[{i}]", sku_required=True)
        assert item is not None
        products.append(item)
    extra: dict[str, Any]
    extra_json = props.get("extra_json")
    if extra_json is not None:  # the Avro form keeps unknown properties as a JSON string
        try:
            extra = orjson.loads(extra_json)
        except orjson.JSONDecodeError:
            raise MalformedJson("properties.extra_json is not JSON") from None
    else:
        extra = {k: v for k, v in props.items() if k not in _KNOWN}
    return ClickEvent(
        message_id=c.text(message_id, "messageId"),
        user_id=_opt_text(obj.get("userId"), "userId") or None,
        anonymous_id=_opt_text(obj.get("anonymousId"), "anonymousId"),
        event=c.text(event, "event"),
        ts_ms=_timestamp(obj.get("timestamp")),
        cart_id=_opt_text(props.get("cart_id"), "properties.cart_id"),
        order_id=_opt_text(props.get("order_id"), "properties.order_id"),
        item=_item(props, "properties", sku_required=False),
        products=tuple(products),
        total=_opt_number(props.get("total"), "properties.total"),
        currency=_opt_text(props.get("currency"), "properties.currency"),
        channel=_opt_text(ctx.get("channel"), "context.channel"),
        timezone=_opt_text(ctx.get("timezone"), "context.timezone"),
        extra=extra,
    )


def decode_click(value: bytes, schemas: SchemaSource) -> ClickEvent:
    if is_wire_format(value):
        record, _ = decode(value, schemas)
        return from_mapping(record)
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise MalformedJson(f"not JSON: {e}"[:300]) from None
    return from_mapping(obj)


def to_avro_record(event: dict[str, Any]) -> dict[str, Any]:
    """A JSON track call in the shape of `clickstream_event.avsc` (for producers of the Avro form)."""
    props = dict(event.get("properties") or {})
    known = {k: props.pop(k) for k in list(props) if k in _KNOWN}
    ts = event["timestamp"]
    return {
        "type": event.get("type", "track"),
        "messageId": event["messageId"],
        "userId": event.get("userId"),
        "anonymousId": event.get("anonymousId"),
        "event": event["event"],
        "timestamp": ts if isinstance(ts, int) else c.iso_timestamp(ts, "timestamp"),
        "properties": {
            **known,
            "products": known.get("products", []),
            "extra_json": orjson.dumps(props).decode() if props else None,
        },
        "context": {k: (event.get("context") or {}).get(k) for k in ("channel", "timezone")},
    }
