"""The benchmark's own workload, bounded, through the journey job on Kafka: its decisions and
their ids must not depend on how fast the job runs.

A run used to differ from the next over the same backlog (35 of 8,400 action ids) and from
`simulate`: which of a customer's records and waits came first depended on arrival. So the
same backlog runs twice, at parallelism 2 and then 1 (another split of the keys, another
speed), and each run's actions and journey events must be exactly `simulate`'s, ids included.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.journey_job import outputs_of_their_own
from benchmarks.workload import SENTINEL, _Records, shop_backlog
from common.settings import Settings
from jobs.environment import create_environment
from jobs.journey import build_pipeline, kafka_connectors
from tests.journey_checks import assert_same_decisions, read_outputs, shop_day_in_kafka

pytestmark = pytest.mark.integration

#: a fixed hour of shopping, so that the workload is the same records every time
T0 = int(datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp() * 1000)


def test_the_bench_backlog_gives_simulates_action_ids_run_after_run(
    settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    records = _Records()
    shop_backlog(records, customers=3_000, skus=500, events=25_000, t0=T0, zone="Europe/Berlin")
    s, sim = shop_day_in_kafka(settings, unique, records.lines())
    # a size that shows it: thousands of decisions over thousands of customers, of every kind
    kinds = Counter(a["action_type"] for a in sim.actions)
    assert len(sim.actions) > 3_000, kinds
    assert len({a["customer_id"] for a in sim.actions}) > 1_500
    assert len(kinds) >= 3, kinds
    assert any(a["customer_id"] == SENTINEL for a in sim.actions)
    want = sorted(a["action_id"] for a in sim.actions)

    for run, parallelism in (("a", 2), ("b", 1)):
        r = outputs_of_their_own(s, run, tmp_path, parallelism=parallelism)
        env = create_environment(r)
        sources, sinks = kafka_connectors(r, bounded=True)
        build_pipeline(env, sources, sinks, r)
        env.execute(f"journey-bench-determinism-{run}")
        actions, events = read_outputs(r, sim.actions, sim.journey_events, timeout_s=300)
        assert sorted(a["action_id"] for a in actions) == want, f"run {run} (parallelism {parallelism})"
        assert_same_decisions(actions, events, sim.actions, sim.journey_events)
