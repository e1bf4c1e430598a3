"""What `make bench` measures of a running contender, from outside it: its progress through the
input (its consumer group's commits), what it writes (a read_committed consumer of its outputs),
and the memory of its processes (/proc). Nothing here knows which contender it watches.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.journey_job import read_committed
from common.settings import Settings
from connectors.admin import lag

#: an output record's (topic, value) -> the event id of the input that caused it, if any
Trigger = Callable[[str, bytes], str | None]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command may hold spaces and parentheses: the fields after its last ')' are fixed
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(roots: list[int]) -> float:
    """Resident memory of these processes and every process under them, in MB."""
    kids = _children()
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += kids.get(pid, [])
    return sum(_rss_kb(p) for p in seen) / 1024


class PeakMemory:
    """The highest resident memory of a contender's processes, sampled twice a second."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.peak_mb = 0.0
        self._pids = pids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self._pids()))

    def close(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


class Outputs:
    """A read_committed consumer of a contender's output topics in a thread: how many records,
    when the first and the last came, and, with a `trigger`, when the output caused by each
    input event id was first seen."""

    def __init__(self, settings: Settings, topics: list[str], trigger: Trigger | None = None) -> None:
        self.count = 0
        #: when the first and the last record came, by the wall clock in ms
        self.first_ms = self.last_ms = 0.0
        self.trigger = trigger
        self.caused: dict[str, float] = {}
        self._stop = threading.Event()
        self._consumer = read_committed(settings, topics)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            # a short wait: every record of a batch is stamped when the batch returns
            batch = self._consumer.consume(1000, 0.005)
            if not batch:
                continue
            wall = time.time() * 1000
            self.first_ms = self.first_ms or wall
            self.last_ms = wall
            self.count += len(batch)
            trigger = self.trigger
            if trigger is not None:
                for m in batch:
                    if m.error() is None and (cause := trigger(str(m.topic()), m.value() or b"")):
                        self.caused.setdefault(cause, wall)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


#: no progress for this long and a contender is stalled: its figure is an error, not an hour's wait
STALL_S = 180.0


class Stall:
    """Raises when a count has not moved for `STALL_S` seconds (start-up included)."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total = what, total
        self.seen, self.since = -1, time.monotonic()

    def check(self, n: int) -> None:
        now = time.monotonic()
        if n != self.seen:
            self.seen, self.since = n, now
        elif now - self.since > STALL_S:
            raise RuntimeError(
                f"stalled: {self.what} {n:,} of {self.total:,} records and no more in {STALL_S:.0f} s"
            )


@dataclass
class Throughput:
    events_per_s: float
    records: int
    seconds: float


def throughput(
    settings: Settings,
    outputs: Outputs,
    total: int,
    sentinel: str,
    interval_s: float,
    say: Callable[[str], None],
    alive: Callable[[], bool],
    timeout_s: float = 3_600,
    counted: bool = False,
) -> Throughput:
    """Input records per second over a backlog of `total` records: from the contender's first
    committed progress to the later of its last commit and the output caused by the backlog's
    last record, `sentinel` (`outputs.trigger` must be set). A contender that orders by event
    time acts on the sentinel only after everything before it; one that does not has read
    everything once its commits are through. It commits every `interval_s` (a checkpoint, a
    commit interval): its first commit already holds about that much work, added to the time.

    `counted`: the contender writes one record per input; its progress is its outputs, from the
    first to the `total`-th, which says more than commits a checkpoint apart."""
    if counted:
        return _counted(outputs, total, alive, timeout_s, say)
    topics = settings.topics.inputs()
    first = done_at = 0.0
    deadline = time.monotonic() + timeout_s
    next_say = time.monotonic() + 10
    stall = Stall("read", total)
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the contender did not get through {total:,} records in {timeout_s:.0f} s")
        if not alive():
            raise RuntimeError("the contender stopped before it read the backlog (see its log)")
        done, _ = lag(settings, settings.consumer_group, topics)
        stall.check(done)
        now = time.time()
        first = first or (now if done else 0.0)
        done_at = done_at or (now if done >= total else 0.0)
        if done_at and sentinel in outputs.caused:
            break
        if time.monotonic() >= next_say:
            say(f"    read {done:,} of {total:,}")
            next_say = time.monotonic() + 10
        time.sleep(0.25)
    took = max(done_at, outputs.caused[sentinel] / 1000) - first + interval_s
    return Throughput(total / took, total, took)


def _counted(
    outputs: Outputs, total: int, alive: Callable[[], bool], timeout_s: float, say: Callable[[str], None]
) -> Throughput:
    deadline = time.monotonic() + timeout_s
    next_say = time.monotonic() + 10
    stall = Stall("wrote", total)
    while outputs.count < total:
        stall.check(outputs.count)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the contender wrote {outputs.count:,} of {total:,} records in {timeout_s:.0f} s"
            )
        if not alive():
            raise RuntimeError("the contender stopped before it read the backlog (see its log)")
        if time.monotonic() >= next_say:
            say(f"    wrote {outputs.count:,} of {total:,}")
            next_say = time.monotonic() + 10
        time.sleep(0.1)
    took = (outputs.last_ms - outputs.first_ms) / 1000
    return Throughput(total / took, total, took)


def behind(latencies_ms: list[float], written: int, queued_s: float = 0.0) -> bool:
    """Whether a contender fell behind its offered load: more than 3 s of records still unread
    when the writer stopped (`queued_s`: its consumer group's lag over the offered rate; commits
    a second apart leave about a second of it), probes left without an action, or latencies (in
    the order their causes were written) that rise through the run, the last quarter's median
    over a second and over twice the first quarter's."""
    if queued_s > 3.0 or len(latencies_ms) < written:
        return True
    quarter = len(latencies_ms) // 4
    if quarter < 2:
        return False
    first = statistics.median(latencies_ms[:quarter])
    last = statistics.median(latencies_ms[-quarter:])
    return last > max(1_000.0, 2 * first)


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """(p50, p95, p99); NaN without values."""
    if not values:
        return float("nan"), float("nan"), float("nan")
    if len(values) == 1:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]
