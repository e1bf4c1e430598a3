"""The registry down while an Avro record with a schema the job has not seen yet arrives.

The ingest job (decode only, MiniCluster, exactly-once) runs on Avro clicks. With the registry
stopped, a click written with a second, newer schema comes in: the job cannot read it yet, and
it must not call it bad. It keeps it (the task fails and Flink retries it from its checkpoint)
and decodes it once the registry is back: nothing in the dead letters, nothing lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.avro import Encoder, RegistryClient, load_schema
from connectors.clickstream import to_avro_record
from connectors.examples import CLICK
from jobs.environment import create_environment
from jobs.ingest import build_pipeline, kafka_connectors
from tests.faults.harness import Outcome, as_deployed, report, stack_service, wait_for
from tests.kafka_helpers import read_committed

pytestmark = pytest.mark.faults


def test_a_new_avro_schema_while_the_registry_is_down_waits_for_it(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    t = settings.topics
    s = as_deployed(settings).model_copy(
        update={
            "topics": t.model_copy(
                update={
                    "clickstream": unique("clickstream"),
                    "channel_feedback": unique("channel-feedback"),
                    "dead_letter": unique("dead-letter"),
                    "decoded": unique("decoded"),
                    "cdc": {"crm.customers": unique("crm.public.customers")},
                }
            ),
            "registry": settings.registry.model_copy(update={"wait_s": 2.0}),
        }
    )
    t = s.topics
    ensure_topics(s, [*t.inputs(), t.dead_letter, t.decoded], partitions=1)
    registry = RegistryClient(s.registry.client_config())
    schema = load_schema("clickstream_event")
    first = Encoder(registry, t.clickstream, schema).encode(to_avro_record(CLICK))
    # a newer version of the same contract (a field more, with a default): another schema id
    newer = {**schema, "fields": [*schema["fields"], {"name": "note", "type": "string", "default": ""}]}
    second = Encoder(registry, unique("newer-clicks"), newer).encode({**to_avro_record(CLICK), "note": "x"})
    assert first[1:5] != second[1:5], "two schema ids"
    producer = Producer(s.kafka.librdkafka_properties())

    def send(value: bytes) -> None:
        producer.produce(t.clickstream, key=b"c-42", value=value)
        assert producer.flush(30) == 0

    outcome = Outcome("registry down as a record with an unseen Avro schema arrives (MiniCluster)", 2)
    started = time.monotonic()
    send(first)
    env = create_environment(s)
    sources, sinks = kafka_connectors(s, bounded=False)
    build_pipeline(env, sources, sinks, s)
    client = env.execute_async("ingest-registry-down")
    try:
        wait_for(
            "the first click decoded", lambda: len(read_committed(s, t.decoded, 1, timeout_s=5)) >= 1, 120
        )
        stack_service("down", "registry")
        try:
            send(second)
            time.sleep(15)  # several attempts, and task failures, while it is down
            assert read_committed(s, t.dead_letter, 0, timeout_s=3) == [], "a good record dead-lettered"
            assert len(read_committed(s, t.decoded, 2, timeout_s=3)) == 1, "decoded without its schema?"
        finally:
            back = time.monotonic()
            stack_service("up", "registry")
        decoded = read_committed(s, t.decoded, 2, timeout_s=120)
        outcome.recovery_s = time.monotonic() - back
    finally:
        client.cancel().result()
    letters = read_committed(s, t.dead_letter, 0, timeout_s=3)
    kinds = [json.loads(m.value())["kind"] for m in decoded]
    outcome.lost = max(0, 2 - len(decoded))
    outcome.doubled = max(0, len(decoded) - 2)
    outcome.recovered = len(decoded) == 2 and not letters
    outcome.run_s = time.monotonic() - started
    outcome.notes.append(
        f"{len(letters)} dead letters; recovery = from the registry back to the click decoded"
    )
    report(outcome)
    assert kinds == ["ClickEvent", "ClickEvent"] and not letters, (kinds, letters)
