"""Topic administration with confluent-kafka: create what a job or test needs, idempotently."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from journeyctl.settings import Settings


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
