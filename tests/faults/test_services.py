"""The services around the job failing under it: the broker killed and back, the registry down
at the job's start and during its run.

The broker: `kill -9` while the job (standalone cluster, exactly-once) reads its backlog, back
10 s later; the job rides it out or restarts from its checkpoint. The registry: stopped before
the job is built, it is asked again until it is back (the job registers its output schemas
when it is built); stopped while the job runs, nothing changes (the schemas' ids are in the
job graph, the Avro written in the JVM).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from common.settings import Settings
from jobs.environment import create_environment
from jobs.journey import build_pipeline, kafka_connectors
from tests.faults.harness import (
    Outcome,
    backlog,
    completed_checkpoints,
    finished,
    in_mid_run,
    job,
    settled,
    stack_service,
    wait_for,
)
from tests.stack import stack_module

pytestmark = pytest.mark.faults


def test_the_broker_killed_and_back(
    flink_cluster: str, settings: Settings, unique: Callable[[str], str]
) -> None:
    run = in_mid_run(flink_cluster, settings, unique, "broker kill -9, back 10 s later")
    pid = stack_module().SERVICES["kafka"].pid()
    assert pid, "the broker runs"
    os.kill(pid, signal.SIGKILL)
    fault = time.monotonic()
    time.sleep(10)
    stack_service("up", "kafka")
    back = time.monotonic()
    done = completed_checkpoints(flink_cluster, run.job_id)
    resumed = wait_for(
        "a checkpoint completed after the broker came back",
        lambda: (
            job(flink_cluster, run.job_id)["state"] == "FINISHED"
            or completed_checkpoints(flink_cluster, run.job_id) > done
        ),
        300,
    )
    run.outcome.recovery_s = resumed - fault
    run.outcome.notes.append(
        f"broker away {back - fault:.0f} s (its restart and log recovery included); "
        "recovery = to the first checkpoint after"
    )
    finished(run)


def test_the_registry_down_when_the_job_starts_and_while_it_runs(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    s, sim = backlog(settings, unique)
    outcome = Outcome("registry down at the start (back 15 s later) and again mid-run", len(sim.actions))
    started = time.monotonic()
    stack_service("down", "registry")
    try:
        built: list[BaseException | None] = []
        env = create_environment(s)

        def build() -> None:
            try:
                sources, sinks = kafka_connectors(s, bounded=True)
                build_pipeline(env, sources, sinks, s)
                built.append(None)
            except BaseException as e:  # handed to the test thread
                built.append(e)

        builder = threading.Thread(target=build)
        builder.start()
        time.sleep(15)
        assert not built, f"the job was built without a registry: {built}"
        back = time.monotonic()
        stack_service("up", "registry")
        builder.join(120)
        assert built == [None], f"building the job once the registry was back: {built}"
        outcome.recovery_s = time.monotonic() - back
        client = env.execute_async("journey-registry-down")
        time.sleep(5)
        stack_service("down", "registry")  # mid-run: the job needs it no more
        client.get_job_execution_result().result()
    finally:
        stack_service("up", "registry")
    outcome.notes.append("recovery = from the registry back to the job built")
    settled(outcome, s, sim, started)
