"""Every input ends up decoded, skipped or dead-lettered; nothing raises out of the decoder."""

from __future__ import annotations

import copy
import json
import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.events import ChangeEvent, ChannelFeedback, ClickEvent
from common.settings import Settings
from connectors.avro import Encoder, LocalSchemas, RegistryClient, RegistryUnavailable, load_schema
from connectors.clickstream import to_avro_record
from connectors.decoder import DeadLetter, DeadLetterEncoder, Decoder, Skipped
from connectors.examples import (
    CLICK,
    FEEDBACK,
    ORDER_COMPLETED,
    ROWS,
    avro_envelope_record,
    avro_envelope_schema,
    envelope,
    topic_of,
)
from connectors.records import KafkaRecord

SETTINGS = Settings()


def _rec(topic: str, value: bytes | None, key: bytes | None = None, offset: int = 0) -> KafkaRecord:
    return KafkaRecord(topic, 0, offset, 1_763_896_443_120, key, value)


def _valid_records(registry: LocalSchemas) -> list[KafkaRecord]:
    out = [
        _rec("clickstream", json.dumps(CLICK).encode()),
        _rec("clickstream", json.dumps(ORDER_COMPLETED).encode()),
        _rec(
            "clickstream",
            Encoder(registry, "clickstream", load_schema("clickstream_event")).encode(to_avro_record(CLICK)),
        ),
        _rec(
            "channel-feedback",
            Encoder(registry, "channel-feedback", load_schema("channel_feedback")).encode(FEEDBACK),
        ),
    ]
    for table in ROWS:
        env = envelope(table)
        out.append(_rec(topic_of(table), json.dumps(env).encode()))
        out.append(
            _rec(
                topic_of(table),
                Encoder(registry, topic_of(table), avro_envelope_schema(table)).encode(
                    avro_envelope_record(env)
                ),
            )
        )
    return out


def test_each_input_kind_is_dispatched_by_topic() -> None:
    registry = LocalSchemas()
    decoder = Decoder(SETTINGS, registry)
    outcomes = [decoder.decode(r) for r in _valid_records(registry)]
    assert [type(o) for o in outcomes[:4]] == [ClickEvent, ClickEvent, ClickEvent, ChannelFeedback]
    assert all(type(o) is ChangeEvent for o in outcomes[4:])
    assert decoder.counts == {"decoded": len(outcomes)}


def test_tombstones_without_a_key_and_anonymous_clicks_are_counted_not_errors() -> None:
    decoder = Decoder(SETTINGS, LocalSchemas())
    anon = {k: v for k, v in CLICK.items() if k != "userId"}
    outs = [
        decoder.decode(_rec("crm.public.customers", None, None)),
        decoder.decode(_rec("crm.public.consents", None, b'{"customer_id": "c-42"}')),
        decoder.decode(_rec("clickstream", None, b"c-42")),
        decoder.decode(_rec("clickstream", json.dumps(anon).encode())),
    ]
    assert [(type(o), getattr(o, "reason", None)) for o in outs] == [
        (Skipped, "tombstone"),
        (Skipped, "tombstone"),  # a key that does not name a whole row
        (Skipped, "tombstone"),
        (Skipped, "anonymous"),
    ]
    assert decoder.counts == {"skipped": 4}


@pytest.mark.parametrize(
    "key",
    [
        b'{"customer_id": "c-42", "channel": "sms", "purpose": "marketing"}',
        json.dumps(
            {
                "schema": {"type": "struct"},
                "payload": {"customer_id": "c-42", "channel": "sms", "purpose": "marketing"},
            }
        ).encode(),
    ],
)
def test_a_tombstone_is_the_delete_of_the_row_its_key_names(key: bytes) -> None:
    decoder = Decoder(SETTINGS, LocalSchemas())
    out = decoder.decode(_rec("crm.public.consents", None, key))
    assert type(out) is ChangeEvent and out.op == "d" and out.after is None
    assert (out.before.customer_id, out.before.channel, out.before.purpose) == ("c-42", "sms", "marketing")  # type: ignore[union-attr]
    assert decoder.counts == {"decoded": 1}


def test_a_tombstone_keyed_by_a_plain_string_names_a_one_column_key() -> None:
    out = Decoder(SETTINGS, LocalSchemas()).decode(_rec("crm.public.customers", None, b"c-42"))
    assert type(out) is ChangeEvent and out.op == "d" and out.row.customer_id == "c-42"  # type: ignore[union-attr]


