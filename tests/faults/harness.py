"""What every fault test shares: a backlog whose right answer is known, a job over it with a
fault in the middle, and the count of what came out against that answer.

The backlog is the benchmark's shop (`benchmarks.workload.shop_backlog`: a catalogue, a CRM
snapshot with consents, an hour of browsing and buying), big enough that the job is still
reading when the fault comes. A clean bounded run of it gives exactly `simulate`'s action ids
(tests/integration/benchmarks/test_journey_job.py), so `simulate` is the clean run each fault is
measured against: **lost** = ids simulate decided that never came out (read `read_committed`),
**doubled** = ids that came out more than once, **extra** = ids simulate never decided.
**Recovery** = seconds from the fault to the job running every task again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchmarks.workload import _Records, shop_backlog
from common.settings import STACK_SCRIPT, Settings
from jobs.simulate import Simulation
from tests.flink_cluster import rest, submit_journey, wait_until_finished
from tests.journey_checks import shop_day_in_kafka
from tests.kafka_helpers import read_committed_avro

#: a fixed hour of shopping: the same records, and the same right answer, every run
T0 = int(datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp() * 1000)
CUSTOMERS, SKUS, EVENTS = 6_000, 1_000, 80_000


@dataclass
class Outcome:
    fault: str
    expected: int
    lost: int = 0
    doubled: int = 0
    extra: int = 0
    recovered: bool = False
    recovery_s: float | None = None
    run_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        recovery = "-" if self.recovery_s is None else f"{self.recovery_s:.1f} s"
        recovered = "yes" if self.recovered else "NO"
        return (
            f"| {self.fault} | {self.expected:,} | {self.lost} | {self.doubled} | {self.extra} | "
            f"{recovered} | {recovery} | {self.run_s:.0f} s | {'; '.join(self.notes)} |"
        )


HEADER = (
    "| fault | actions expected | lost | doubled | extra | recovered | recovery | run | notes |\n"
    "|---|---|---|---|---|---|---|---|---|"
)
#: every outcome of the session, for the summary table (tests/faults/conftest.py)
OUTCOMES: list[Outcome] = []


def as_deployed(settings: Settings) -> Settings:
    """Restarts as a deployed job has them (no limit): the tests' settings cap them so that a
    broken job fails its test, which here would be the fault winning."""
    return settings.model_copy(update={"flink": settings.flink.model_copy(update={"restart_attempts": None})})


def backlog(settings: Settings, unique: Callable[[str], str]) -> tuple[Settings, Simulation]:
    """The shop backlog in topics of the test's own; the settings that name them (restarts as
    deployed) and simulate's run over the same records."""
    records = _Records()
    shop_backlog(records, customers=CUSTOMERS, skus=SKUS, events=EVENTS, t0=T0, zone="Europe/Berlin")
    s, sim = shop_day_in_kafka(settings, unique, records.lines())
    return as_deployed(s), sim


def count(outcome: Outcome, settings: Settings, sim: Simulation, timeout_s: float = 180) -> Outcome:
    """Lost, doubled and extra action ids, every action topic read `read_committed`."""
    want = Counter(a["action_id"] for a in sim.actions)
    expected_by_topic = Counter(settings.topics.actions[a["channel"]] for a in sim.actions)
    got: Counter[str] = Counter()
    for topic in settings.topics.actions.values():
        for a in read_committed_avro(settings, topic, expected_by_topic[topic], timeout_s=timeout_s):
            got[a["action_id"]] += 1
    outcome.lost = sum(1 for i in want if i not in got)
    outcome.doubled = sum(1 for n in got.values() if n > 1)
    outcome.extra = sum(1 for i in got if i not in want)
    return report(outcome)


def report(outcome: Outcome) -> Outcome:
    """Into the session's summary table, and printed now."""
    OUTCOMES.append(outcome)
    print(outcome.row(), flush=True)
    return outcome


def job(base: str, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = rest(f"{base}/jobs/{job_id}")
    return found


def all_running(base: str, job_id: str) -> bool:
    """Every task of the job running (or, near the end of a bounded run, finished)."""
    j = job(base, job_id)
    if j["state"] == "FINISHED":
        return True
    statuses = {v["status"] for v in j["vertices"]}
    return j["state"] == "RUNNING" and "RUNNING" in statuses and statuses <= {"RUNNING", "FINISHED"}


def completed_checkpoints(base: str, job_id: str) -> int:
    return int(rest(f"{base}/jobs/{job_id}/checkpoints")["counts"]["completed"])


def restarts(base: str, job_id: str) -> int:
    found = rest(f"{base}/jobs/{job_id}/metrics?get=numRestarts") or []
    return int(float(found[0]["value"])) if found else 0


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float, every_s: float = 0.25) -> float:
    """Until `condition` holds; the monotonic moment it did."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)
    return time.monotonic()


def mid_run(base: str, job_id: str, timeout_s: float = 180) -> float:
    """Until the job runs every task and has completed two checkpoints: state to lose, and more of
    the backlog still to read."""
    return wait_for(
        f"job {job_id} running with two completed checkpoints",
        lambda: all_running(base, job_id) and completed_checkpoints(base, job_id) >= 2,
        timeout_s,
    )


def recovered_after(base: str, job_id: str, before: int, timeout_s: float = 300) -> float:
    """Until the job has restarted (more than `before` restarts) and runs every task again."""
    return wait_for(
        f"job {job_id} restarted and running",
        lambda: restarts(base, job_id) > before and all_running(base, job_id),
        timeout_s,
    )


def dumps(outcomes: list[Outcome]) -> str:
    return json.dumps([o.__dict__ for o in outcomes], indent=1)


def stack_service(action: str, service: str) -> None:
    """`deploy/local/stack.py up|down <service>`: a service of the local stack stopped or started."""
    subprocess.run([sys.executable, str(STACK_SCRIPT), action, service], check=True, capture_output=True)


def settled(outcome: Outcome, settings: Settings, sim: Simulation, started: float) -> Outcome:
    """The job is through: its run time, what came out counted, and nothing lost, doubled or
    decided anew."""
    outcome.recovered = True
    outcome.run_s = time.monotonic() - started
    count(outcome, settings, sim)
    assert (outcome.lost, outcome.doubled, outcome.extra) == (0, 0, 0), outcome.row()
    return outcome


@dataclass
class ClusterRun:
    """The backlog's bounded job on the standalone cluster, caught in the middle of its run."""

    base: str
    settings: Settings
    sim: Simulation
    outcome: Outcome
    job_id: str
    started: float
    restarts_before: int


def in_mid_run(base: str, settings: Settings, unique: Callable[[str], str], fault: str) -> ClusterRun:
    """The backlog written, its job submitted (bounded, exactly-once) and running with state to
    lose: the moment to inject `fault`."""
    s, sim = backlog(settings, unique)
    outcome = Outcome(fault, len(sim.actions))
    started = time.monotonic()
    job_id = submit_journey(s, "--bounded")
    mid_run(base, job_id)
    return ClusterRun(base, s, sim, outcome, job_id, started, restarts(base, job_id))


def finished(run: ClusterRun) -> Outcome:
    """Until the job has finished; then settled, with its restarts since the fault noted."""
    wait_until_finished(run.base, run.job_id, timeout_s=900)
    run.outcome.notes.append(f"{restarts(run.base, run.job_id) - run.restarts_before} job restart(s)")
    return settled(run.outcome, run.settings, run.sim, run.started)
