"""Outputs in the Confluent wire format decode with confluent-kafka's AvroDeserializer in
another process, as a channel team's consumer would read them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.avro import Encoder, RegistryClient, load_schema
from connectors.examples import ACTION, JOURNEY_EVENT

pytestmark = pytest.mark.integration

# The reader assigns every partition itself instead of joining a consumer group: a group's
# join and leave are what can stall on a busy broker, and they are not what this test is about.
# It reports each step on stderr so a timeout says where it stood.
READER = """
import json, sys, time
from confluent_kafka import DeserializingConsumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer
bootstrap, registry, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = DeserializingConsumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + topic,
    "enable.auto.commit": False, "isolation.level": "read_committed",
    "key.deserializer": StringDeserializer(),
    # the subject as the TopicNameStrategy names it: by default confluent-kafka first asks for
    # the topic's schema associations, which Apicurio answers 404, and one of those calls has
    # hung on a kept-alive connection (connectors/readback.py); a timeout makes a hang an error
    "value.deserializer": AvroDeserializer(SchemaRegistryClient({"url": registry, "timeout": 10}),
        conf={"subject.name.strategy": topic_subject_name_strategy})})
parts = c.list_topics(topic, timeout=20).topics[topic].partitions
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
print("assigned", sorted(parts), file=sys.stderr, flush=True)
got = []
deadline = time.monotonic() + 30
while len(got) < n and time.monotonic() < deadline:
    m = c.poll(1)
    if m is not None:
        got.append({"key": m.key(), "value": m.value()})
print("read", len(got), file=sys.stderr, flush=True)
c.close()
print(json.dumps(got, default=lambda o: int(o.timestamp() * 1000)))
"""


@pytest.mark.parametrize(("schema", "record"), [("action", ACTION), ("journey_event", JOURNEY_EVENT)])
def test_a_standard_avro_consumer_reads_what_we_write(
    settings: Settings, unique: Callable[[str], str], schema: str, record: dict[str, Any]
) -> None:
    topic = unique(schema)
    ensure_topics(settings, [topic])
    encoder = Encoder(RegistryClient(settings.registry.client_config()), topic, load_schema(schema))
    producer = Producer(settings.kafka.librdkafka_properties())
    producer.produce(topic, key=b"c-42", value=encoder.encode(record))
    assert producer.flush(10) == 0

    out = subprocess.run(
        [sys.executable, "-c", READER, settings.kafka.bootstrap_servers, settings.registry.url, topic, "1"],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got == [{"key": "c-42", "value": record}]
