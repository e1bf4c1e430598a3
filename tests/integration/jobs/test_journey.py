"""The journey job on a MiniCluster at parallelism 2 with real Kafka and the registry.

The recorded shop day (every journey of SCENARIOS.md, every branch of the cart journey) goes
into Kafka stamped with its own time; the job runs over it to the end, where the final
watermark fires every remaining wait. What comes out, read `read_committed` and decoded with
confluent-kafka's AvroDeserializer, must be what `simulate` decides over the same file, and the
cart paths must be the ones SCENARIOS.md section 1 names. The same for the recorded nights
(quiet hours, deleted consents, a time column's other encoding).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.settings import Settings
from jobs.environment import create_environment
from jobs.journey import build_pipeline, kafka_connectors
from journeyctl.sample_night import shop_night
from tests.journey_checks import (
    Record,
    assert_cart_paths,
    assert_night_paths,
    assert_same_decisions,
    read_outputs,
    shop_day_in_kafka,
)

pytestmark = pytest.mark.integration


def _bounded_run_equals_simulate(
    settings: Settings, unique: Callable[[str], str], lines: list[str] | None, name: str
) -> tuple[list[Record], list[Record]]:
    """The recorded lines into Kafka, the job over them to the end, and its outputs, which must
    be exactly `simulate`'s."""
    s, sim = shop_day_in_kafka(settings, unique, lines)
    env = create_environment(s)
    sources, sinks = kafka_connectors(s, bounded=True)
    build_pipeline(env, sources, sinks, s)
    env.execute(name)
    actions, events = read_outputs(s, sim.actions, sim.journey_events)
    assert_same_decisions(actions, events, sim.actions, sim.journey_events)
    return actions, events


def test_the_recorded_shop_day_gives_what_simulate_gives_exactly_once(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    assert_cart_paths(*_bounded_run_equals_simulate(settings, unique, None, "journey-test"))


def test_the_recorded_nights_give_what_simulate_gives(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    """Deferred messages outlive their instance or are cancelled, a tombstoned consent stops
    counting, consent rows with an epoch `updated_at` count: in the job as in `simulate`."""
    assert_night_paths(*_bounded_run_equals_simulate(settings, unique, shop_night(), "journey-night-test"))
