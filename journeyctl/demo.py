"""`make demo`: the local stack, a recorded shop day through Kafka and the journey job, the actions.

Grows with the product: each stage of the pipeline adds what it shows here.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from jobs.environment import create_environment
from journeyctl.settings import STACK_SCRIPT, Settings


def _high_watermarks(settings: Settings, topic: str) -> dict[int, int]:
    c = Consumer(
        {
            **settings.kafka.librdkafka_properties(),
            "group.id": f"demo-{uuid.uuid4()}",
            "isolation.level": "read_committed",
        }
    )
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def _read_from(
    settings: Settings, topic: str, start: dict[int, int], expected: int, timeout_s: float = 30.0
) -> list[bytes]:
    c = Consumer(
        {
            **settings.kafka.librdkafka_properties(),
            "group.id": f"demo-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, o) for p, o in start.items()])
    got: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = c.poll(0.5)
            value = msg.value() if msg is not None and msg.error() is None else None
            if value is not None:
                got.append(value)
    finally:
        c.close()
    return got


def run_demo(settings: Settings) -> int:
    """The product end to end on this machine: the recorded shop day through Kafka and the
    journey job, and the actions it sends, as the channel services would read them."""
    print("== 1/4 local stack (Kafka, schema registry)", flush=True)
    if subprocess.call([sys.executable, str(STACK_SCRIPT), "up"]) != 0:
        return 1

    from connectors.admin import ensure_topics
    from jobs import journey
    from journeyctl.replay import replay
    from journeyctl.settings import REPO
    from journeys.loader import load_dir
    from journeys.simulate import Simulation, read_records

    # topics of this run alone, so that a second demo shows its own actions, not the sum
    run = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    settings = settings.model_copy(
        update={
            "topics": settings.topics.renamed(lambda t: f"demo-{run}.{t}"),
            "consumer_group": f"demo-{run}",
            "sink": settings.sink.model_copy(update={"transactional_id_prefix": f"demo-{run}"}),
        }
    )
    ensure_topics(settings, journey.topics(settings))
    shop = REPO / "samples" / "shop.jsonl"
    n = replay(settings, read_records(shop))
    print(f"== 2/4 replayed {n} records of a recorded shop day ({shop.name}) into demo-{run}.*", flush=True)

    print(
        f"== 3/4 the journey job on a local Flink MiniCluster ({settings.sink.delivery.value}, "
        f"parallelism {settings.flink.parallelism}), to the end of what was written",
        flush=True,
    )
    env = create_environment(settings)
    sources, sinks = journey.kafka_connectors(settings, bounded=True)
    journey.build_pipeline(env, sources, sinks, settings)
    started = time.monotonic()
    env.execute("journeys (demo)")
    print(f"   job finished in {time.monotonic() - started:.1f} s", flush=True)

    sim = Simulation(load_dir())
    sim.run(read_records(shop), drain_ms=365 * 86_400_000)
    print("== 4/4 actions the channel services receive (read_committed, Avro via the registry):", flush=True)
    actions = []
    for topic in settings.topics.actions.values():
        expected = sum(1 for a in sim.actions if settings.topics.actions[a["channel"]] == topic)
        actions += _read_actions(settings, topic, expected)
    for a in sorted(actions, key=lambda a: (a["send_after"], a["customer_id"])):
        when = a["send_after"].strftime("%a %H:%M UTC")  # timestamp-millis, decoded to a datetime
        print(
            f"   {when}  {a['customer_id']:5s} {a['journey_id']:22s} {a['action_type']:22s} "
            f"{a['channel']:7s} {a['reason']}"
        )
    same = sorted(a["action_id"] for a in actions) == sorted(a["action_id"] for a in sim.actions)
    print(
        f"   {len(actions)} actions on {', '.join(settings.topics.actions.values())}; "
        + (
            "the same as `journeyctl simulate` decides over the file"
            if same
            else f"`journeyctl simulate` decides {len(sim.actions)}: they differ (see .stack/logs/)"
        )
    )
    print(
        f"   journey events: {settings.topics.journey_events}; bad records: {settings.topics.dead_letter}",
        flush=True,
    )
    print("Stop everything with `make stack-down`. Logs: .stack/logs/", flush=True)
    return 0 if same else 1


def _read_actions(settings: Settings, topic: str, expected: int) -> list[dict[str, Any]]:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    deserialize = AvroDeserializer(SchemaRegistryClient(settings.registry.client_config()))
    ctx = SerializationContext(topic, MessageField.VALUE)
    start = dict.fromkeys(_high_watermarks(settings, topic), 0)
    return [deserialize(v, ctx) for v in _read_from(settings, topic, start, expected)]
