"""A TaskManager killed (`kill -9`) while the journey job reads its backlog on the standalone
cluster (two single-slot TaskManagers, parallelism 2, exactly-once).

Started again a few seconds later, the job restores its last checkpoint by itself. Lost for good,
the job waits for a slot instead of failing (and deleting its checkpoints, as it once did); the
operator then resubmits it at the parallelism the cluster has left, and `journeyctl run` resumes
from the retained checkpoint. Either way nothing is lost or doubled.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from common.settings import Settings
from jobs.recovery import checkpoint_folder, latest_checkpoint
from tests.faults.harness import Outcome, backlog, count, job, mid_run, recovered_after, restarts, wait_for
from tests.flink_cluster import (
    rest,
    start_missing_task_managers,
    submit_journey,
    task_manager_pids,
    wait_until_finished,
)

pytestmark = pytest.mark.faults


@pytest.fixture
def cluster(flink_cluster: str) -> Iterator[str]:
    """The standalone cluster, with every TaskManager alive again afterwards."""
    start_missing_task_managers()
    yield flink_cluster
    start_missing_task_managers()


def _kill_a_task_manager() -> float:
    pids = task_manager_pids()
    assert len(pids) >= 2, f"two TaskManagers to lose one of: {pids}"
    os.kill(pids[0], signal.SIGKILL)
    return time.monotonic()


def test_a_task_manager_killed_and_started_again(
    cluster: str, settings: Settings, unique: Callable[[str], str]
) -> None:
    s, sim = backlog(settings, unique)
    outcome = Outcome("TaskManager kill -9, started again 5 s later", len(sim.actions))
    started = time.monotonic()
    job_id = submit_journey(s, "--bounded")
    mid_run(cluster, job_id)
    before = restarts(cluster, job_id)
    fault = _kill_a_task_manager()
    time.sleep(5)
    start_missing_task_managers()
    outcome.recovery_s = recovered_after(cluster, job_id, before) - fault
    wait_until_finished(cluster, job_id, timeout_s=900)
    outcome.recovered = True
    outcome.run_s = time.monotonic() - started
    outcome.notes.append(f"{restarts(cluster, job_id) - before} restart(s)")
    count(outcome, s, sim)
    assert (outcome.lost, outcome.doubled, outcome.extra) == (0, 0, 0)


def test_a_task_manager_lost_for_good_the_job_waits_then_resumes_where_it_fits(
    cluster: str, settings: Settings, unique: Callable[[str], str]
) -> None:
    s, sim = backlog(settings, unique)
    outcome = Outcome("TaskManager kill -9, never back; resubmitted at parallelism 1", len(sim.actions))
    started = time.monotonic()
    job_id = submit_journey(s, "--bounded")
    mid_run(cluster, job_id)
    _kill_a_task_manager()

    # past the heartbeat timeout (50 s) and several restart attempts: it must still be waiting
    waited_until = time.monotonic() + 70
    while time.monotonic() < waited_until:
        state = job(cluster, job_id)["state"]
        assert state not in ("FAILED", "CANCELED", "FINISHED"), f"the job is {state} without a slot"
        time.sleep(2)
    folder = checkpoint_folder(s.flink.checkpoint_dir, "journey")
    assert latest_checkpoint(folder) is not None, f"no retained checkpoint under {folder}"

    # the operator's move: cancel, and submit again at the parallelism the one slot left can run
    rest(f"{cluster}/jobs/{job_id}?mode=cancel", method="PATCH")
    wait_for("the job cancelled", lambda: job(cluster, job_id)["state"] == "CANCELED", 60)
    assert latest_checkpoint(folder) is not None, "the checkpoints outlive the cancelled job"
    resubmitted = time.monotonic()
    one = s.model_copy(update={"flink": s.flink.model_copy(update={"parallelism": 1})})
    again = submit_journey(one, "--bounded")
    wait_for("the job running again", lambda: job(cluster, again)["state"] in ("RUNNING", "FINISHED"), 120)
    outcome.recovery_s = time.monotonic() - resubmitted
    outcome.notes.append("recovery counted from the resubmission; the job waited 70 s for a slot first")
    wait_until_finished(cluster, again, timeout_s=900)
    outcome.recovered = True
    outcome.run_s = time.monotonic() - started
    count(outcome, s, sim)
    assert (outcome.lost, outcome.doubled, outcome.extra) == (0, 0, 0)
