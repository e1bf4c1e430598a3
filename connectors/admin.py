"""Topic administration with confluent-kafka: create what a job or test needs, idempotently."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from common.settings import Settings


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka.librdkafka_properties())


def ensure_topics(
    settings: Settings, topics: Iterable[str], partitions: int | None = None, timeout_s: float = 30.0
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(
            t,
            num_partitions=partitions or settings.kafka.topic_partitions,
            replication_factor=settings.kafka.topic_replication_factor,
        )
        for t in dict.fromkeys(topics)
        if t not in existing
    ]
    if not wanted:
        return
    for topic, fut in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            fut.result(timeout=timeout_s)
        except KafkaException as e:
            if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise RuntimeError(f"could not create topic {topic!r}: {e}") from e


def committed_partitions(settings: Settings, group: str, topics: Iterable[str]) -> int:
    """How many partitions of `topics` (those that exist) the consumer group has committed on."""
    consumer = Consumer({**settings.kafka.librdkafka_properties(), "group.id": group})
    try:
        metadata = consumer.list_topics(timeout=10)
        parts = [
            TopicPartition(t, p)
            for t in topics
            if t in metadata.topics
            for p in metadata.topics[t].partitions
        ]
        return sum(1 for tp in consumer.committed(parts, timeout=10) if tp.offset >= 0) if parts else 0
    finally:
        consumer.close()


def lag(settings: Settings, group: str, topics: Iterable[str]) -> tuple[int, int]:
    """(records the consumer group has committed, records in the topics) over every partition.
    The Flink Kafka source commits on each completed checkpoint."""
    consumer = Consumer({**settings.kafka.librdkafka_properties(), "group.id": group})
    try:
        metadata = consumer.list_topics(timeout=10)
        parts = [TopicPartition(t, p) for t in topics for p in metadata.topics[t].partitions]
        committed = ends = 0
        for tp in consumer.committed(parts, timeout=10):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            ends += high - low
            committed += max(tp.offset, low) - low if tp.offset >= 0 else 0
        return committed, ends
    finally:
        consumer.close()
