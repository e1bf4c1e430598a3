"""The standalone Flink cluster tests submit the journey job to (deploy/local/cluster.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common.settings import REPO, Settings

CLUSTER_SCRIPT = REPO / "deploy" / "local" / "cluster.py"


@contextmanager
def standalone_cluster() -> Iterator[str]:
    """A JobManager and a TaskManager from PyFlink's own scripts; their REST address. A cluster the
    developer started is left running; one started here is stopped."""
    was_running = subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "status"], capture_output=True)
    subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "up"], check=True)
    try:
        yield f"http://127.0.0.1:{os.environ.get('FLINK_REST_PORT', '8091')}"
    finally:
        if was_running.returncode != 0 and not os.environ.get("JOURNEY_KEEP_STACK"):
            subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "down"], check=False)


def submit_journey(settings: Settings, *args: str) -> str:
    """`flink run -py` of the journey job with these settings (as JOURNEY_* variables); its id."""
    submitted = subprocess.run(
        [sys.executable, str(CLUSTER_SCRIPT), "submit", "journey", *args],
        env={**os.environ, **settings.environment()},
        capture_output=True,
        text=True,
    )
    found = re.search(r"job ([0-9a-f]{32})", submitted.stdout)
    assert found, f"submission failed:\n{submitted.stdout[-3000:]}\n{submitted.stderr[-3000:]}"
    return found.group(1)


def task_manager_pids() -> list[int]:
    """The standalone cluster's TaskManager processes that are alive."""
    out = subprocess.run(
        [sys.executable, str(CLUSTER_SCRIPT), "pids"], capture_output=True, text=True, check=True
    )
    pids: list[int] = json.loads(out.stdout)
    return pids


def start_missing_task_managers() -> None:
    """`cluster.py up`: starts the TaskManagers that are not alive, and nothing else."""
    subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "up"], check=True, capture_output=True)


def rest(url: str, method: str = "GET") -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
        body = r.read()
        return json.loads(body) if body else None


def stop_draining(base: str, job_id: str, folder: Path, timeout_s: float = 300) -> str:
    """Stop the job with a savepoint, draining: the final watermark fires every timer first, as
    the end of a bounded run does. The savepoint's location."""
    request = urllib.request.Request(
        f"{base}/jobs/{job_id}/stop",
        data=json.dumps({"targetDirectory": str(folder), "drain": True}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        trigger = json.loads(r.read())["request-id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = rest(f"{base}/jobs/{job_id}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status["operation"]
            assert "failure-cause" not in operation, operation
            return str(operation["location"])
        time.sleep(1)
    raise AssertionError(f"job {job_id} not stopped in {timeout_s} s")


def wait_until_running(base: str, job_id: str, timeout_s: float = 120) -> None:
    """Until every task of the job runs (its sources have their partitions then)."""
    deadline = time.monotonic() + timeout_s
    while {v["status"] for v in rest(f"{base}/jobs/{job_id}")["vertices"]} != {"RUNNING"}:
        assert time.monotonic() < deadline, f"the tasks of job {job_id} did not start in {timeout_s} s"
        time.sleep(1)


def read_operator_metrics(
    base: str, job_id: str, job: dict[str, Any] | None = None, ending: bool = False
) -> int:
    """Every operator's metric list, as the web UI asks for it (the task managers serialize every
    metric for it, Python ones included); how many answered. `ending`: a vertex of a job that is
    ending may be gone."""
    answered = 0
    for v in (job or rest(f"{base}/jobs/{job_id}"))["vertices"]:
        try:
            answered += bool(rest(f"{base}/jobs/{job_id}/vertices/{v['id']}/metrics"))
        except OSError:
            if not ending:
                raise
    return answered


def wait_until_finished(base: str, job_id: str, timeout_s: float = 300, read_metrics: bool = False) -> int:
    """Until the job finishes. `read_metrics`: meanwhile, every second, read its operators'
    metrics as the web UI does (the task managers serialize every metric for it, Python ones
    included); how many reads listed metrics."""
    deadline = time.monotonic() + timeout_s
    state = "?"
    reads = 0
    while time.monotonic() < deadline:
        job = rest(f"{base}/jobs/{job_id}")
        state = job["state"]
        if state == "FINISHED":
            return reads
        if read_metrics and state == "RUNNING":
            reads += read_operator_metrics(base, job_id, job)
        if state in ("FAILED", "CANCELED"):
            root = rest(f"{base}/jobs/{job_id}/exceptions").get("root-exception", "")
            raise AssertionError(
                f"job {job_id} is {state}: {str(root)[:3000]} (a task manager that crashed leaves "
                "an hs_err_pid*.log in the folder it was started from)"
            )
        time.sleep(1)
    raise AssertionError(f"job {job_id} still {state} after {timeout_s} s")
