"""`make demo`: the local stack, sample clickstream records, the relay job, and what came out.

Grows with the product: each stage of the pipeline adds what it shows here.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, Producer, TopicPartition

from journeyctl.settings import STACK_SCRIPT, Settings

EVENTS = ["Product Viewed", "Product Added", "Cart Viewed", "Checkout Started"]
PRODUCTS = [
    ("SKU-1", "p-1", "Jackets", "Nordwind", "Shell jacket", 129.0),
    ("SKU-2", "p-2", "Jackets", "Nordwind", "Down jacket", 189.0),
    ("SKU-3", "p-3", "Boots", "Fjell", "Hiking boot", 149.0),
    ("SKU-4", "p-4", "Boots", "Fjell", "Trail runner", 119.0),
]


def sample_clickstream(n: int, seed: int, start: datetime) -> list[tuple[bytes, bytes]]:
    """Segment-style `track` calls as (key, value) pairs, in the shape CONTRACTS.md gives."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        user = f"c-{rnd.randint(1, 5)}"
        sku, pid, cat, brand, name, price = rnd.choice(PRODUCTS)
        event = {
            "type": "track",
            "messageId": str(uuid.UUID(int=rnd.getrandbits(128))),
            "userId": user,
            "anonymousId": f"a-{user[2:]}",
            "event": rnd.choice(EVENTS),
            "timestamp": (start + timedelta(seconds=7 * i))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "properties": {
                "cart_id": f"cart-{user[2:]}",
                "product_id": pid,
                "sku": sku,
                "category": cat,
                "brand": brand,
                "name": name,
                "price": price,
                "quantity": 1,
            },
            "context": {"channel": "web", "timezone": "Europe/Berlin"},
        }
        out.append((user.encode(), json.dumps(event, separators=(",", ":")).encode()))
    return out


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


def run_demo(settings: Settings, records: int = 20) -> int:
    print("== 1/5 local stack (Kafka, schema registry)", flush=True)
    if subprocess.call([sys.executable, str(STACK_SCRIPT), "up"]) != 0:
        return 1

    from connectors.admin import ensure_topics
    from jobs.environment import create_environment
    from jobs.relay import build_pipeline, kafka_connectors

    topics = settings.relay
    ensure_topics(settings, [topics.input, topics.output])
    before = _high_watermarks(settings, topics.output)

    print(f"== 2/5 writing {records} sample clickstream records to {topics.input!r}", flush=True)
    producer = Producer(settings.kafka.librdkafka_properties())
    for key, value in sample_clickstream(records, seed=int(time.time()), start=datetime.now(UTC)):
        producer.produce(topics.input, key=key, value=value)
    producer.flush(30)

    print(
        f"== 3/5 relay job on a local Flink MiniCluster: {topics.input!r} -> {topics.output!r} "
        f"({settings.sink.delivery.value}, parallelism {settings.flink.parallelism})",
        flush=True,
    )
    env = create_environment(settings)
    sources, sinks = kafka_connectors(settings, bounded=True)
    build_pipeline(env, sources, sinks, settings)
    started = time.monotonic()
    env.execute("relay (demo)")
    print(f"   job finished in {time.monotonic() - started:.1f} s", flush=True)

    print(f"== 4/5 committed records in {topics.output!r} (read_committed):", flush=True)
    out = _read_from(settings, topics.output, before, expected=records)
    for value in out:
        e = json.loads(value)
        print(f"   {e['timestamp']}  {e['userId']:5s} {e['event']:17s} {e['properties']['sku']}")
    print(
        f"   {len(out)} records came out of the job "
        f"(this run wrote {records}; the consumer group resumes where the last run stopped)"
    )
    relayed = len(out) >= records

    print(
        "== 5/5 the journey engine over a recorded day of a small shop (samples/shop.jsonl), no Flink:",
        flush=True,
    )
    from journeyctl.settings import REPO
    from journeys.loader import load_dir
    from journeys.simulate import Simulation, read_records

    sim = Simulation(load_dir())
    sim.run(read_records(REPO / "samples" / "shop.jsonl"), drain_ms=30 * 86_400_000)
    for a in sim.actions:
        when = datetime.fromtimestamp(a["send_after"] / 1000, tz=UTC).strftime("%a %H:%M UTC")
        print(f"   {when}  {a['customer_id']:5s} {a['action_type']:22s} {a['channel']:7s} {a['reason']}")
    print(
        f"   {len(sim.actions)} actions, {len(sim.journey_events)} journey events "
        "(`journeyctl simulate samples/shop.jsonl` shows them all)"
    )
    print("Stop everything with `make stack-down`. Logs: .stack/logs/", flush=True)
    return 0 if relayed else 1
