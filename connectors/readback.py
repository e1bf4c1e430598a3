"""The job's outputs read back as a channel service reads them: committed records only, decoded
through the schema registry. The demo shows them; the e2e tests assert on them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from common.settings import Settings

Record = dict[str, Any]


def read_to_end(settings: Settings, topic: str, timeout_s: float = 30.0, missing: str = "") -> Iterator[Any]:
    """Every committed message of `topic`, from its start to its end as it stands when called
    (a table's snapshot, the results' upserts), for at most `timeout_s`. A topic that does not
    exist raises KafkaException, its message followed by `missing` (what to do about it)."""
    c = Consumer(
        {
            **settings.kafka.librdkafka_properties(),
            "group.id": f"read-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        meta = c.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            raise KafkaException(f"no topic {topic}{missing}")
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions}
        c.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(ends) and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                # a topic written in transactions ends in a commit marker, which no poll returns:
                # the consumer's position passes it, so a partition is done when that reaches its end
                left = [TopicPartition(topic, p) for p in ends if p not in done]
                done.update(tp.partition for tp in c.position(left) if tp.offset >= ends[tp.partition])
                continue
            if msg.error() is not None:
                continue
            yield msg
            if (msg.offset() or 0) + 1 >= ends[msg.partition() or 0]:
                done.add(msg.partition() or 0)
    finally:
        c.close()


def output_decoder(settings: Settings) -> Callable[[str, bytes], Record]:
    """(topic, value) of an output record -> the record, through the schema registry."""
    deserialize = AvroDeserializer(
        SchemaRegistryClient(settings.registry.client_config()),
        # the subject is `<topic>-value`; by default confluent-kafka 2.16 first asks for the
        # topic's schema associations (Apicurio answers 404): a call more per topic, and one
        # of them once never got its answer on a kept-alive connection
        conf={"subject.name.strategy": topic_subject_name_strategy},
    )

    def decode(topic: str, value: bytes) -> Record:
        record: Record = deserialize(value, SerializationContext(topic, MessageField.VALUE))
        return record

    return decode


class OutputReader:
    """Every committed action (`actions.<channel>`) and journey event, from the start."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer = Consumer(
            {
                **settings.kafka.librdkafka_properties(),
                "group.id": f"reader-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        t = settings.topics
        self.consumer.subscribe([*t.actions.values(), t.journey_events])
        self.decode = output_decoder(settings)
        self.actions: list[Record] = []
        self.events: list[Record] = []

    def poll(self, timeout_s: float = 0.5) -> tuple[bool, Record] | None:
        """(is it an action, the record) for the next action or journey event; None if none came
        in time."""
        msg = self.consumer.poll(timeout_s)
        if msg is None or msg.error() is not None:
            return None
        topic = str(msg.topic())
        record = self.decode(topic, msg.value() or b"")
        is_action = topic != self.settings.topics.journey_events
        (self.actions if is_action else self.events).append(record)
        return is_action, record

    def until(self, done: Callable[[OutputReader], bool], timeout_s: float, what: str) -> None:
        """Read on until `done` holds; AssertionError naming `what` after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not done(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen in {timeout_s} s; actions: {self.summary()}")
            self.poll()

    def drain(self, seconds: float) -> None:
        """Read whatever comes for `seconds` more."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll(min(0.5, max(0.0, deadline - time.monotonic())))

    def of(self, customer_id: str, action_type: str) -> list[Record]:
        return [
            a for a in self.actions if a["customer_id"] == customer_id and a["action_type"] == action_type
        ]

    def exited(self, instance_key: str) -> str | None:
        """Why the instance for this key (a cart, an order, an application) ended, if it has."""
        return next(
            (
                e["reason"]
                for e in self.events
                if e["instance_key"] == instance_key and e["event_type"] == "exited"
            ),
            None,
        )

    def summary(self) -> list[tuple[str, str, str]]:
        return sorted((a["customer_id"], a["action_type"], a["channel"]) for a in self.actions)

    def close(self) -> None:
        self.consumer.close()