def test_each_bad_input_class_becomes_a_dead_letter_with_its_reason() -> None:
    registry = LocalSchemas()
    decoder = Decoder(SETTINGS, registry)
    avro = Encoder(registry, "clickstream", load_schema("clickstream_event")).encode(to_avro_record(CLICK))
    missing = copy.deepcopy(envelope("orders.orders"))
    del missing["after"]["customer_id"]
    wrong = copy.deepcopy(envelope("inventory.stock_levels"))
    wrong["after"]["quantity"] = "many"
    cases = {
        "MalformedJson": _rec("clickstream", b'{"type": "track"'),
        "MalformedAvro": _rec("clickstream", avro[:-7]),
        "UnknownSchemaId": _rec("clickstream", b"\x00\x00\x01\x00\x00" + avro[5:]),
        "MissingField": _rec("orders.public.orders", json.dumps(missing).encode()),
        "WrongType": _rec("inventory.public.stock_levels", json.dumps(wrong).encode()),
        "UnknownOp": _rec(
            "crm.public.customers", json.dumps({**envelope("crm.customers"), "op": "z"}).encode()
        ),
        "OversizedValue": _rec("clickstream", b" " * (SETTINGS.decode.max_value_bytes + 1)),
        "UnknownTopic": _rec("not-a-topic", b"{}"),
        "BadEnvelope": _rec("support.public.tickets", b"42"),
        "InvalidValue": _rec("channel-feedback", json.dumps({**FEEDBACK, "event": "liked"}).encode()),
    }
    for expected, record in cases.items():
        out = decoder.decode(record)
        assert type(out) is DeadLetter, expected
        assert out.error_class == expected, (expected, out.error_message)
        assert out.record is record
        assert out.error_message
    assert decoder.counts == {"dead_letter": len(cases)}


def test_a_dead_letter_keeps_the_original_bytes_and_where_they_came_from() -> None:
    registry = LocalSchemas()
    enc = DeadLetterEncoder(registry, "dead-letter", max_value_bytes=16, job="test")
    dl = DeadLetter(
        KafkaRecord("clickstream", 1, 77, 5, b"k", b"0123456789abcdefXYZ"), "MalformedJson", "not JSON"
    )
    rec = enc.record(dl, now_ms=9)
    assert (
        rec["source_topic"] == "clickstream" and rec["source_partition"] == 1 and rec["source_offset"] == 77
    )
    assert rec["key"] == b"k" and rec["value"] == b"0123456789abcdef" and rec["value_size"] == 19
    assert rec["error_class"] == "MalformedJson" and rec["failed_at"] == 9
    assert enc.encode(dl)[0] == 0


# ------------------------------------------------------------------ property tests

TOPICS = ["clickstream", "channel-feedback", *SETTINGS.topics.cdc.values(), "unknown-topic"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _mutate_json(obj: Any, data: st.DataObject) -> Any:
    """Drop a field, or set one (at any depth) to a random JSON value."""
    if isinstance(obj, dict) and obj:
        key = data.draw(st.sampled_from(sorted(obj)))
        choice = data.draw(st.integers(0, 2))
        obj = dict(obj)
        if choice == 0:
            del obj[key]
        elif choice == 1:
            obj[key] = data.draw(JSON_VALUES)
        else:
            obj[key] = _mutate_json(obj[key], data)
    return obj


def _mutate_bytes(b: bytes, data: st.DataObject) -> bytes:
    if not b:
        return data.draw(st.binary(max_size=20))
    i = data.draw(st.integers(0, len(b) - 1))
    op = data.draw(st.integers(0, 3))
    if op == 0:
        return b[:i]
    if op == 1:
        return b[:i] + bytes([data.draw(st.integers(0, 255))]) + b[i + 1 :]
    if op == 2:
        return b[:i] + data.draw(st.binary(min_size=1, max_size=8)) + b[i:]
    return b[:i] + b[i + 1 :]


REGISTRY = LocalSchemas()
VALID = _valid_records(REGISTRY)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_input_is_decoded_skipped_or_dead_lettered(data: st.DataObject) -> None:
    decoder = Decoder(SETTINGS, REGISTRY)
    n = data.draw(st.integers(1, 25))
    for i in range(n):
        kind = data.draw(st.integers(0, 3))
        base = data.draw(st.sampled_from(VALID))
        if kind == 0:
            record = _rec(data.draw(st.sampled_from(TOPICS)), data.draw(st.none() | st.binary(max_size=64)))
        elif kind == 1:
            record = _rec(base.topic, _mutate_bytes(base.value or b"", data))
        elif kind == 2 and base.value and base.value[:1] != b"\x00":
            mutated = _mutate_json(json.loads(base.value), data)
            record = _rec(base.topic, json.dumps(mutated).encode())
        else:
            record = base
        out = decoder.decode(_rec(record.topic, record.value, offset=i))
        assert isinstance(out, ClickEvent | ChangeEvent | ChannelFeedback | Skipped | DeadLetter)
        if isinstance(out, DeadLetter):
            assert not out.error_class.startswith("Unexpected"), f"a bug, not bad input: {out.error_message}"
            assert out.record.offset == i
    assert sum(decoder.counts.values()) == n


def test_a_good_avro_record_waits_for_an_unreachable_registry_instead_of_going_to_the_dead_letters() -> None:
    """Only "no such schema id" is the record's fault; a registry that does not answer is the
    job's, which fails the task so that Flink retries the record from its checkpoint."""
    encoded = Encoder(LocalSchemas(), "clickstream", load_schema("clickstream_event")).encode(
        to_avro_record(CLICK)
    )
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    registry = RegistryClient({"url": f"http://127.0.0.1:{port}", "timeout": 1}, wait_s=0.5)
    decoder = Decoder(SETTINGS, registry)
    with pytest.raises(RegistryUnavailable):
        decoder.decode(_rec(SETTINGS.topics.clickstream, encoded, b"c-42"))
    assert decoder.counts["dead_letter"] == 0
