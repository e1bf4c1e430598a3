from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from journeyctl.settings import REPO

CLUSTER_SCRIPT = REPO / "deploy" / "local" / "cluster.py"


@pytest.fixture(scope="session")
def flink_cluster() -> Iterator[str]:
    """A standalone Flink cluster (JobManager + TaskManager from PyFlink's own scripts); its REST
    address. A cluster the developer started is left running; one the tests started is stopped."""
    was_running = subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "status"], capture_output=True)
    subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "up"], check=True)
    try:
        yield f"http://127.0.0.1:{os.environ.get('FLINK_REST_PORT', '8091')}"
    finally:
        if was_running.returncode != 0 and not os.environ.get("JOURNEY_KEEP_STACK"):
            subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "down"], check=False)
