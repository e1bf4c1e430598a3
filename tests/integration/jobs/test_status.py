"""`journeyctl status` against a running journey job on a MiniCluster: checkpoints an operator
can alert on. A normal run (a shop day's backlog, then live) has no failed checkpoint, and each
completed one reports its duration and size."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from common.settings import Settings
from connectors.admin import ensure_topics
from jobs.environment import create_environment
from jobs.journey import build_pipeline, kafka_connectors, topics
from jobs.simulate import parse_records
from jobs.status import JobStatus, Unreachable, embedded_rest_urls, job_status
from journeyctl.replay import replay
from journeyctl.sample_data import shop_day
from tests.journey_checks import own_topics
from tests.kafka_helpers import wait_until_consumed

pytestmark = pytest.mark.integration


def _find(settings: Settings, job_id: str) -> JobStatus:
    """The job through the REST API of the MiniCluster it runs in (the first free embedded port)."""
    for url in embedded_rest_urls(settings):
        try:
            return job_status(url, job_id)
        except Unreachable:  # nothing on that port, or another MiniCluster that knows no such job
            continue
    raise AssertionError(f"no REST API on 127.0.0.1:{settings.flink.embedded_rest_ports} knows job {job_id}")


def test_a_normal_run_has_no_failed_checkpoint_and_reports_each_ones_duration_and_size(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    s = own_topics(settings, unique)
    ensure_topics(s, topics(s))
    replay(s, list(parse_records(shop_day())))
    env = create_environment(s)
    sources, sinks = kafka_connectors(s, bounded=False)
    build_pipeline(env, sources, sinks, s)
    client = env.execute_async("journey-status")
    try:
        job_id = str(client.get_job_id())
        first = _wait(s, job_id, completed=1)
        wait_until_consumed(s, s.topics.inputs(), timeout_s=180)
        status = _wait(s, job_id, completed=first.checkpoints.completed + 10)
    finally:
        client.cancel().result()
    c = status.checkpoints
    assert status.state == "RUNNING"
    # Flink counts as failed the triggers it refuses while the tasks are still starting (no
    # checkpoint was begun; there is no setting to delay the first): none may come after that
    assert c.last_failed_id is None, f"checkpoint {c.last_failed_id} failed in a normal run: {c.failure}"
    assert c.failed == first.checkpoints.failed, "checkpoints failed once the job ran"
    assert c.latest_duration_ms is not None and c.latest_duration_ms >= 0
    assert c.latest_state_bytes and c.latest_checkpointed_bytes is not None
    assert status.alerts() == []


def _wait(settings: Settings, job_id: str, completed: int, timeout_s: float = 120) -> JobStatus:
    deadline = time.monotonic() + timeout_s
    status = _find(settings, job_id)
    while status.checkpoints.completed < completed:
        assert time.monotonic() < deadline, f"{status.checkpoints.completed} of {completed} checkpoints"
        time.sleep(0.5)
        status = _find(settings, job_id)
    return status
