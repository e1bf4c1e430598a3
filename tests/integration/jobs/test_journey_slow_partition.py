"""A partition slow to deliver its first records holds journey time back until it delivers.

If it did not, the clicks would be read, journey time would move past them, and the stock
snapshot fetched a moment later would arrive late: a click's stock request would be answered
with no stock at all. Here the shop day's stock rows sit in a Kafka transaction that commits
only after the job has read every click and the other partitions have gone quiet (a
`read_committed` consumer gets nothing of that partition until then): within the start-up
patience (`journeys.startup_ms`), the job must still decide exactly what `simulate` decides.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pyflink.common import JobClient

from common.settings import Settings, TopicSettings
from connectors.admin import ensure_topics, lag
from jobs.environment import create_environment, stop_with_savepoint
from jobs.journey import build_pipeline, kafka_connectors, topics
from jobs.simulate import parse_records
from journeyctl.replay import replay, stamped
from journeyctl.sample_data import shop_day
from tests.journey_checks import assert_same_decisions, own_topics, read_outputs, simulated
from tests.kafka_helpers import wait_until_consumed

pytestmark = pytest.mark.integration

STOCK = "inventory.stock_levels"


def test_stock_fetched_after_the_clicks_is_still_applied_before_them(
    settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    s = own_topics(settings, unique)
    # patience for a partition that has delivered nothing: long enough for a slow test machine
    # to start the job and read the clicks before the stock rows come
    s = s.model_copy(update={"journeys": s.journeys.model_copy(update={"startup_ms": 90_000})})
    records = list(parse_records(shop_day()))
    sim = simulated(records)
    ensure_topics(s, topics(s), partitions=2)
    recorded_stock = TopicSettings().cdc[STOCK]
    stock = [r for r in records if r.topic == recorded_stock]
    assert stock, "the shop day must have stock rows"
    replay(s, [r for r in records if r.topic != recorded_stock])

    held = Producer({**s.kafka.librdkafka_properties(), "transactional.id": f"slow-{uuid.uuid4().hex}"})
    held.init_transactions(30)
    held.begin_transaction()
    for topic, key, value, ts in stamped(s, stock):
        held.produce(topic, key=key, value=value, timestamp=ts)
    held.flush(30)

    env = create_environment(s)
    sources, sinks = kafka_connectors(s, bounded=False)
    build_pipeline(env, sources, sinks, s)
    client = env.execute_async("journey-slow-partition")
    try:
        others = [t for t in s.topics.inputs() if t != s.topics.cdc[STOCK]]
        started = _running(client)
        wait_until_consumed(s, others, timeout_s=120)
        # Past the idle timeout (5 s) the partitions that delivered follow the clicks' time; a
        # partition that has delivered nothing holds journey time back for `startup_ms` from its
        # assignment: the rows come between the two.
        time.sleep(s.journeys.idle_ms / 1000 * 2)
        took = time.monotonic() - started
        assert took < s.journeys.startup_ms / 1000 - 10, f"the job took {took:.0f} s to read the clicks"
        held.commit_transaction(30)
        _wait_until_stock_read(s, len(stock))
    finally:
        stop_with_savepoint(client, tmp_path / "savepoints", drain=True)  # every open wait fires

    actions, events = read_outputs(s, sim.actions, sim.journey_events)
    assert_same_decisions(actions, events, sim.actions, sim.journey_events)


def _running(client: JobClient, timeout_s: float = 60) -> float:
    """When the job's tasks run (their partitions are assigned right after), on the monotonic clock."""
    deadline = time.monotonic() + timeout_s
    while str(client.get_job_status().result()) != "JobStatus.RUNNING":
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.2)
    return time.monotonic()


def _wait_until_stock_read(settings: Settings, rows: int, timeout_s: float = 60) -> None:
    # The transaction's commit marker takes an offset of each partition that no consumer ever
    # reads, so `wait_until_consumed` would wait for it for ever: count committed rows instead.
    deadline = time.monotonic() + timeout_s
    while (read := lag(settings, settings.consumer_group, [settings.topics.cdc[STOCK]])[0]) < rows:
        if time.monotonic() > deadline:
            raise AssertionError(f"the job has read {read} of {rows} stock rows in {timeout_s} s")
        time.sleep(0.5)
