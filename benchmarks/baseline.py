"""The plain-Python baseline of `journeyctl bench job`: what a user could run instead of Flink.

`simulate`'s engine and catalogue in one Python process, reading the same Kafka topics with
confluent-kafka and writing the same outputs (Avro, Confluent wire format, registry ids) with a
plain producer: no durability (no checkpoints, no transactions, state in memory only and lost
with the process), no event-time order across partitions (records are applied as they arrive),
one core. It is the figure the journey job is compared with: whatever Flink costs per record
must buy more than this.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer

from common.settings import Settings
from connectors.avro import Encoder, RegistryClient, load_schema
from connectors.decoder import DeadLetter, Decoder, Skipped
from connectors.records import KafkaRecord
from jobs.simulate import Simulation
from journeys.codec import encode
from journeys.loader import DEFINITIONS, load_dir


class Baseline:
    """One process: consume, decode, simulate, encode, produce."""

    def __init__(self, settings: Settings, group: str | None = None) -> None:
        self.settings = settings
        registry = RegistryClient(settings.registry.client_config())
        self.sim = Simulation(load_dir(DEFINITIONS), settings=settings)
        self.sim.decoder = Decoder(settings, registry)
        t = settings.topics
        action = load_schema("action")
        self._actions = {ch: Encoder(registry, topic, action) for ch, topic in t.actions.items()}
        self._events = Encoder(registry, t.journey_events, load_schema("journey_event"))
        kafka = settings.kafka.librdkafka_properties()
        self._consumer = Consumer(
            {
                **kafka,
                "group.id": group or f"baseline-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._consumer.subscribe(t.inputs())
        self._producer = Producer({**kafka, "linger.ms": 5, "compression.type": "none"})
        self.records = 0

    def _flush_outputs(self) -> list[str]:
        """Produce what the simulation decided since the last call; the customers of its actions."""
        sim, produce = self.sim, self._producer.produce
        customers = []
        for a in sim.actions:
            enc = self._actions[a["channel"]]
            produce(enc.topic, enc.encode(a), a["customer_id"].encode())
            customers.append(a["customer_id"])
        for j in sim.journey_events:
            produce(self._events.topic, self._events.encode(j), j["customer_id"].encode())
        sim.actions.clear()
        sim.journey_events.clear()
        self._producer.poll(0)
        return customers

    def _apply(self, batch: list[Any]) -> None:
        """Decode and feed a batch of consumed messages; bad records are dropped."""
        feed, decode = self.sim.feed, self.sim.decoder.decode
        for m in batch:
            if m.error() is not None:
                continue
            _, ts = m.timestamp()
            out = decode(
                KafkaRecord(m.topic() or "", m.partition() or 0, m.offset() or 0, ts, m.key(), m.value())
            )
            if type(out) is not DeadLetter and type(out) is not Skipped:
                feed(out)  # type: ignore[arg-type]

    def run_until(
        self, customer: str, total: int, timeout_s: float, say: Callable[[str], None]
    ) -> tuple[float, float]:
        """Consume and apply until all `total` records are in and an action for `customer` is
        produced; (first record, done) in monotonic seconds."""
        first = 0.0
        sentinel = False
        deadline = time.monotonic() + timeout_s
        next_say = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = self._consumer.consume(1000, 0.5)
            if batch and not first:
                first = time.monotonic()
            self._apply(batch)
            self.records += len(batch)
            sentinel = customer in self._flush_outputs() or sentinel
            if sentinel and self.records >= total:
                self._producer.flush(30)
                return first, time.monotonic()
            if time.monotonic() >= next_say:
                say(f"    baseline read {self.records:,}")
                next_say = time.monotonic() + 10
        raise RuntimeError(
            f"the baseline read {self.records:,} records in {timeout_s:.0f} s without the sentinel"
        )

    def run_forever(self, commit_every_s: float = 1.0) -> None:
        """Consume and apply until the process is stopped, committing the group's offsets about
        every `commit_every_s` (after the batch's outputs are handed to the producer), so that
        its progress shows as the Flink jobs' does (`make bench`)."""
        next_commit = time.monotonic() + commit_every_s
        uncommitted = False
        while True:
            batch = self._consumer.consume(1000, 0.1)
            uncommitted = uncommitted or bool(batch)
            self._apply(batch)
            self._flush_outputs()
            # journey time follows the records: with none coming, waits fall due by the clock
            if not batch:
                self.sim.advance(int(time.time() * 1000))
                self._flush_outputs()
            if time.monotonic() >= next_commit and uncommitted:
                self._consumer.commit(asynchronous=True)
                next_commit = time.monotonic() + commit_every_s
                uncommitted = False

    def close(self) -> None:
        self._consumer.close()
        self._producer.flush(30)


def baseline_throughput(
    settings: Settings, total: int, sentinel: str, say: Callable[[str], None]
) -> tuple[float, list[int]]:
    """Events/s of the plain-Python baseline over a backlog of `total` records already in the
    input topics of `settings`, to the sentinel's action; and the bytes of every customer's state
    at the end as the job's journey stage stores it (`journeys.codec`)."""
    b = Baseline(settings)
    try:
        first, done = b.run_until(sentinel, total, timeout_s=3_600, say=say)
    finally:
        b.close()
    took = done - first
    rate = total / took
    say(f"  plain-Python baseline: {rate:,.0f} events/s ({b.records:,} records in {took:.1f} s)")
    return rate, [len(encode(state)) for state in b.sim.states.values()]


def main() -> int:
    """`python -m benchmarks.baseline`: the baseline as a process of its own (`make bench`), its
    settings from the environment, reading with the settings' consumer group until stopped."""
    settings = Settings()
    b = Baseline(settings, group=settings.consumer_group)
    print(f"baseline: reading {len(settings.topics.inputs())} topics", flush=True)
    try:
        b.run_forever()
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
