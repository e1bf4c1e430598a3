"""Segment-style `track` calls, JSON or Avro (detected by the magic byte), into `ClickEvent`s."""

from __future__ import annotations

from typing import Any

import orjson

from common.events import ClickEvent, Item
from connectors import columns as c
from connectors.avro import SchemaSource, decode, is_wire_format
from connectors.errors import BadEnvelope, InvalidValue, MalformedJson, MissingField, WrongType

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
_ITEM_TEXT = ("sku", "product_id", "category", "brand", "name")
_CALL_TEXT = ("messageId", "event", "userId", "anonymousId")
_PROP_TEXT = ("cart_id", "order_id", "currency")
_CTX_TEXT = ("channel", "timezone")
_EMPTY: dict[str, Any] = {}

# The happy path runs 100k+ times a second per core: types are checked inline and error
# messages (with the field's path) are only built when a check fails.


def _check_text(d: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    for name in names:
        v = d.get(name)
        if v is not None and type(v) is not str:
            raise WrongType(f"{where}{name}: expected a string, got {type(v).__name__}")


def _number(v: Any, path: str) -> float | None:
    t = type(v)
    if t is float or v is None:
        return v  # type: ignore[no-any-return]
    if t is int:
        return float(v)
    return c.number(v, path)


def _quantity(v: Any, path: str) -> int:
    if type(v) is int and v >= 0:
        return v
    if v is None:
        return 1
    if type(v) is float and v.is_integer() and v >= 0:
        return int(v)
    if type(v) is int:
        raise InvalidValue(f"{path}: quantity {v} is negative")
    raise WrongType(f"{path}: expected an integer, got {type(v).__name__}")


def _item(p: dict[str, Any], where: str) -> Item:
    _check_text(p, _ITEM_TEXT, where)
    get = p.get
    return Item(
        p["sku"],  # callers check it is there
        get("product_id"),
        get("category"),
        get("brand"),
        get("name"),
        _number(get("price"), where + "price"),
        _quantity(get("quantity"), where + "quantity"),
    )


def _timestamp(obj: dict[str, Any]) -> int:
    """`timestamp` (ISO text, or epoch ms in the Avro form); a collector that has not set it
    leaves `originalTimestamp` (the device's clock), which is the best left."""
    v = obj.get("timestamp")
    if type(v) is int:  # the Avro form: timestamp-millis
        return v
    if v is None:
        v = obj.get("originalTimestamp")
        if v is None:
            raise MissingField("field 'timestamp' is missing")
        return c.timestamp(v, "originalTimestamp")
    return c.timestamp(v, "timestamp")


def _products(raw: Any) -> tuple[Item, ...]:
    if not raw:
        return ()
    if type(raw) is not list:
        raise WrongType("properties.products: expected an array")
    products = []
    for i, p in enumerate(raw):
        if type(p) is not dict:
            raise WrongType(f"properties.products[{i}]: expected an object")
        if p.get("sku") is None:
            raise MissingField(f"properties.products[{i}]: field 'sku' is missing")
        products.append(_item(p, f"properties.products[{i}]."))
    return tuple(products)


def from_mapping(obj: Any) -> ClickEvent:
    """A decoded JSON object or Avro record (same field names) into a `ClickEvent`."""
    if type(obj) is not dict:
        raise BadEnvelope(f"expected a JSON object, got {type(obj).__name__}")
    get = obj.get
    kind = get("type", "track")
    if kind != "track":
        raise InvalidValue(f"only Segment track calls are used, got type {str(kind)[:40]!r}")
    if get("messageId") is None:
        raise MissingField("field 'messageId' is missing")
    if get("event") is None:
        raise MissingField("field 'event' is missing")
    _check_text(obj, _CALL_TEXT, "")
    props = get("properties") or _EMPTY
    if type(props) is not dict:
        raise WrongType(f"properties: expected an object, got {type(props).__name__}")
    ctx = get("context") or _EMPTY
    if type(ctx) is not dict:
        raise WrongType(f"context: expected an object, got {type(ctx).__name__}")
    _check_text(props, _PROP_TEXT, "properties.")
    _check_text(ctx, _CTX_TEXT, "context.")
    pget = props.get
    extra: dict[str, Any]
    extra_json = pget("extra_json")
    if extra_json is not None:  # the Avro form keeps unknown properties as a JSON string
        try:
            extra = orjson.loads(extra_json)
        except orjson.JSONDecodeError:
            raise MalformedJson("properties.extra_json is not JSON") from None
    else:
        unknown = props.keys() - _KNOWN
        extra = {k: props[k] for k in unknown} if unknown else {}
    return ClickEvent(
        obj["messageId"],
        get("userId") or None,
        get("anonymousId"),
        obj["event"],
        _timestamp(obj),
        pget("cart_id"),
        pget("order_id"),
        _item(props, "properties.") if pget("sku") is not None else None,
        _products(pget("products")),
        _number(pget("total"), "properties.total"),
        pget("currency"),
        ctx.get("channel"),
        ctx.get("timezone"),
        extra,
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
