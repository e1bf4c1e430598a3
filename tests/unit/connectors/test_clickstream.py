from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from common.events import Item
from connectors.avro import Encoder, LocalSchemas, load_schema
from connectors.clickstream import decode_click, to_avro_record
from connectors.errors import BadEnvelope, InvalidValue, MalformedJson, MissingField, WrongType
from connectors.examples import CLICK, NOW_MS, ORDER_COMPLETED


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_a_product_added_call_becomes_a_typed_click() -> None:
    e = decode_click(_json(CLICK), LocalSchemas())
    assert (e.message_id, e.user_id, e.anonymous_id, e.event) == ("5f1c-0001", "c-42", "a-9", "Product Added")
    assert e.ts_ms == NOW_MS
    assert e.cart_id == "cart-9"
    assert e.item == Item("SKU-1", "p-1", "Jackets", "Nordwind", "Shell jacket", 129.0, 1)
    assert (e.channel, e.timezone) == ("web", "Europe/Berlin")
    assert e.extra == {"coupon": "WINTER"}


def test_order_completed_carries_its_products() -> None:
    e = decode_click(_json(ORDER_COMPLETED), LocalSchemas())
    assert (e.order_id, e.total, e.currency) == ("o-1", 129.0, "EUR")
    assert [p.sku for p in e.products] == ["SKU-1"]
    assert e.item is None


def test_the_avro_form_decodes_to_the_same_event() -> None:
    registry = LocalSchemas()
    encoder = Encoder(registry, "clickstream", load_schema("clickstream_event"))
    for call in (CLICK, ORDER_COMPLETED):
        wire = encoder.encode(to_avro_record(call))
        assert wire[0] == 0
        assert decode_click(wire, registry) == decode_click(_json(call), registry)


def test_no_user_id_is_not_an_error() -> None:
    call = {k: v for k, v in CLICK.items() if k != "userId"}
    assert decode_click(_json(call), LocalSchemas()).user_id is None


@pytest.mark.parametrize(
    ("mutate", "error", "needle"),
    [
        (lambda c: c.pop("messageId"), MissingField, "messageId"),
        (lambda c: c.pop("timestamp"), MissingField, "timestamp"),
        (lambda c: c.pop("event"), MissingField, "event"),
        (lambda c: c.__setitem__("timestamp", "yesterday"), WrongType, "timestamp"),
        (lambda c: c["properties"].__setitem__("price", "cheap"), WrongType, "properties.price"),
        (lambda c: c["properties"].__setitem__("quantity", "2"), WrongType, "properties.quantity"),
        (lambda c: c["properties"].__setitem__("quantity", -1), InvalidValue, "negative"),
        (lambda c: c.__setitem__("userId", 42), WrongType, "userId"),
        (lambda c: c.__setitem__("properties", [1]), WrongType, "properties"),
        (lambda c: c.__setitem__("type", "identify"), InvalidValue, "track"),
        (lambda c: c["properties"].__setitem__("products", [{"name": "x"}]), MissingField, "products[0]"),
    ],
)
def test_bad_calls_name_what_is_wrong(mutate: Any, error: type[Exception], needle: str) -> None:
    call = copy.deepcopy(CLICK)
    mutate(call)
    with pytest.raises(error, match=needle.replace("[", r"\[").replace("]", r"\]")):
        decode_click(_json(call), LocalSchemas())


def test_malformed_json_and_non_objects() -> None:
    with pytest.raises(MalformedJson):
        decode_click(b'{"type": "track", ', LocalSchemas())
    with pytest.raises(BadEnvelope):
        decode_click(b"[1, 2]", LocalSchemas())


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-11-23T11:14:03.120Z",
        "2025-11-23T12:14:03.120+01:00",
        "2025-11-23T11:14:03.120",
        NOW_MS,
        str(NOW_MS),
    ],
)
def test_the_timestamp_in_any_form_the_contract_allows(stamp: Any) -> None:
    assert decode_click(_json({**CLICK, "timestamp": stamp}), LocalSchemas()).ts_ms == NOW_MS


def test_without_a_timestamp_the_original_timestamp_counts() -> None:
    call = {k: v for k, v in CLICK.items() if k != "timestamp"}
    e = decode_click(_json({**call, "originalTimestamp": "2025-11-23T11:14:03.120Z"}), LocalSchemas())
    assert e.ts_ms == NOW_MS
    with pytest.raises(MissingField, match="timestamp"):
        decode_click(_json(call), LocalSchemas())
