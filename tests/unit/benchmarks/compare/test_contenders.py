"""How `make bench` starts and stops a contender's processes."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from benchmarks.compare import contenders
from common.settings import Settings

#: a parent that ends on SIGTERM, and a child of it that ignores SIGTERM: PyFlink's JVM did that
STUBBORN_CHILD = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(120)'])\n"
    "time.sleep(120)\n"
)


def test_stopping_a_contender_ends_every_process_of_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contenders, "STOP_GRACE_S", 1.0)
    log = tmp_path / "contender.log"
    running = contenders.process([sys.executable, "-c", STUBBORN_CHILD], Settings(), log)
    [leader] = running.pids()
    deadline = time.monotonic() + 20
    while not log.read_text() and time.monotonic() < deadline:  # the child is up
        time.sleep(0.05)
    assert log.read_text(), "the child never started"

    running.stop()

    with pytest.raises(ProcessLookupError):
        os.killpg(leader, 0)
