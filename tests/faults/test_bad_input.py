"""A flood of bad records mixed into the backlog: every one in the dead-letter topic, once, with
its reason; the job stays up; every decision the same as without them.

Eight kinds, 10,000 records in all, half before the backlog and half after it on the same
topics (MiniCluster, exactly-once). None of them may reach the engine, and none of them may move
journey time: they carry the backlog's first moment as their Kafka time.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.examples import CLICK, envelope
from jobs.environment import create_environment
from jobs.journey import build_pipeline, kafka_connectors, topics
from tests.faults.harness import T0, Outcome, backlog, count
from tests.journey_checks import own_topics
from tests.kafka_helpers import read_committed_avro

pytestmark = pytest.mark.faults
FLOOD = 10_000


def _bad(s: Settings) -> list[tuple[str, bytes, bytes]]:
    """One record of each kind: (topic, key, value)."""
    stock, customers = s.topics.cdc["inventory.stock_levels"], s.topics.cdc["crm.customers"]
    wrong_type = envelope("inventory.stock_levels")
    wrong_type["after"]["quantity"] = "lots"
    no_id = envelope("crm.customers")
    del no_id["after"]["customer_id"]
    return [
        (s.topics.clickstream, b"c-1", b'{"type": "track", "event": '),
        (s.topics.clickstream, b"c-1", json.dumps({**CLICK, "type": "identify"}).encode()),
        (s.topics.clickstream, b"c-1", b"\x00\x00\x0f\x42\x3f" + b"not avro"),
        (s.topics.clickstream, b"c-1", b"\xff\xfe garbage \x00"),
        (stock, b"{}", json.dumps(wrong_type).encode()),
        (stock, b"{}", json.dumps({**envelope("inventory.stock_levels"), "op": "x"}).encode()),
        (customers, b'{"customer_id":"c-1"}', json.dumps(no_id).encode()),
        (customers, b'{"customer_id":"c-1"}', b'["not", "an", "object"]'),
    ]


def _flood(s: Settings, n: int) -> None:
    kinds = _bad(s)
    producer = Producer({**s.kafka.librdkafka_properties(), "enable.idempotence": True})
    for i in range(n):
        topic, key, value = kinds[i % len(kinds)]
        producer.produce(topic, key=key, value=value, timestamp=T0)
        if i % 1_000 == 999:
            producer.flush(30)
    assert producer.flush(30) == 0


def test_a_flood_of_bad_records_goes_to_the_dead_letters_and_changes_no_decision(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    s = own_topics(settings, unique)
    ensure_topics(s, topics(s), partitions=2)
    _flood(s, FLOOD // 2)
    s, sim = backlog(settings, unique)
    _flood(s, FLOOD - FLOOD // 2)
    outcome = Outcome(f"{FLOOD:,} bad records of 8 kinds mixed in", len(sim.actions))
    started = time.monotonic()
    env = create_environment(s)
    sources, sinks = kafka_connectors(s, bounded=True)
    build_pipeline(env, sources, sinks, s)
    env.execute("journey-bad-input-flood")
    outcome.recovered = True
    outcome.run_s = time.monotonic() - started
    dead = read_committed_avro(s, s.topics.dead_letter, FLOOD, timeout_s=120)
    reasons = Counter(d["error_class"] for d in dead)
    by_reason = ", ".join(f"{k} {v:,}" for k, v in sorted(reasons.items()))
    outcome.notes.append(f"{len(dead):,} dead letters: {by_reason}")
    count(outcome, s, sim)
    assert (outcome.lost, outcome.doubled, outcome.extra) == (0, 0, 0)
    assert len(dead) == FLOOD, f"every bad record dead-lettered once: {len(dead)} of {FLOOD} ({reasons})"
    assert len(reasons) >= 6, f"each kind with its own reason: {reasons}"
