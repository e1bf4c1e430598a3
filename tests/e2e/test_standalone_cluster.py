"""The journey job on a real standalone Flink cluster: a JobManager and a TaskManager started by
the PyFlink distribution's scripts (deploy/local/cluster.py), the job submitted with
`flink run -py` at parallelism 2, its settings passed through the environment as a deployment
would pass them. It must give exactly what `simulate` decides over the recorded shop day.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from journeyctl.settings import REPO, Settings
from tests.journey_checks import assert_cart_paths, assert_same_decisions, read_outputs, shop_day_in_kafka

pytestmark = pytest.mark.e2e
SCRIPT = REPO / "deploy" / "local" / "cluster.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_cluster", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster() -> Iterator[ModuleType]:
    """The cluster, started for these tests and stopped after them (left alone if it was up)."""
    c = _module()
    was_up = c.ready()
    subprocess.run([sys.executable, str(SCRIPT), "up"], check=True)
    yield c
    if not was_up and not os.environ.get("JOURNEY_KEEP_STACK"):
        subprocess.run([sys.executable, str(SCRIPT), "down"], check=False)


def _wait_for(c: ModuleType, job_id: str, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        job: dict[str, Any] = c.rest(f"/jobs/{job_id}") or {}
        state = job.get("state", state)
        if state in ("FINISHED", "FAILED", "CANCELED"):
            break
        time.sleep(1)
    if state != "FINISHED":
        exceptions = c.rest(f"/jobs/{job_id}/exceptions") or {}
        root = str(exceptions.get("root-exception", ""))[:3000]
        raise AssertionError(f"job {job_id} ended {state}; logs in {c.LOGS}\n{root}")
    return state


def test_the_journey_job_on_a_standalone_cluster_gives_what_simulate_gives(
    cluster: ModuleType, settings: Settings, unique: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    s, sim = shop_day_in_kafka(settings, unique)

    # what a deployment sets: the job reads its settings from JOURNEY_* variables
    for name, value in {
        "JOURNEY_TOPICS": s.topics.model_dump_json(),
        "JOURNEY_KAFKA__BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
        "JOURNEY_REGISTRY__URL": s.registry.url,
        "JOURNEY_CONSUMER_GROUP": s.consumer_group,
        "JOURNEY_SINK__TRANSACTIONAL_ID_PREFIX": s.sink.transactional_id_prefix,
        "JOURNEY_FLINK": json.dumps({"parallelism": 2, "checkpoint_dir": s.flink.checkpoint_dir}),
    }.items():
        monkeypatch.setenv(name, value)
    job_id = cluster.submit("journey", ["--bounded"])
    assert _wait_for(cluster, job_id) == "FINISHED"
    vertices = (cluster.rest(f"/jobs/{job_id}") or {})["vertices"]
    assert {v["parallelism"] for v in vertices} == {2}

    actions, events = read_outputs(s, sim.actions, sim.journey_events)
    assert_same_decisions(actions, events, sim.actions, sim.journey_events)
    assert_cart_paths(actions, events)
