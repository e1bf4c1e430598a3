"""`journeyctl send`: the channel sender as a service. One thread per channel, each with its own
consumer group (`<group_prefix>.<channel>`, `read_committed`), its own transactional producer
and its own ledger; feedback and consumed offsets are committed in one Kafka transaction.

How an action is never sent twice is in senders/ledger.py and docs/senders.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from common.settings import Settings
from connectors.avro import Encoder, RegistryClient, avro_or_json, load_schema
from connectors.errors import BadEnvelope, DecodeError, MissingField, WrongType
from journeys.definition import Journey
from senders.contacts import contacts_for
from senders.ledger import Ledger
from senders.metrics import SenderMetrics
from senders.providers import provider_for
from senders.templates import SHIPPED, TemplateError, Templates
from senders.worker import ChannelWorker

_LOG = logging.getLogger(__name__)
DAY_MS = 86_400_000
#: the fields the sender reads; the rest of an action goes to the template as it is
_REQUIRED = {"action_id": str, "customer_id": str, "action_type": str, "send_after": int}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def read_action(value: bytes | None, registry: RegistryClient) -> dict[str, Any]:
    """An action record: Avro (the job writes those) or the same fields as JSON."""
    if value is None:
        raise BadEnvelope("no value (a tombstone)")
    record = avro_or_json(value, registry)
    if type(record) is not dict:
        raise BadEnvelope(f"expected a record, got {type(record).__name__}")
    for name, kind in _REQUIRED.items():
        v = record.get(name)
        if v is None:
            raise MissingField(f"{name} is missing")
        if type(v) is not kind:
            raise WrongType(f"{name}: expected {kind.__name__}, got {type(v).__name__}")
    return record


class ChannelLoop:
    """Reads `actions.<channel>`, hands actions to the worker, writes what it returns."""

    def __init__(
        self,
        settings: Settings,
        channel: str,
        worker: ChannelWorker,
        stop: threading.Event,
        clock: Callable[[], int],
    ) -> None:
        self.settings = settings
        self.channel = channel
        self.worker = worker
        self.stop = stop
        self.clock = clock
        self.topic = settings.topics.actions[channel]
        s = settings.sender
        kafka = settings.kafka.librdkafka_properties()
        self.consumer = Consumer(
            {
                **kafka,
                "group.id": f"{s.group_prefix}.{channel}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self.producer = Producer(
            {
                **kafka,
                "transactional.id": f"{s.group_prefix}.{channel}.{s.instance}",
                "linger.ms": 5,
            }
        )
        self.registry = RegistryClient(settings.registry.client_config(), wait_s=settings.registry.wait_s)
        self.feedback = Encoder(
            self.registry, settings.topics.channel_feedback, load_schema("channel_feedback")
        )
        self.dead_letter = Encoder(self.registry, settings.topics.dead_letter, load_schema("dead_letter"))
        self._in_txn = False
        self._committed: dict[int, int] = {}
        self._paused = False
        self._counts: list[tuple[str, str]] = []  # (channel, event) of the open transaction

    # ------------------------------------------------------------------ transactions

    def _begin(self) -> None:
        if not self._in_txn:
            self.producer.begin_transaction()
            self._in_txn = True

    def commit(self) -> None:
        """Feedback written so far and the offsets below every unfinished action, together."""
        offsets = self.worker.outbox.committable()
        moved = {p: o for p, o in offsets.items() if self._committed.get(p) != o}
        if not self._in_txn and not moved:
            return
        self._begin()
        if moved:
            self.producer.send_offsets_to_transaction(
                [TopicPartition(self.topic, p, o) for p, o in moved.items()],
                self.consumer.consumer_group_metadata(),
            )
        self.producer.commit_transaction()
        self._in_txn = False
        self._committed.update(moved)
        self.worker.committed()
        if self.worker.metrics is not None:
            for channel, event in self._counts:
                self.worker.metrics.feedback.labels(channel, event).inc()
        self._counts.clear()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # what this sender did with them is committed before another one takes them over
        self.commit()
        gone = {tp.partition for tp in partitions}
        self.worker.outbox.forget(gone)
        for p in gone:
            self._committed.pop(p, None)

    # ------------------------------------------------------------------ records

    def _dead_letter(self, msg: Message, error: DecodeError) -> None:
        value = msg.value()
        record = {
            "source_topic": msg.topic(),
            "source_partition": msg.partition(),
            "source_offset": msg.offset(),
            "source_timestamp": msg.timestamp()[1] if msg.timestamp()[0] else None,
            "key": msg.key(),
            "value": value,
            "value_size": len(value) if value else 0,
            "error_class": error.error_class,
            "error_message": str(error),
            "stage": "sender",
            "job": f"{self.settings.sender.group_prefix}.{self.channel}",
            "failed_at": self.clock(),
        }
        self._begin()
        self.producer.produce(
            self.settings.topics.dead_letter, value=self.dead_letter.encode(record), key=msg.key()
        )
        if self.worker.metrics is not None:
            self.worker.metrics.dead_letters.labels(self.channel, error.error_class).inc()

    def _write(self, feedback: list[dict[str, Any]]) -> None:
        if not feedback:
            return
        self._begin()
        for f in feedback:
            self.producer.produce(
                self.feedback.topic, value=self.feedback.encode(f), key=f["customer_id"].encode()
            )
            self._counts.append((f["channel"], f["event"]))

    def run(self) -> None:
        s = self.settings.sender
        self.producer.init_transactions()
        self.consumer.subscribe([self.topic], on_revoke=self._on_revoke)
        last_commit = time.monotonic()
        try:
            while not self.stop.is_set():
                due = self.worker.next_due_ms()
                wait_s = 0.1 if due is None else min(0.1, max(0.0, (due - self.clock()) / 1000))
                for msg in self.consumer.consume(500, wait_s):
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            _LOG.warning("%s: %s", self.topic, err)
                        continue
                    partition, offset = msg.partition() or 0, msg.offset() or 0
                    try:
                        action = read_action(msg.value(), self.registry)
                    except DecodeError as e:
                        self.worker.skip(partition, offset)
                        self._dead_letter(msg, e)
                        continue
                    self.worker.take(partition, offset, action)
                self._write(self.worker.step(self.clock()))
                if time.monotonic() - last_commit >= s.commit_interval_ms / 1000:
                    self.commit()
                    last_commit = time.monotonic()
                self._pace()
            self.commit()
        finally:
            self.consumer.close()
            self.producer.flush(10)

    def _pace(self) -> None:
        # reading stops while too many actions wait, and goes on below half of that
        n = self.worker.pending()
        limit = self.settings.sender.max_pending
        if not self._paused and n >= limit:
            self.consumer.pause(self.consumer.assignment())
            self._paused = True
        elif self._paused and n < limit // 2:
            self.consumer.resume(self.consumer.assignment())
            self._paused = False


def load_journeys(settings: Settings) -> list[Journey]:
    from journeys.loader import DEFINITIONS, load_dir

    folder = settings.journeys.definitions
    return load_dir(Path(folder) if folder else DEFINITIONS)


def check_templates(settings: Settings, channels: list[str]) -> Templates:
    """The templates, every action the journeys can send on these channels rendered once; a
    TemplateError with every problem if any fails."""
    folder = Path(settings.sender.templates) if settings.sender.templates else SHIPPED
    templates = Templates(folder)
    journeys = load_journeys(settings)
    problems = [p for ch in channels for p in templates.check(journeys, ch)]
    if problems:
        raise TemplateError("the message templates are not ready:\n  " + "\n  ".join(problems))
    return templates


class Sender:
    """All the channels' loops of one process, started and stopped together."""

    def __init__(self, settings: Settings, clock: Callable[[], int] = _now_ms) -> None:
        s = settings.sender
        self.settings = settings
        self.stop = threading.Event()
        self.metrics = SenderMetrics()
        templates = check_templates(settings, s.channels)
        self.loops: list[ChannelLoop] = []
        self.workers: dict[str, ChannelWorker] = {}
        for ch in s.channels:
            ledger = Ledger(Path(s.ledger_dir) / f"{s.group_prefix}.{ch}.sqlite")
            ledger.prune(clock() - s.ledger_retention_days * DAY_MS)
            worker = ChannelWorker(
                ch,
                s,
                templates,
                provider_for(s.provider(ch), Path(s.outbox_dir), s.smtp),
                ledger,
                contacts_for(settings),
                self.metrics,
            )
            self.workers[ch] = worker
            self.loops.append(ChannelLoop(settings, ch, worker, self.stop, clock))
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def start(self) -> None:
        s = self.settings.sender
        if s.metrics_port:
            self.metrics.serve(s.metrics_host, s.metrics_port)
        for loop in self.loops:
            t = threading.Thread(target=self._run, args=(loop,), name=f"sender-{loop.channel}", daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, loop: ChannelLoop) -> None:
        try:
            loop.run()
        except BaseException as e:  # one channel's failure stops all: the process restarts whole
            if not isinstance(e, KafkaException | SystemExit):
                _LOG.exception("the %s sender failed", loop.channel)
            self.errors.append(e)
            self.stop.set()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def close(self, timeout_s: float = 30.0) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout_s)
        for w in self.workers.values():
            w.provider.close()
            w.contacts.close()
            w.ledger.close()

    def totals(self) -> dict[str, dict[str, int]]:
        """channel -> outcome -> actions so far, for progress lines."""
        out: dict[str, dict[str, int]] = {}
        for metric in self.metrics.messages.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    ch, outcome = sample.labels["channel"], sample.labels["outcome"]
                    out.setdefault(ch, {})[outcome] = int(sample.value)
        for ch, w in self.workers.items():
            out.setdefault(ch, {})["pending"] = w.pending()
        return out
