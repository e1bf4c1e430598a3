"""The journey job on a real standalone Flink cluster, submitted with `flink run -py`.

The cluster is a JobManager and a TaskManager (2 slots) started from the PyFlink distribution's
own scripts (deploy/local/cluster.py); the job runs at parallelism 2 over the recorded shop day
in Kafka, its settings passed as `JOURNEY_*` variables to the submitting client. What it writes,
read `read_committed`, must be exactly what `simulate` decides, and the cart paths those of
SCENARIOS.md section 1.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from journeyctl.settings import Settings
from tests.e2e.conftest import CLUSTER_SCRIPT
from tests.journey_checks import assert_cart_paths, assert_same_decisions, read_outputs, shop_day_in_kafka

pytestmark = pytest.mark.e2e


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _wait_until_finished(rest: str, job_id: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    state = "?"
    while time.monotonic() < deadline:
        state = _get(f"{rest}/jobs/{job_id}")["state"]
        if state == "FINISHED":
            return
        if state in ("FAILED", "CANCELED"):
            root = _get(f"{rest}/jobs/{job_id}/exceptions").get("root-exception", "")
            raise AssertionError(f"job {job_id} is {state}: {str(root)[:3000]}")
        time.sleep(1)
    raise AssertionError(f"job {job_id} still {state} after {timeout_s} s")


def test_the_journey_job_submitted_to_a_standalone_cluster_gives_what_simulate_gives(
    flink_cluster: str, settings: Settings, unique: Callable[[str], str]
) -> None:
    s, sim = shop_day_in_kafka(settings, unique)
    assert s.flink.parallelism == 2
    submitted = subprocess.run(
        [sys.executable, str(CLUSTER_SCRIPT), "submit", "journey", "--bounded"],
        env={**os.environ, **s.environment()},
        capture_output=True,
        text=True,
    )
    found = re.search(r"job ([0-9a-f]{32})", submitted.stdout)
    assert found, f"submission failed:\n{submitted.stdout[-3000:]}\n{submitted.stderr[-3000:]}"
    job_id = found.group(1)
    job = _get(f"{flink_cluster}/jobs/{job_id}")
    assert {v["parallelism"] for v in job["vertices"]} == {2}, "every operator runs at parallelism 2"

    _wait_until_finished(flink_cluster, job_id)
    actions, events = read_outputs(s, sim.actions, sim.journey_events)
    assert_same_decisions(actions, events, sim.actions, sim.journey_events)
    assert_cart_paths(actions, events)
