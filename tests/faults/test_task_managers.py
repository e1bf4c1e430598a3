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
from pathlib import Path

import pytest

from common.settings import Settings
from jobs.recovery import checkpoint_folder, latest_checkpoint
from tests.faults.harness import (
    completed_checkpoints,
    finished,
    in_mid_run,
    job,
    recovered_after,
    settled,
    wait_for,
)
from tests.flink_cluster import (
    rest,
    start_missing_task_managers,
    stop_draining,
    submit_journey,
    task_manager_pids,
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
    run = in_mid_run(cluster, settings, unique, "TaskManager kill -9, started again 5 s later")
    fault = _kill_a_task_manager()
    time.sleep(5)
    start_missing_task_managers()
    run.outcome.recovery_s = recovered_after(cluster, run.job_id, run.restarts_before) - fault
    finished(run)


def _pending(base: str, job_id: str) -> int:
    """Records the job's Kafka source has yet to read, over its subtasks (-1: not reported yet)."""
    source = next(v for v in job(base, job_id)["vertices"] if v["name"].startswith("Source"))
    at = f"{base}/jobs/{job_id}/vertices/{source['id']}/metrics"
    ids = [m["id"] for m in rest(at) if m["id"].endswith(".pendingRecords")]
    if not ids:
        return -1
    return sum(int(float(m["value"])) for m in rest(f"{at}?get={','.join(ids)}"))


def test_a_task_manager_lost_for_good_the_job_waits_then_resumes_where_it_fits(
    cluster: str, settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> None:
    run = in_mid_run(
        cluster, settings, unique, "TaskManager kill -9, never back; resubmitted at parallelism 1"
    )
    s, outcome, job_id = run.settings, run.outcome, run.job_id
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
    if not task_manager_pids():
        # Flink's own fatal-error handler can take the surviving TaskManager down too when its peer
        # vanishes mid-shuffle ("exception in exception handler": the lost connection rethrown
        # while the task's inputs are released; seen once in four whole runs). Then nothing is
        # left to resubmit to: the operator starts TaskManagers again first, and the report says so.
        start_missing_task_managers()
        outcome.notes.append(
            "the surviving TaskManager went down too (Flink's fatal-error handler): started again"
        )
    resubmitted = time.monotonic()
    # Unbounded, as the live job runs: a bounded Kafka source restored from a checkpoint reads
    # to its end and then never finishes (FLINK-31006: its enumerator, recreated from state,
    # never signals "no more splits"). Once it has read everything, it is stopped draining,
    # which fires every wait still open, as the end of a bounded run does.
    one = s.model_copy(update={"flink": s.flink.model_copy(update={"parallelism": 1})})
    again = submit_journey(one)
    wait_for("the job running again", lambda: job(cluster, again)["state"] == "RUNNING", 120)
    outcome.recovery_s = time.monotonic() - resubmitted
    outcome.notes.append("recovery counted from the resubmission; the job waited 70 s for a slot first")
    # everything read: nothing pending at the source, and a checkpoint after that (a source
    # whose restored partitions were already at their end reads nothing and commits no offsets)
    wait_for("nothing left to read", lambda: _pending(cluster, again) == 0, 900, every_s=2)
    done = completed_checkpoints(cluster, again)
    wait_for("a checkpoint after the last read", lambda: completed_checkpoints(cluster, again) > done, 120)
    stop_draining(cluster, again, tmp_path / "savepoints")
    settled(outcome, s, run.sim, run.started)
