"""The journey job on a MiniCluster at parallelism 2 with real Kafka and the registry.

The recorded shop day (every journey of SCENARIOS.md, every branch of the cart journey) goes
into Kafka stamped with its own time; the job runs over it to the end, where the final
watermark fires every remaining wait. What comes out, read `read_committed` and decoded with
confluent-kafka's AvroDeserializer, must be what `simulate` decides over the same file, and the
cart paths must be the ones SCENARIOS.md section 1 names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from connectors.admin import ensure_topics
from jobs.environment import create_environment
from jobs.journey import build_pipeline, kafka_connectors, topics
from journeyctl.replay import replay
from journeyctl.sample_data import shop_day
from journeyctl.settings import Settings
from journeys.loader import load_dir
from journeys.simulate import Simulation, parse_records
from tests.kafka_helpers import read_committed_avro

pytestmark = pytest.mark.integration


def _settings(settings: Settings, unique: Callable[[str], str]) -> Settings:
    t = settings.topics
    renamed = t.model_copy(
        update={
            "clickstream": unique("clickstream"),
            "channel_feedback": unique("channel-feedback"),
            "journey_events": unique("journey-events"),
            "dead_letter": unique("dead-letter"),
            "actions": {ch: unique(topic) for ch, topic in t.actions.items()},
            "cdc": {table: unique(topic) for table, topic in t.cdc.items()},
        }
    )
    return settings.model_copy(update={"topics": renamed})


def test_the_recorded_shop_day_gives_what_simulate_gives_exactly_once(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    s = _settings(settings, unique)
    records = list(parse_records(shop_day()))
    sim = Simulation(load_dir())
    sim.run(records, drain_ms=365 * 86_400_000)
    assert sim.actions, "the shop day must make the journeys act"

    ensure_topics(s, topics(s), partitions=2)
    replay(s, records)
    env = create_environment(s)
    sources, sinks = kafka_connectors(s, bounded=True)
    build_pipeline(env, sources, sinks, s)
    env.execute("journey-test")

    actions: list[dict[str, Any]] = []
    expected_by_topic = Counter(s.topics.actions[a["channel"]] for a in sim.actions)
    for channel, topic in s.topics.actions.items():
        got = read_committed_avro(s, topic, expected_by_topic[topic], timeout_s=120)
        assert all(a["channel"] == channel for a in got)
        actions += got
    events = read_committed_avro(s, s.topics.journey_events, len(sim.journey_events), timeout_s=120)

    # nothing lost, nothing doubled: the same decisions, one record each
    def summary(records: list[dict[str, Any]], *fields: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(r[f] for f in fields) for r in records)

    def differences(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
        missing, extra = Counter(want) - Counter(got), Counter(got) - Counter(want)
        return {"missing": sorted(missing.elements()), "extra": sorted(extra.elements())}

    a_fields = ("customer_id", "journey_id", "action_type", "channel", "action_id")
    no_difference = {"missing": [], "extra": []}
    assert differences(summary(actions, *a_fields), summary(sim.actions, *a_fields)) == no_difference
    e_fields = ("customer_id", "journey_id", "event_type", "step_id", "reason", "event_id")
    assert differences(summary(events, *e_fields), summary(sim.journey_events, *e_fields)) == no_difference

    carts = {
        a["customer_id"]: a
        for a in actions
        if a["journey_id"] == "cart_abandonment" and a["customer_id"] in ("c-1", "c-2", "c-3", "c-4", "c-5")
    }
    # SCENARIOS.md 1: in stock at the nearest store / low stock / sold out with alternatives
    assert carts["c-1"]["action_type"] == "reserve_and_collect"
    assert carts["c-2"]["action_type"] == "cart_reminder"
    assert carts["c-3"]["action_type"] == "cart_alternatives"
    # bought during the wait; the only item sold out during the wait, with nothing to offer
    assert "c-4" not in carts and "c-5" not in carts
    exits = {
        e["customer_id"]: e["reason"]
        for e in events
        if e["journey_id"] == "cart_abandonment" and e["event_type"] == "exited"
    }
    assert exits["c-4"] == "purchased"
    assert exits["c-5"] == "no_alternative_in_stock"
