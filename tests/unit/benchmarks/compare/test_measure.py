"""What `make bench` measures from outside a contender: memory of a process tree, percentiles."""

from __future__ import annotations

import os
import subprocess
import sys

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
