"""Reading a topic to its end: every committed record, and back as soon as the end is reached,
also when the topic was written in transactions and ends in a commit or abort marker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.readback import read_to_end
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration
TIMEOUT_S = 20.0


def _transaction(settings: Settings, topic: str, values: list[bytes], commit: bool) -> None:
    p = Producer({**settings.kafka.librdkafka_properties(), "transactional.id": f"readback-{uuid.uuid4()}"})
    p.init_transactions(30)
    p.begin_transaction()
    for i, v in enumerate(values):
        p.produce(topic, key=str(i).encode(), value=v)
    (p.commit_transaction if commit else p.abort_transaction)(30)


def _read(settings: Settings, topic: str) -> tuple[list[bytes], float]:
    start = time.monotonic()
    values = [m.value() for m in read_to_end(settings, topic, timeout_s=TIMEOUT_S)]
    return values, time.monotonic() - start


def test_a_topic_written_in_transactions_is_read_to_its_commit_marker_without_waiting_out_the_timeout(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    topic = unique("readback-tx")
    ensure_topics(settings, [topic], partitions=3)
    committed = [f"v{i}".encode() for i in range(30)]
    _transaction(settings, topic, committed, commit=True)
    _transaction(settings, topic, [b"aborted"] * 5, commit=False)

    values, took = _read(settings, topic)

    assert sorted(values) == sorted(committed)  # the aborted ones never show
    assert took < TIMEOUT_S / 2, f"read_to_end took {took:.1f} s: it waited for a marker no poll returns"


def test_a_plain_topic_is_read_to_its_last_record_and_an_empty_partition_is_no_wait(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    topic = unique("readback-plain")
    ensure_topics(settings, [topic], partitions=3)
    sent = [(b"same-key", f"v{i}".encode()) for i in range(10)]  # one partition; two stay empty
    produce(settings, topic, sent)

    values, took = _read(settings, topic)

    assert values == [v for _, v in sent]
    assert took < TIMEOUT_S / 2
