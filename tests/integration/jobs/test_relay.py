"""The relay job on a MiniCluster at parallelism 2 against the real broker, read back read_committed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest

from common.settings import DeliveryMode, Settings
from connectors.admin import ensure_topics
from jobs.environment import create_environment
from jobs.relay import build_pipeline, kafka_connectors
from tests.kafka_helpers import produce, read_committed

pytestmark = pytest.mark.integration


def _records(n: int) -> list[tuple[bytes, bytes]]:
    return [
        (
            f"c-{i % 37}".encode(),
            json.dumps(
                {"type": "track", "messageId": f"m-{i}", "userId": f"c-{i % 37}", "event": "Product Viewed"}
            ).encode(),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("delivery", [DeliveryMode.EXACTLY_ONCE, DeliveryMode.AT_LEAST_ONCE])
def test_every_record_comes_out_once(
    settings: Settings, unique: Callable[[str], str], delivery: DeliveryMode
) -> None:
    settings = settings.model_copy(
        update={
            "relay": settings.relay.model_copy(
                update={"input": unique("relay-in"), "output": unique("relay-out")}
            ),
            "sink": settings.sink.model_copy(update={"delivery": delivery}),
        }
    )
    ensure_topics(settings, [settings.relay.input, settings.relay.output], partitions=2)
    records = _records(1000)
    produce(settings, settings.relay.input, records)

    env = create_environment(settings)
    sources, sinks = kafka_connectors(settings, bounded=True)
    build_pipeline(env, sources, sinks, settings)
    env.execute(f"relay-test-{delivery.value}")

    out = read_committed(settings, settings.relay.output, expected=len(records))
    assert Counter((m.key(), m.value()) for m in out) == Counter(records)
    # parallelism 2 over 2 partitions: both partitions of the output were written
    assert {m.partition() for m in out} == {0, 1}
