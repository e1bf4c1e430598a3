"""Every input record into a typed event, a skip, or a dead letter. Nothing raises out of here."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from common.events import Event
from common.settings import Settings
from connectors.avro import Encoder, RegistryUnavailable, SchemaSink, SchemaSource, load_schema
from connectors.clickstream import decode_click
from connectors.debezium import TABLES, Table, decode_change, decode_tombstone
from connectors.errors import DecodeError, OversizedValue, UnknownTopic
from connectors.feedback import decode_feedback
from connectors.records import KafkaRecord


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: KafkaRecord
    error_class: str
    error_message: str
    stage: str = "decode"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that is fine but carries nothing for the engine; counted by `reason`."""

    record: KafkaRecord
    reason: str


Outcome = Event | DeadLetter | Skipped


class Decoder:
    """Dispatches by topic. Counts every outcome so that inputs = decoded + skipped + dead letters;
    `dropped` counts, per `table.column`, values of soft columns (see `connectors.debezium.Table`)
    that could not be read and were left empty instead of costing their row."""

    def __init__(self, settings: Settings, schemas: SchemaSource) -> None:
        topics = settings.topics
        self._schemas = schemas
        self._max = settings.decode.max_value_bytes
        self._clickstream = topics.clickstream
        self._feedback = topics.channel_feedback
        unknown = set(topics.cdc) - set(TABLES)
        if unknown:
            raise ValueError(
                f"topics.cdc names tables that are not captured: {sorted(unknown)}; known: {sorted(TABLES)}"
            )
        self._tables: dict[str, Table] = {topic: TABLES[name] for name, topic in topics.cdc.items()}
        self.counts: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.dropped_total = 0
        self._dropped: list[str] = []

    def decode(self, record: KafkaRecord) -> Outcome:
        try:
            out = self._decode(record)
        except DecodeError as e:
            self.counts["dead_letter"] += 1
            return DeadLetter(record, e.error_class, str(e))
        except RegistryUnavailable:
            raise  # not the record's fault: the job retries it once the registry answers
        except Exception as e:  # a bug must not stop the job: the record is kept to replay after a fix
            self.counts["dead_letter"] += 1
            return DeadLetter(record, f"Unexpected{type(e).__name__}", f"{type(e).__name__}: {e}"[:500])
        self.counts["skipped" if type(out) is Skipped else "decoded"] += 1
        return out

    def _decode(self, record: KafkaRecord) -> Outcome:
        value = record.value
        topic = record.topic
        if value is not None and len(value) > self._max:
            raise OversizedValue(f"value of {len(value)} bytes is over the limit of {self._max}")
        if topic == self._clickstream:
            if value is None:
                return Skipped(record, "tombstone")
            click = decode_click(value, self._schemas)
            if click.user_id is None:
                return Skipped(record, "anonymous")
            return click
        table = self._tables.get(topic)
        if table is not None:
            change = None
            if value is not None:
                dropped = self._dropped
                dropped.clear()
                change = decode_change(value, table, self._schemas, record.record_id, dropped)
                if dropped:
                    self.dropped.update(dropped)
                    self.dropped_total += len(dropped)
            if change is None:  # a tombstone: the delete of the row its key names
                change = decode_tombstone(record.key, table, self._schemas, record.timestamp)
            return Skipped(record, "tombstone") if change is None else change
        if topic == self._feedback:
            if value is None:
                return Skipped(record, "tombstone")
            return decode_feedback(value, self._schemas)
        raise UnknownTopic(f"the job does not read topic {topic!r}")


class DeadLetterEncoder:
    """Dead letters as Avro in the wire format, keyed by the original key."""

    def __init__(self, registry: SchemaSink, topic: str, max_value_bytes: int, job: str) -> None:
        self._encoder = Encoder(registry, topic, load_schema("dead_letter"))
        self._max = max_value_bytes
        self._job = job
        self.topic = topic

    def record(self, dl: DeadLetter, now_ms: int | None = None) -> dict[str, Any]:
        r = dl.record
        value = r.value
        return {
            "source_topic": r.topic,
            "source_partition": r.partition,
            "source_offset": r.offset,
            "source_timestamp": r.timestamp if r.timestamp >= 0 else None,
            "key": r.key,
            "value": value[: self._max] if value is not None else None,
            "value_size": len(value) if value is not None else 0,
            "error_class": dl.error_class,
            "error_message": dl.error_message,
            "stage": dl.stage,
            "job": self._job,
            "failed_at": now_ms if now_ms is not None else int(time.time() * 1000),
        }

    def encode(self, dl: DeadLetter, now_ms: int | None = None) -> bytes:
        return self._encoder.encode(self.record(dl, now_ms))
