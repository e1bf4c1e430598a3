"""Topic administration with confluent-kafka: create what a job or test needs, idempotently."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from common.settings import Settings


class KafkaUnreachable(RuntimeError):
    """Kafka cannot be used with these settings; the message says what to change."""


_LOGIN_REFUSED = (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)
#: errors that waiting does not mend: a refused login, a certificate not trusted
_REFUSALS = (*_LOGIN_REFUSED, KafkaError._SSL)


def explain(settings: Settings, error: KafkaError | None) -> str:
    """What went wrong talking to Kafka, and what to do about it; never a secret."""
    k = settings.kafka
    where = f"Kafka at {k.bootstrap_servers} ({k.security_protocol})"
    code = error.code() if error is not None else None
    detail = error.str() if error is not None else "no answer"
    if code in _LOGIN_REFUSED:
        return (
            f"{where} refused the credentials of user {k.sasl_username!r} ({k.sasl_mechanism}): {detail}. "
            "Check JOURNEY_KAFKA__SASL_USERNAME and JOURNEY_KAFKA__SASL_PASSWORD "
            "(or JOURNEY_KAFKA__SASL_PASSWORD_FILE) and JOURNEY_KAFKA__SASL_MECHANISM."
        )
    if code == KafkaError._SSL:
        return (
            f"the TLS handshake with {where} failed: {detail}. Check JOURNEY_KAFKA__SSL_CA_LOCATION "
            "(the CA that signed the brokers' certificates) and JOURNEY_KAFKA__SECURITY_PROTOCOL."
        )
    return (
        f"cannot reach {where}: {detail}. Start it (`make stack-up` for the local one) or set "
        "JOURNEY_KAFKA__BOOTSTRAP_SERVERS and JOURNEY_KAFKA__SECURITY_PROTOCOL."
    )


def reachable_admin(settings: Settings, timeout_s: float = 30.0) -> tuple[AdminClient, set[str]]:
    """An admin client that has been answered, and the topics that exist. A refused login or a
    failed TLS handshake ends the wait at once with what to change (`KafkaUnreachable`)."""
    errors: list[KafkaError] = []
    config: dict[str, Any] = {**settings.kafka.librdkafka_properties(), "error_cb": errors.append}
    admin = AdminClient(config)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return admin, set(admin.list_topics(timeout=min(2.0, timeout_s)).topics)
        except KafkaException as e:
            admin.poll(0)  # serves error_cb: librdkafka reports a refused login only there
            last = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None
            fatal = [x for x in errors if x.code() in _REFUSALS]
            if fatal or time.monotonic() >= deadline:
                raise KafkaUnreachable(explain(settings, fatal[-1] if fatal else last)) from None


def ensure_topics(
    settings: Settings, topics: Iterable[str], partitions: int | None = None, timeout_s: float = 30.0
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin, existing = reachable_admin(settings, timeout_s)
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
