"""The journey job on a real standalone Flink cluster, submitted with `flink run -py`, over a
recorded day.

The cluster is a JobManager and a TaskManager (2 slots) started from the PyFlink distribution's
own scripts (deploy/local/cluster.py); the job runs at parallelism 2 over the recorded shop day
in Kafka, its settings passed as `JOURNEY_*` variables to the submitting client. What it writes,
read `read_committed`, must be exactly what `simulate` decides, and the cart paths those of
SCENARIOS.md section 1. (The live day, its operational data from the databases, runs on the same
cluster in tests/e2e.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from common.settings import REPO, Settings
from tests.flink_cluster import (
    read_operator_metrics,
    rest,
    submit_journey,
    wait_until_finished,
    wait_until_running,
)
from tests.journey_checks import assert_cart_paths, assert_same_decisions, read_outputs, shop_day_in_kafka

pytestmark = pytest.mark.integration


def test_the_journey_job_submitted_to_a_standalone_cluster_gives_what_simulate_gives(
    flink_cluster: str, settings: Settings, unique: Callable[[str], str]
) -> None:
    s, sim = shop_day_in_kafka(settings, unique)
    assert s.flink.parallelism == 2
    job_id = submit_journey(s, "--bounded")
    job = rest(f"{flink_cluster}/jobs/{job_id}")
    assert {v["parallelism"] for v in job["vertices"]} == {2}, "every operator runs at parallelism 2"

    # the web UI's metric reads call into every operator's metrics while the job runs: they must
    # not bring a task manager down (a Python gauge did, SIGSEGV in take_gil)
    wait_until_finished(flink_cluster, job_id, read_metrics=True)
    actions, events = read_outputs(s, sim.actions, sim.journey_events)
    assert_same_decisions(actions, events, sim.actions, sim.journey_events)
    assert_cart_paths(actions, events)


def test_jobs_ending_one_after_another_leave_every_task_manager_up(
    flink_cluster: str, settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    """A job's end once took its TaskManager down (SIGSEGV: a Python gauge read by Flink's metric
    thread while the job closed). Jobs are cancelled here one after another while their metrics
    are read as the web UI reads them; every TaskManager must still be there, and no crash
    report written."""
    s, _ = shop_day_in_kafka(settings, unique)
    managers = {tm["id"] for tm in rest(f"{flink_cluster}/taskmanagers")["taskmanagers"]}
    assert managers, "the cluster has task managers"
    logs = REPO / ".stack" / "logs"
    crashes_before = set(logs.rglob("hs_err_pid*.log")) | set(REPO.glob("hs_err_pid*.log"))
    for run in range(4):
        r = s.model_copy(
            update={
                "consumer_group": f"{s.consumer_group}-{run}",
                "flink": s.flink.model_copy(update={"checkpoint_dir": str(tmp_path / f"run-{run}")}),
                "sink": s.sink.model_copy(
                    update={"transactional_id_prefix": f"{s.sink.transactional_id_prefix}-{run}"}
                ),
            }
        )
        job_id = submit_journey(r)
        wait_until_running(flink_cluster, job_id)
        # the REST API's metric lists fill on its fetcher's next round (every 10 s by default)
        listed = read_operator_metrics(flink_cluster, job_id)
        deadline = time.monotonic() + 30
        while not listed and time.monotonic() < deadline:
            time.sleep(1)
            listed = read_operator_metrics(flink_cluster, job_id)
        assert listed > 0, "the running job's metrics were read"
        rest(f"{flink_cluster}/jobs/{job_id}?mode=cancel", "PATCH")
        deadline = time.monotonic() + 120
        while rest(f"{flink_cluster}/jobs/{job_id}")["state"] != "CANCELED":
            assert time.monotonic() < deadline, f"job {job_id} did not end in 120 s"
            read_operator_metrics(flink_cluster, job_id, ending=True)
        now = {tm["id"] for tm in rest(f"{flink_cluster}/taskmanagers")["taskmanagers"]}
        assert now == managers, f"after job {run + 1}, task managers {sorted(managers - now)} are gone"
    crashes = set(logs.rglob("hs_err_pid*.log")) | set(REPO.glob("hs_err_pid*.log"))
    assert crashes == crashes_before, f"crash reports written: {sorted(crashes - crashes_before)}"
