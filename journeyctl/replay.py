"""`journeyctl replay FILE`: a recorded event file into Kafka, each record stamped with its own time.

The file is what `simulate` reads (see `jobs.simulate.read_records`). Each record goes to the
topic settings give for its recorded topic, with its Kafka timestamp set to the event's own time
(a click's `timestamp`, a change's `ts_ms`): the journey job's watermarks follow Kafka
timestamps, so a replay runs in event time and reaches the same decisions as `simulate`.
A record that does not decode keeps the current time; the job will dead-letter it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from common.events import CDC_TABLES
from common.settings import Settings, TopicSettings
from connectors.avro import LocalSchemas
from connectors.decoder import DeadLetter, Decoder, Skipped
from connectors.records import KafkaRecord
from jobs.simulate import read_records
from journeys.engine import event_time


def topic_map(settings: Settings) -> dict[str, str]:
    """Recorded (default) topic names -> the topics settings name."""
    t = settings.topics
    defaults = TopicSettings()
    mapping = {defaults.clickstream: t.clickstream, defaults.channel_feedback: t.channel_feedback}
    for table in CDC_TABLES:
        mapping[defaults.cdc[table]] = t.cdc[table]
    return mapping


def stamped(
    settings: Settings, records: Iterable[KafkaRecord]
) -> list[tuple[str, bytes | None, bytes | None, int]]:
    """(topic, key, value, timestamp ms) per record, in file order."""
    # the records carry their recorded topic names: decode them under those, not the mapped ones
    decoder = Decoder(settings.model_copy(update={"topics": TopicSettings()}), LocalSchemas())
    topics = topic_map(settings)
    out = []
    last = -1
    for r in records:
        decoded = decoder.decode(r)
        ts = (
            int(time.time() * 1000)
            if type(decoded) is DeadLetter or type(decoded) is Skipped
            else event_time(decoded)  # type: ignore[arg-type]
        )
        if ts < 0:  # a record with no time of its own (a tombstone): the one before it
            ts = last if last >= 0 else int(time.time() * 1000)
        last = ts
        out.append((topics.get(r.topic, r.topic), r.key, r.value, ts))
    return out


def replay(settings: Settings, records: Iterable[KafkaRecord]) -> int:
    producer = Producer({**settings.kafka.librdkafka_properties(), "enable.idempotence": True})
    failed: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(f"{msg.topic()} at {msg.timestamp()[1]}: {err.str()}")

    n = 0
    for topic, key, value, ts in stamped(settings, records):
        producer.produce(topic, key=key, value=value, timestamp=ts, on_delivery=delivered)
        n += 1
        if n % 10_000 == 0:
            producer.flush(30)
    remaining = producer.flush(30)
    if remaining:
        raise RuntimeError(f"{remaining} records were not acknowledged by {settings.kafka.bootstrap_servers}")
    if failed:
        raise RuntimeError(
            f"the broker refused {len(failed)} of {n} records, e.g. {failed[0]}. A timestamp more than "
            "an hour ahead of the broker's clock is refused by default: replay into topics (or a broker) "
            "with message.timestamp.after.max.ms raised, as the local stack has it."
        )
    return n


def replay_file(settings: Settings, path: Path) -> int:
    return replay(settings, read_records(path))
