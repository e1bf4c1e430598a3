"""Every input form decoded and every bad-input class dead-lettered, through Flink and real Kafka.

The dead letters are read back with confluent-kafka's AvroDeserializer, as any team would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.avro import Encoder, RegistryClient, load_schema
from connectors.clickstream import to_avro_record
from connectors.examples import (
    CLICK,
    FEEDBACK,
    avro_envelope_record,
    avro_envelope_schema,
    envelope,
    with_json_schema,
)
from jobs.environment import create_environment
from jobs.ingest import build_pipeline, kafka_connectors
from tests.kafka_helpers import read_committed, read_committed_avro

pytestmark = pytest.mark.integration


def _settings(settings: Settings, unique: Callable[[str], str]) -> Settings:
    t = settings.topics
    topics = t.model_copy(
        update={
            "clickstream": unique("clickstream"),
            "channel_feedback": unique("channel-feedback"),
            "dead_letter": unique("dead-letter"),
            "decoded": unique("decoded"),
            "cdc": {
                "inventory.stock_levels": unique("inventory.public.stock_levels"),
                "crm.customers": unique("crm.public.customers"),
            },
        }
    )
    return settings.model_copy(
        update={"topics": topics, "decode": settings.decode.model_copy(update={"max_value_bytes": 4096})}
    )


def test_inputs_are_decoded_and_bad_ones_dead_lettered(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    s = _settings(settings, unique)
    t = s.topics
    stock, customers = t.cdc["inventory.stock_levels"], t.cdc["crm.customers"]
    ensure_topics(s, [*t.inputs(), t.dead_letter, t.decoded], partitions=2)
    registry = RegistryClient(s.registry.client_config())
    click_avro = Encoder(registry, t.clickstream, load_schema("clickstream_event")).encode(
        to_avro_record(CLICK)
    )
    stock_avro = Encoder(registry, stock, avro_envelope_schema("inventory.stock_levels")).encode(
        avro_envelope_record(envelope("inventory.stock_levels"))
    )
    bad_stock = envelope("inventory.stock_levels")
    bad_stock["after"]["quantity"] = "lots"
    no_customer_id = envelope("crm.customers")
    del no_customer_id["after"]["customer_id"]

    good: list[tuple[str, bytes | None, bytes | None]] = [
        (t.clickstream, b"c-42", json.dumps(CLICK).encode()),
        (t.clickstream, b"c-42", click_avro),
        (
            stock,
            b'{"sku":"SKU-1","location_id":"s-berlin"}',
            json.dumps(envelope("inventory.stock_levels")).encode(),
        ),
        (
            stock,
            b'{"sku":"SKU-1","location_id":"s-berlin"}',
            json.dumps(
                with_json_schema("inventory.stock_levels", envelope("inventory.stock_levels"))
            ).encode(),
        ),
        (stock, b'{"sku":"SKU-1","location_id":"s-berlin"}', stock_avro),
        (customers, b'{"customer_id":"c-42"}', json.dumps(envelope("crm.customers", "d")).encode()),
        (customers, b'{"customer_id":"c-42"}', None),  # the tombstone after the delete: a delete too
        (
            t.channel_feedback,
            b"c-42",
            Encoder(registry, t.channel_feedback, load_schema("channel_feedback")).encode(FEEDBACK),
        ),
    ]
    skipped: list[tuple[str, bytes | None, bytes | None]] = [
        (customers, None, None),  # a tombstone whose key names no row
        (t.clickstream, None, json.dumps({k: v for k, v in CLICK.items() if k != "userId"}).encode()),
    ]
    bad: dict[str, tuple[str, bytes | None, bytes]] = {
        "MalformedJson": (t.clickstream, b"c-1", b'{"type": "track", "event": '),
        "MalformedAvro": (t.clickstream, b"c-1", click_avro[:-6]),
        "UnknownSchemaId": (t.clickstream, b"c-1", b"\x00\x00\x0f\x42\x3f" + click_avro[5:]),
        "MissingField": (customers, b'{"customer_id":null}', json.dumps(no_customer_id).encode()),
        "WrongType": (stock, b"{}", json.dumps(bad_stock).encode()),
        "UnknownOp": (stock, b"{}", json.dumps({**envelope("inventory.stock_levels"), "op": "x"}).encode()),
        "OversizedValue": (t.clickstream, b"c-1", b'{"pad": "' + b"x" * 5000 + b'"}'),
        "InvalidValue": (t.clickstream, b"c-1", json.dumps({**CLICK, "type": "identify"}).encode()),
        "BadEnvelope": (t.channel_feedback, b"c-1", b'["not", "an", "object"]'),
    }

    offsets: dict[bytes, tuple[str, int, int]] = {}
    producer = Producer(s.kafka.librdkafka_properties())

    def remember(value: bytes) -> Callable[[Any, Any], None]:
        def cb(err: Any, msg: Any) -> None:
            assert err is None, err
            offsets[value] = (msg.topic(), msg.partition(), msg.offset())

        return cb

    for topic, key, value in [*good, *skipped, *bad.values()]:
        producer.produce(topic, key=key, value=value, on_delivery=remember(value) if value else None)
    assert producer.flush(30) == 0

    env = create_environment(s)
    sources, sinks = kafka_connectors(s, bounded=True)
    build_pipeline(env, sources, sinks, s)
    env.execute("ingest-test")

    decoded = read_committed(s, t.decoded, expected=len(good))
    kinds = sorted(json.loads(m.value())["kind"] for m in decoded)
    assert kinds == ["ChangeEvent"] * 5 + ["ChannelFeedback"] + ["ClickEvent"] * 2

    letters = read_committed_avro(s, t.dead_letter, expected=len(bad))
    by_class = {d["error_class"]: d for d in letters}
    assert sorted(by_class) == sorted(bad), [(d["error_class"], d["error_message"]) for d in letters]
    assert len(letters) == len(bad)
    for error_class, (_topic, key, value) in bad.items():
        d = by_class[error_class]
        assert (d["source_topic"], d["source_partition"], d["source_offset"]) == offsets[value]
        assert d["key"] == key
        assert d["value"] == value[:4096] and d["value_size"] == len(value)
        assert d["error_message"] and d["job"] == "ingest"
    # nothing lost: every record produced is decoded, skipped on purpose, or a dead letter
    assert len(decoded) + len(skipped) + len(letters) == len(good) + len(skipped) + len(bad)
