"""The journey output sink: actions per channel and journey events, keyed, exactly once, and
nothing written outside the topics it was built for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pyflink.common import Types
from pyflink.datastream.functions import MapFunction, RuntimeContext

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.examples import ACTION, JOURNEY_EVENT
from connectors.kafka import BYTES, journey_sinks
from connectors.outputs import OutputEncoder
from connectors.records import output_frame
from jobs.environment import create_environment
from tests.kafka_helpers import read_committed

pytestmark = pytest.mark.integration
CHANNELS = ("email", "sms", "push", "in_app")


def _settings(settings: Settings, unique: Callable[[str], str]) -> Settings:
    t = settings.topics
    return settings.model_copy(
        update={
            "topics": t.model_copy(
                update={
                    "actions": {ch: unique(f"actions.{ch}") for ch in CHANNELS},
                    "journey_events": unique("journey-events"),
                    "dead_letter": unique("dead-letter"),
                }
            )
        }
    )


class Encode(MapFunction):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def open(self, runtime_context: RuntimeContext) -> None:
        self._out = OutputEncoder(self._settings)

    def map(self, i: int) -> bytes:
        """One batch per number: a journey event for every fifth, an action for each."""
        ch = CHANNELS[i % 4]
        pieces = [
            self._out.action({**ACTION, "action_id": f"act-{i}", "channel": ch, "customer_id": f"c-{i % 7}"})
        ]
        if i % 5 == 0:
            pieces.append(
                self._out.journey_event({**JOURNEY_EVENT, "event_id": f"je-{i}", "customer_id": f"c-{i % 7}"})
            )
        return OutputEncoder.batch(pieces)


def test_actions_and_journey_events_land_exactly_once_on_their_topics(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    s = _settings(settings, unique)
    t = s.topics
    ensure_topics(s, t.outputs())
    env = create_environment(s)
    outputs, _ = journey_sinks(s)
    n = 200
    outputs(env.from_collection(list(range(n)), type_info=Types.INT()).map(Encode(s), output_type=BYTES))
    env.execute("journey-sinks-test")

    deserialize = AvroDeserializer(SchemaRegistryClient(s.registry.client_config()))
    expected_events = [i for i in range(n) if i % 5 == 0]
    events = read_committed(s, t.journey_events, expected=len(expected_events))
    ctx = SerializationContext(t.journey_events, MessageField.VALUE)
    event_ids = sorted(deserialize(m.value(), ctx)["event_id"] for m in events)
    assert event_ids == sorted(f"je-{i}" for i in expected_events)
    for ch, topic in t.actions.items():
        expected = [i for i in range(n) if CHANNELS[i % 4] == ch]
        got = read_committed(s, topic, expected=len(expected))
        records = [deserialize(m.value(), SerializationContext(topic, MessageField.VALUE)) for m in got]
        assert Counter(r["action_id"] for r in records) == Counter(f"act-{i}" for i in expected)
        assert all(r["channel"] == ch for r in records)
        assert all(m.key() == r["customer_id"].encode() for m, r in zip(got, records, strict=True))


def test_a_frame_for_a_topic_outside_the_sink_fails_the_job(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    s = _settings(settings, unique)
    s = s.model_copy(update={"flink": s.flink.model_copy(update={"restart_attempts": 0})})
    ensure_topics(s, s.topics.outputs())
    env = create_environment(s)
    _, dead_letters = journey_sinks(s)
    stray = output_frame("someone-elses-topic", b"k", b"v")
    dead_letters(env.from_collection([1], type_info=Types.INT()).map(lambda _: stray, output_type=BYTES))
    with pytest.raises(Exception, match="not allowed"):
        env.execute("journey-sinks-stray")
