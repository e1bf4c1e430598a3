"""Producing and reading back records in tests, the way a downstream consumer would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from common.settings import Settings
from connectors.admin import lag


def produce(settings: Settings, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]) -> int:
    producer = Producer({**settings.kafka.librdkafka_properties(), "enable.idempotence": True})
    n = 0
    for key, value in records:
        producer.produce(topic, key=key, value=value)
        n += 1
        if n % 10_000 == 0:
            producer.flush(30)
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} records were not acknowledged by the broker"
    return n


def read_committed(
    settings: Settings, topic: str, expected: int, timeout_s: float = 60.0, settle_s: float = 2.0
) -> list[Message]:
    """Every committed record of a topic from the start; waits for `expected`, then a little more
    so that duplicates beyond `expected` would be seen too."""
    consumer = Consumer(
        {
            **settings.kafka.librdkafka_properties(),
            "group.id": f"reader-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if len(got) >= expected:
                settle_until = settle_until or time.monotonic() + settle_s
                if time.monotonic() >= settle_until:
                    break
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == -191:  # _PARTITION_EOF
                    continue
                raise AssertionError(f"consumer error on {topic}: {msg.error()}")
            got.append(msg)
    finally:
        consumer.close()
    return got


def read_committed_avro(
    settings: Settings, topic: str, expected: int, timeout_s: float = 60.0
) -> list[dict[str, Any]]:
    """`read_committed`, each value decoded by confluent-kafka's AvroDeserializer through the registry."""
    deserialize = AvroDeserializer(
        SchemaRegistryClient(settings.registry.client_config()),
        conf={"subject.name.strategy": topic_subject_name_strategy},  # see connectors/readback.py
    )
    ctx = SerializationContext(topic, MessageField.VALUE)
    return [
        deserialize(m.value(), ctx) for m in read_committed(settings, topic, expected, timeout_s=timeout_s)
    ]


def wait_until_consumed(settings: Settings, topics: Iterable[str], timeout_s: float = 120.0) -> None:
    """Until the job's consumer group has committed every record of the topics: the Flink source
    commits on each completed checkpoint, so everything written before this call has been read
    and is inside a checkpoint."""
    topics = list(topics)
    deadline = time.monotonic() + timeout_s
    while (progress := lag(settings, settings.consumer_group, topics))[0] < progress[1]:
        if time.monotonic() > deadline:
            raise AssertionError(f"the job has read {progress[0]} of {progress[1]} records in {timeout_s} s")
        time.sleep(0.5)
