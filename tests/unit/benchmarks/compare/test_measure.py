"""What `make bench` measures from outside a contender: memory of a process tree, percentiles,
a stall."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from benchmarks.compare import measure
from benchmarks.compare.measure import percentiles, tree_rss_mb


def test_the_memory_of_a_tree_includes_its_children() -> None:
    alone = tree_rss_mb([os.getpid()])
    # a child that holds 200 MB until told to go
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            with_child = tree_rss_mb([os.getpid()])
            if with_child > alone + 150:
                break
            subprocess.run([sys.executable, "-c", "import time; time.sleep(0.05)"])
        assert with_child > alone + 150
    finally:
        child.communicate(b"")


def test_percentiles_of_a_known_spread() -> None:
    p50, p95, p99 = percentiles([float(i) for i in range(1, 101)])
    assert [round(v, 2) for v in (p50, p95, p99)] == [50.5, 95.05, 99.01]
    assert percentiles([7.0]) == (7.0, 7.0, 7.0)


def test_a_count_that_stops_moving_is_a_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(measure.time, "monotonic", lambda: now[0])
    stall = measure.Stall("read", 100)
    for n in (0, 10, 10):
        now[0] += 100
        stall.check(n)  # moving, then still within STALL_S of its last move
    now[0] += measure.STALL_S
    with pytest.raises(RuntimeError, match="stalled: read 10 of 100"):
        stall.check(10)


def test_falling_behind_is_rising_latency_or_probes_left_unanswered() -> None:
    steady = [120.0, 90.0, 150.0, 110.0] * 5
    rising = [200.0 + 400 * i for i in range(20)]
    assert not measure.behind(steady, written=len(steady))
    assert measure.behind(rising, written=len(rising))
    assert measure.behind(steady, written=len(steady) + 1)
    # a slow but steady contender (a checkpoint or a commit a second apart) is not behind
    assert not measure.behind([1_200.0, 900.0, 1_500.0, 1_100.0] * 5, written=20)


def test_records_left_unread_when_the_writer_stops_are_falling_behind() -> None:
    steady = [120.0, 90.0, 150.0, 110.0] * 5
    assert not measure.behind(steady, written=20, queued_s=1.2)  # a commit a second apart
    assert measure.behind(steady, written=20, queued_s=4.0)
