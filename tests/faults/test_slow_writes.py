"""Actions written slower than the job makes them: the broker throttles every producer (a Kafka
produce quota), as a loaded or remote broker would.

The job (standalone cluster, exactly-once) must slow down rather than pile records up:
back-pressure from its sink reaches its sources (Flink reports the sources back-pressured), its
TaskManagers' memory stays bounded by their configured size, and nothing is lost or doubled.
A channel service that reads slowly is no such fault: Kafka keeps what it has not read, and the
job never sees it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from common.settings import Settings
from tests.faults.harness import Outcome, backlog, settled
from tests.flink_cluster import rest, submit_journey, task_manager_pids, wait_until_finished
from tests.stack import stack_module

pytestmark = pytest.mark.faults
#: bytes per second each producer may write
QUOTA = 300_000
#: taskmanager.memory.process.size of deploy/local/cluster.py, plus the embedded interpreter
TASK_MANAGER_BOUND_MB = 2_048 + 512


@contextmanager
def produce_quota(bootstrap: str, bytes_per_s: int) -> Iterator[None]:
    local = stack_module()
    command = [
        str(local.find_java(17)),
        "-cp",
        str(local.KAFKA_LIBS / "*"),
        "kafka.admin.ConfigCommand",
        "--bootstrap-server",
        bootstrap,
        "--alter",
        "--entity-type",
        "clients",
        "--entity-default",
    ]
    subprocess.run(
        [*command, "--add-config", f"producer_byte_rate={bytes_per_s}"], check=True, capture_output=True
    )
    try:
        yield
    finally:
        subprocess.run([*command, "--delete-config", "producer_byte_rate"], check=True, capture_output=True)


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_writes_throttled_by_the_broker_slow_the_job_down_and_lose_nothing(
    flink_cluster: str, settings: Settings, unique: Callable[[str], str]
) -> None:
    s, sim = backlog(settings, unique)
    outcome = Outcome(f"every producer throttled to {QUOTA // 1000} kB/s by the broker", len(sim.actions))
    peak: dict[int, float] = {}
    levels: set[str] = set()
    stop = threading.Event()
    started = time.monotonic()
    with produce_quota(s.kafka.bootstrap_servers, QUOTA):
        job_id = submit_journey(s, "--bounded")

        def watch() -> None:
            while not stop.is_set():
                for pid in task_manager_pids():
                    peak[pid] = max(peak.get(pid, 0.0), _rss_mb(pid))
                try:
                    for v in rest(f"{flink_cluster}/jobs/{job_id}")["vertices"]:
                        if v["name"].startswith("Source"):
                            found = rest(f"{flink_cluster}/jobs/{job_id}/vertices/{v['id']}/backpressure")
                            levels.add(str(found.get("backpressureLevel")))
                except OSError:
                    pass
                time.sleep(1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            wait_until_finished(flink_cluster, job_id, timeout_s=1_200)
        finally:
            stop.set()
            watcher.join()
    outcome.notes.append(
        f"sources back-pressure levels seen: {', '.join(sorted(levels))}; TaskManager RSS "
        f"peak {', '.join(f'{m:,.0f}' for m in peak.values())} MB"
    )
    settled(outcome, s, sim, started)
    # "low" or "high": Flink saw the sources wait for the tasks after them (the sink's producer
    # absorbs the first 32 MB, so it blocks mostly while flushing at checkpoints)
    assert levels - {"ok", "None"}, f"the sources never waited ({levels}): the throttle did not bite"
    assert peak and max(peak.values()) < TASK_MANAGER_BOUND_MB, peak
