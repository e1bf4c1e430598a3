"""The journey job end to end (`journeyctl bench job`, `make bench-job`): Kafka in, the job,
Kafka out, against the local stack. Each figure from a job of its own; printed beside its target
(issue 14). Nothing here asserts: the figures are printed, CI does not time.

1. **Throughput.** A backlog is written once: a catalogue of `skus` SKUs in 50 categories with
   stock, a CRM snapshot of `customers` customers with consents, an hour of browsing sessions
   over them (views, adds to cart, checkouts, orders) and, last, the sentinel's tier upgrade.
   Each contestant reads all of it from its own consumer group into outputs of its own, as fast
   as it can: the job on the embedded MiniCluster, the job on the standalone cluster (two
   TaskManagers of one slot each, `deploy/local/cluster.py`), and the plain-Python baseline
   (`benchmarks.baseline`: simulate's engine and catalogue, confluent-kafka, no durability).
   events/s = records / seconds from the first progress to the sentinel's action.
2. **State per customer** over that workload: the journey stage's bytes (`journeys.codec`, what
   its value state holds) per customer, average and largest, from the baseline's states; and
   the standalone cluster's last checkpoint (every operator's state, the SKU and ordering
   stages' included) per customer.
3. **Latency** from a CDC change to the action it causes: loyalty tier upgrades (each acted on at
   once) written at a steady rate, stamped when written; latency = when a `read_committed`
   consumer sees the action - when the change was written, after a warm-up at the same rate.
   At-least-once and exactly-once (checkpoints every second) with 100 ms out-of-orderness, and
   with the defaults (exactly-once, 2 s out-of-orderness).
   The same from a database commit, Debezium's leg included: `benchmarks.from_database`.
4. **Start-up**: from handing the job to Flink to its first action on live input (a tier upgrade
   written every 20 ms from the start).
5. **Timer lateness** with many pending waits: `waits` carts enter a benchmark journey that waits
   a fixed time, their due moments spread over `spread_s`, beginning after the last one entered;
   lateness = when the action is seen - its due moment; and the firing rate sustained.
   At-least-once with 100 ms out-of-orderness, as the latency's target: the defaults add their
   2 s of out-of-orderness and the checkpoint commit to every firing.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from confluent_kafka import Consumer

from benchmarks.workload import SENTINEL, _crm, _customer, _Writer, shop_backlog
from common.clock import daytime_zone
from common.settings import REPO, DeliveryMode, Settings
from connectors.admin import ensure_topics, lag
from connectors.readback import output_decoder
from journeys.loader import DEFINITIONS

MINICLUSTER, CLUSTER, BASELINE = "minicluster", "cluster", "baseline"
CLUSTER_SCRIPT = REPO / "deploy" / "local" / "cluster.py"
#: issue 14's targets
TARGETS = {
    CLUSTER: 8_000,
    MINICLUSTER: 5_000,
    "x baseline": 2.0,
    "p99 at-least-once ms": 250,
    "p99 exactly-once margin ms": 250,
    "p99 from commit ms": 1_000,
    "start to first action ms": 5_000,
    "timer lateness p99 ms": 1_000,
    "state bytes per customer": 1_024,
}
#: seconds of changes written before the latency is measured, at the same rate
WARM_UP_S = 2
BENCH_WAIT = """\
# benchmarks.journey_job: a wait of a fixed time, then a transactional action (no consent,
# cap or quiet hours in the way), so that its lateness is the timer's alone.
id: bench_timer
version: 1
name: Benchmark timer
entry:
  click: Cart Viewed
  require: [cart_id]
key: cart
reentry: {policy: once_per_key}
steps:
  - id: wait
    wait: {for: WAIT}
  - id: ping
    actions:
      - type: bench_ping
        purpose: transactional
        channel: email
        reason: benchmark timer
    next: done
  - id: done
    exit: done
"""


@dataclass
class _Run:
    settings: Settings
    cancel: Callable[[], Any]
    #: when the job was handed to Flink (epoch ms, the clock `_Watcher` stamps actions with)
    started: float
    #: the standalone cluster's id of the job
    job_id: str | None = None


def cluster_rest(path: str, method: str = "GET") -> Any:
    """The standalone cluster's REST API: the answer to `path`, as JSON (None if empty)."""
    url = f"http://127.0.0.1:{os.environ.get('FLINK_REST_PORT', '8091')}{path}"
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
        body = r.read()
        return json.loads(body) if body else None


def submit_to_cluster(settings: Settings) -> str:
    """The journey job submitted to the standalone cluster with these settings; its job id."""
    done = subprocess.run(
        [sys.executable, str(CLUSTER_SCRIPT), "submit", "journey"],
        env={**os.environ, **settings.environment()},
        capture_output=True,
        text=True,
    )
    found = re.search(r"job ([0-9a-f]{32})", done.stdout)
    if not found:
        raise RuntimeError(
            f"submission to the standalone cluster failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return found.group(1)


def read_committed(settings: Settings, topics: list[str]) -> Consumer:
    """A consumer of `topics` from their start in a group of its own, as a channel service reads."""
    consumer = Consumer(
        {
            **settings.kafka.librdkafka_properties(),
            "group.id": f"bench-watch-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    return consumer


@contextmanager
def _job(settings: Settings, where: str = MINICLUSTER) -> Iterator[_Run]:
    """The journey job, unbounded, on a MiniCluster in this process or submitted to the
    standalone cluster (`deploy/local/cluster.py`); cancelled on leaving."""
    started = time.time() * 1000
    if where == MINICLUSTER:
        from jobs.environment import create_environment
        from jobs.journey import build_pipeline, kafka_connectors

        env = create_environment(settings)
        sources, sinks = kafka_connectors(settings, bounded=False)
        build_pipeline(env, sources, sinks, settings)
        client = env.execute_async("journey-bench")
        run = _Run(settings, lambda: client.cancel().result(), started)
    else:
        job_id = submit_to_cluster(settings)
        run = _Run(settings, lambda: cluster_rest(f"/jobs/{job_id}?mode=cancel", "PATCH"), started, job_id)
    try:
        yield run
    finally:
        run.cancel()


def outputs_of_their_own(s: Settings, run: str, folder: Path, **flink: Any) -> Settings:
    """The same input topics; outputs, consumer group, transactions and checkpoints of one run."""
    t = s.topics
    topics = t.model_copy(
        update={
            "journey_events": f"{t.journey_events}-{run}",
            "dead_letter": f"{t.dead_letter}-{run}",
            "actions": {ch: f"{name}-{run}" for ch, name in t.actions.items()},
        }
    )
    r = s.model_copy(
        update={
            "topics": topics,
            "consumer_group": f"{s.consumer_group}-{run}",
            "sink": s.sink.model_copy(
                update={"transactional_id_prefix": f"{s.sink.transactional_id_prefix}-{run}"}
            ),
            "flink": s.flink.model_copy(
                update={"checkpoint_dir": str(folder / f"checkpoints-{run}"), **flink}
            ),
        }
    )
    ensure_topics(r, r.topics.outputs())
    return r


def _settings(
    base: Settings,
    folder: Path,
    own_cdc: bool = True,
    rename: Callable[[str], str] | None = None,
    **journeys: Any,
) -> Settings:
    """Topics, consumer group, transactions and checkpoints of a run of its own; without
    `own_cdc`, the CDC topics stay the connectors' (a run that changes the databases). Topics
    are `bench-<run>-<topic>` unless `rename` names them."""
    run = uuid.uuid4().hex[:8]
    topics = base.topics.renamed(rename or (lambda t: f"bench-{run}-{t}"))
    if not own_cdc:
        topics = topics.model_copy(update={"cdc": base.topics.cdc})
    s = base.model_copy(
        update={
            "topics": topics,
            "consumer_group": f"bench-{run}",
            "sink": base.sink.model_copy(update={"transactional_id_prefix": f"bench-{run}"}),
            "flink": base.flink.model_copy(update={"checkpoint_dir": str(folder / f"checkpoints-{run}")}),
            "journeys": base.journeys.model_copy(update=journeys),
        }
    )
    ensure_topics(s, [*s.topics.inputs(), *s.topics.outputs()])
    return s


def _wait_read(
    settings: Settings, expected: int, timeout_s: float, say: Callable[[str], None]
) -> tuple[float, float]:
    """Until the job has committed `expected` input records; (first, last) moment of progress."""
    topics = settings.topics.inputs()
    first = last = 0.0
    seen = 0
    deadline = time.monotonic() + timeout_s
    next_say = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, _ = lag(settings, settings.consumer_group, topics)
        now = time.monotonic()
        if done > seen:
            first = first or now
            last, seen = now, done
        if now >= next_say:
            say(f"    read {seen:,} of {expected:,}")
            next_say = now + 10
        if seen >= expected:
            return first, last
        time.sleep(0.25)
    raise RuntimeError(f"the job read {seen:,} of {expected:,} records in {timeout_s:.0f} s")


class _Watcher:
    """A read_committed consumer of the action topics in a thread: when each action was seen."""

    def __init__(self, settings: Settings, keep: bool = False) -> None:
        self.seen: list[tuple[float, bytes]] = []
        #: with `keep`: (topic, value) of each record in `seen`, to decode once the run is over
        self.values: list[tuple[str, bytes]] | None = [] if keep else None
        self._stop = threading.Event()
        self._consumer = read_committed(settings, list(settings.topics.actions.values()))
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            # A batch returns when full or when its timeout is over, and every action in it is
            # stamped then: at a few hundred actions/s a 100 ms timeout added up to 100 ms
            # (50 on average) to each latency measured. 5 ms keeps the stamp within 5 ms.
            for m in self._consumer.consume(1000, 0.005):
                if m.error() is None:
                    self.seen.append((time.time() * 1000, m.key() or b""))
                    if self.values is not None:
                        self.values.append((str(m.topic()), m.value() or b""))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


def acted_on(watcher: _Watcher, sent: dict[bytes, float], timeout_s: float = 60) -> list[float]:
    """Ms from each change `sent` (by customer) to the first action for that customer, once all
    are seen or `timeout_s` has passed; the watcher is closed."""
    deadline = time.monotonic() + timeout_s
    while len({k for _, k in watcher.seen} & sent.keys()) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.2)
    watcher.close()
    first_seen: dict[bytes, float] = {}
    for at, key in watcher.seen:
        first_seen.setdefault(key, at)
    return [first_seen[k] - sent[k] for k in sent if k in first_seen]


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return float("nan"), float("nan"), float("nan")
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return q[49], q[98], max(values)


@dataclass
class Throughput:
    rates: dict[str, float]
    #: the journey stage's state per customer (codec bytes), from the baseline's states
    state_bytes: list[int]
    #: the standalone cluster's last checkpoint, bytes per customer
    checkpoint_per_customer: float | None = None


def _job_throughput(
    r: Settings, where: str, total: int, customers: int, say: Callable[[str], None]
) -> tuple[float, float | None]:
    per_customer = None
    with _job(r, where) as run:
        watcher = _Watcher(r)
        first, _ = _wait_read(r, total, timeout_s=3_600, say=say)
        deadline = time.monotonic() + 3_600
        while not any(k == SENTINEL.encode() for _, k in watcher.seen) and time.monotonic() < deadline:
            time.sleep(0.2)
        done = time.monotonic()
        watcher.close()
        if run.job_id:
            time.sleep(r.flink.checkpoint_interval_ms / 1000 * 3)  # a checkpoint after the last record
            with suppress(Exception):
                latest = cluster_rest(f"/jobs/{run.job_id}/checkpoints")["latest"]["completed"]
                per_customer = latest["state_size"] / customers
    # offsets are committed with checkpoints: the first commit already holds one interval's records
    took = done - first + r.flink.checkpoint_interval_ms / 1000
    rate = total / took
    say(f"  {where}: {rate:,.0f} events/s ({total:,} records in, every one applied, in {took:.1f} s)")
    return rate, per_customer


def throughput(
    base: Settings,
    folder: Path,
    customers: int,
    skus: int,
    events: int,
    contestants: tuple[str, ...],
    say: Callable[[str], None],
) -> Throughput:
    from benchmarks.baseline import baseline_throughput

    s = _settings(base, folder)
    w = _Writer(s)
    t0 = int(time.time() * 1000) - 3_600_000  # an hour of history, replayed as fast as it reads
    say(f"  writing the backlog: {skus:,} SKUs, {customers:,} customers, {events:,} clicks and orders")
    shop_backlog(w, customers, skus, events, t0, daytime_zone())
    w.flush()
    total = w.n
    say(f"  {total:,} records in Kafka")
    out = Throughput({}, [])
    for name in contestants:
        say(f"  {name}: reading the backlog")
        r = outputs_of_their_own(s, name, folder)
        if name == BASELINE:
            out.rates[name], out.state_bytes = baseline_throughput(r, total, SENTINEL, say)
        else:
            out.rates[name], per_customer = _job_throughput(r, name, total, customers, say)
            out.checkpoint_per_customer = per_customer or out.checkpoint_per_customer
    return out


def paced(count: int, rate: float) -> Iterator[int]:
    """0 .. count-1, each handed out no sooner than `i / rate` seconds after the first: a steady
    offered load that does not drift with the time the caller takes."""
    start = time.monotonic()
    for i in range(count):
        if (ahead := start + i / rate - time.monotonic()) > 0:
            time.sleep(ahead)
        yield i


def _tier_upgrades(
    w: _Writer,
    zone: str,
    customers: int,
    rate: float,
    stop: threading.Event | None = None,
    first: int = 0,
) -> dict[bytes, float]:
    """A tier upgrade of customers c-`first`, c-`first`+1, ... at `rate` per second, each stamped
    when written; when each was written (ms) by customer."""
    sent: dict[bytes, float] = {}
    for i in paced(customers, rate):
        if stop is not None and stop.is_set():
            break
        ts = int(time.time() * 1000)
        cid = f"c-{first + i}"
        w.change(ts, "crm.customers", "u", _customer(cid, zone, "gold"), before=_customer(cid, zone))
        sent[cid.encode()] = ts
    w.flush()
    return sent


def latency(
    base: Settings,
    folder: Path,
    rate: int,
    seconds: int,
    where: str,
    say: Callable[[str], None],
    **journeys: Any,
) -> tuple[float, float, float]:
    s = _settings(base, folder, **journeys)
    zone = daytime_zone()
    customers = rate * seconds
    warm_up = rate * WARM_UP_S
    w = _Writer(s, linger_ms=0)
    _crm(w, warm_up + customers, int(time.time() * 1000) - 60_000, zone)
    w.flush()
    with _job(s, where):
        _wait_read(s, w.n, timeout_s=600, say=say)
        # The snapshot is stamped a minute back, and a partition that has just delivered runs on
        # from its newest record by wall time: journey time stays a minute behind until those
        # partitions have been quiet for `idle_ms` and follow the live ones. Changes written
        # before then would wait for it: a start-up effect of this backlog.
        watcher = _Watcher(s)  # joined its group by the time the first action comes
        time.sleep(s.journeys.idle_ms / 1000 + 1)
        # The first changes after a quiet spell come out up to 100 ms slower (cold paths, idle
        # connections); the steady offered load is what is measured, after a warm-up.
        _tier_upgrades(w, zone, warm_up, rate, first=customers)
        sent = _tier_upgrades(w, zone, customers, rate)
        lat = acted_on(watcher, sent)
    p50, p99, top = _percentiles(lat)
    say(
        f"  latency change -> action ({where}, {s.sink.delivery.value}, out-of-orderness "
        f"{s.journeys.out_of_orderness_ms} ms): p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {top:.0f} ms "
        f"({len(lat):,} of {customers:,} changes acted on, {rate}/s)"
    )
    return p50, p99, top


def startup(base: Settings, folder: Path, where: str, say: Callable[[str], None]) -> float:
    """Ms from handing the job to Flink to its first action, with live input from the start."""
    s = _settings(base, folder)
    zone = daytime_zone()
    w = _Writer(s)
    customers = 3_000
    _crm(w, customers, int(time.time() * 1000) - 60_000, zone)
    w.flush()
    watcher = _Watcher(s)
    stop = threading.Event()
    with _job(s, where) as run:
        writer = threading.Thread(target=_tier_upgrades, args=(w, zone, customers, 50, stop), daemon=True)
        writer.start()
        deadline = time.monotonic() + 120
        while not watcher.seen and time.monotonic() < deadline:
            time.sleep(0.05)
        first = watcher.seen[0][0] if watcher.seen else float("nan")
        stop.set()
        writer.join()
    watcher.close()
    took = first - run.started
    say(
        f"  start-up ({where}, {s.sink.delivery.value}): "
        f"first action {took:,.0f} ms after the job was handed to Flink"
    )
    return took


def timers(
    base: Settings,
    folder: Path,
    waits: int,
    where: str,
    say: Callable[[str], None],
    spread_s: int = 60,
    wait_s: int | None = None,
    customers: int | None = None,
    runner: Callable[[Settings], Any] | None = None,
    **journeys: Any,
) -> tuple[float, float, float, float]:
    """(p50, p99, max lateness in ms, highest firing rate over 10 s). `runner` makes a context
    in which something other than the job does the work (`make bench`'s peers); by default the
    job runs `where`."""
    # every entry must be in state before the first wait is due, or the time left reading them
    # counts as lateness: allow 1,500 records/s (the CRM rows and the entries) on top of the
    # spread the entries are stamped over. At 2,000/s a million waits came due while the job,
    # reading 2,400/s with pauses, had 1 % of its backlog left (2026-12-07)
    customers = customers or min(waits, 100_000)
    wait_s = wait_s or spread_s + 120 + (customers + waits) // 1_500
    definitions = folder / "bench-definitions"
    definitions.mkdir(exist_ok=True)
    for f in DEFINITIONS.glob("*.yaml"):
        (definitions / f.name).write_text(f.read_text())
    (definitions / "bench_timer.yaml").write_text(BENCH_WAIT.replace("WAIT", f"{wait_s}s"))
    s = _settings(base, folder, definitions=str(definitions), **journeys)
    zone = daytime_zone()
    w = _Writer(s)
    start = int(time.time() * 1000)
    spread = spread_s * 1000
    _crm(w, customers, start - spread - 60_000, zone)
    # entries stamped over the spread before now (never ahead of the clock: journey time would
    # follow), so that their due moments spread over as long
    entered = [start - spread + i * spread // waits for i in range(waits)]
    for i, ts in enumerate(entered):
        w.click(ts, f"c-{i % customers}", "Cart Viewed", cart_id=f"bench-{i}")
    w.flush()
    due_from = entered[0] + wait_s * 1000
    say(
        f"  {waits:,} waits entering; due from {(due_from - time.time() * 1000) / 1000:.0f} s on, "
        f"over {spread_s} s"
    )
    with _job(s, where) if runner is None else runner(s):
        watcher = _Watcher(s, keep=True)
        _wait_read(s, w.n, timeout_s=wait_s + 600, say=say)
        pending_before_due = time.time() * 1000 < due_from
        # Journey time follows a partition's newest event plus the wall time since it arrived:
        # the entries (stamped up to the moment they were written) arrived minutes late, behind
        # the backlog, and would hold journey time that far behind the clock. A click stamped
        # now on every partition, arriving at once, sets it to the clock, as live input would.
        for k in range(16):
            w.click(int(time.time() * 1000), f"bench-clock-{k}", "Page Viewed")
        w.flush()
        deadline = time.monotonic() + wait_s + spread_s + 600
        while len(watcher.seen) < waits and time.monotonic() < deadline:
            time.sleep(0.5)
        watcher.close()
    assert watcher.values is not None
    decode = output_decoder(s)
    late: list[float] = []
    per_second: dict[int, int] = {}
    #: by the minute its waits were due in: lateness, how much of it was the decision's moment
    #: (journey time behind), and how much the way out (the action written and read after it)
    by_minute: dict[int, tuple[list[float], list[float], list[float]]] = {}
    for (at, _), (topic, value) in zip(watcher.seen, watcher.values, strict=True):
        per_second[int(at // 1000)] = per_second.get(int(at // 1000), 0) + 1
        action = decode(topic, value)
        cart = (action.get("attributes") or {}).get("cart_id") or ""
        if not cart.startswith("bench-"):
            continue
        when = entered[int(cart.removeprefix("bench-"))] + wait_s * 1000
        late.append(at - when)
        decided = action["decided_at"]
        decided_ms = decided if isinstance(decided, int) else int(decided.timestamp() * 1000)
        rows = by_minute.setdefault((when - due_from) // 60_000, ([], [], []))
        rows[0].append(at - when)
        rows[1].append(decided_ms - when)
        rows[2].append(at - decided_ms)
    rate = max((sum(per_second.get(t, 0) for t in range(t0, t0 + 10)) / 10 for t0 in per_second), default=0.0)
    p50, p99, top = _percentiles(late)
    for minute, (values, decided, out) in sorted(by_minute.items()):
        m50, m99, mtop = _percentiles(values)
        d50, d99, _ = _percentiles(decided)
        o50, o99, _ = _percentiles(out)
        say(
            f"    due in minute {minute:>3}: {len(values):>7,} fired, "
            f"p50 {m50:,.0f} ms, p99 {m99:,.0f} ms, max {mtop:,.0f} ms "
            f"(decided after due p50 {d50:,.0f} / p99 {d99:,.0f} ms, "
            f"then out p50 {o50:,.0f} / p99 {o99:,.0f} ms)"
        )
    # with a runner, something other than the job fired them: the job's settings say nothing
    how = (
        ""
        if runner is not None
        else f" ({where}, {s.sink.delivery.value}, out-of-orderness {s.journeys.out_of_orderness_ms} ms)"
    )
    say(
        f"  timer lateness{how}: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {top:.0f} ms "
        f"({len(late):,} of {waits:,} waits fired, at up to {rate:,.0f}/s over 10 s; "
        f"all were in state before the first came due: {'yes' if pending_before_due else 'NO'})"
    )
    return p50, p99, top, rate


FIGURES = ("throughput", "latency", "commit", "startup", "timers")
WHERE = (MINICLUSTER, CLUSTER)


def _cluster_up(say: Callable[[str], None]) -> bool:
    """Start the standalone cluster unless it runs; whether this started it."""
    running = (
        subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "status"], capture_output=True).returncode == 0
    )
    if not running:
        say("  starting the standalone cluster (deploy/local/cluster.py up)")
        subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "up"], check=True, capture_output=True)
    return not running


def main(
    customers: int = 100_000,
    skus: int = 10_000,
    events: int = 60_000,
    waits: int = 1_000_000,
    figures: tuple[str, ...] = FIGURES,
    where: tuple[str, ...] = WHERE,
    spread_s: int = 1_800,
    wait_s: int | None = None,
    baseline: bool = True,
) -> int:
    def say(text: str) -> None:
        print(text, flush=True)

    base = Settings()
    say(
        f"journey job at parallelism {base.flink.parallelism} on {' and '.join(where)}, "
        "local Kafka and registry"
    )
    summary: list[str] = []

    def row(name: str, value: float, target: str, unit: str = "") -> None:
        summary.append(f"  {name:<44} {value:>12,.0f}{unit:<3} {target}")

    started_cluster = CLUSTER in where and _cluster_up(say)
    try:
        with TemporaryDirectory(prefix="journey-bench-") as tmp:
            folder = Path(tmp)
            if "throughput" in figures:
                contestants = (*where, *((BASELINE,) if baseline else ()))
                t = throughput(base, folder, customers, skus, events, contestants, say)
                for name, rate in t.rates.items():
                    goal = f"(target {TARGETS[name]:,})" if name in TARGETS else ""
                    row(f"events/s, {name}", rate, goal)
                if BASELINE in t.rates:
                    for name in where:
                        if name in t.rates:
                            summary.append(
                                f"  {name} / baseline {t.rates[name] / t.rates[BASELINE]:>39.2f}x    "
                                f"(target {TARGETS['x baseline']}x)"
                            )
                if t.state_bytes:
                    row(
                        "state bytes per customer, average",
                        statistics.fmean(t.state_bytes),
                        f"(aim under {TARGETS['state bytes per customer']:,})",
                    )
                    row("state bytes per customer, largest", max(t.state_bytes), "")
                if t.checkpoint_per_customer is not None:
                    row("checkpoint bytes per customer (cluster)", t.checkpoint_per_customer, "")
            at_least_once = base.model_copy(
                update={"sink": base.sink.model_copy(update={"delivery": DeliveryMode.AT_LEAST_ONCE})}
            )
            for name in where:
                if "latency" in figures:
                    quick = latency(at_least_once, folder, 200, 20, name, say, out_of_orderness_ms=100)
                    exactly = latency(base, folder, 200, 20, name, say, out_of_orderness_ms=100)
                    default = latency(base, folder, 200, 20, name, say)
                    row(
                        f"p99 ms, at-least-once, {name}",
                        quick[1],
                        f"(target {TARGETS['p99 at-least-once ms']})",
                    )
                    margin = base.flink.checkpoint_interval_ms + TARGETS["p99 exactly-once margin ms"]
                    row(f"p99 ms, exactly-once, {name}", exactly[1], f"(target {margin:,})")
                    ooo = base.journeys.out_of_orderness_ms
                    row(f"p99 ms, exactly-once, out-of-orderness {ooo:,} ms, {name}", default[1], "")
                if "commit" in figures:
                    from benchmarks.from_database import tier_from_commit

                    committed = tier_from_commit(
                        at_least_once, folder, 100, 20, name, say, out_of_orderness_ms=100
                    )
                    row(
                        f"p99 ms, database commit, at-least-once, {name}",
                        committed[1],
                        f"(target {TARGETS['p99 from commit ms']:,})",
                    )
                    committed = tier_from_commit(base, folder, 100, 20, name, say)
                    row(f"p99 ms, database commit, exactly-once, {name}", committed[1], "")
                if "startup" in figures:
                    row(
                        f"start to first action ms, {name}",
                        startup(base, folder, name, say),
                        f"(target {TARGETS['start to first action ms']:,})",
                    )
                if "timers" in figures:
                    _, p99, _, rate = timers(
                        at_least_once,
                        folder,
                        waits,
                        name,
                        say,
                        spread_s=spread_s,
                        wait_s=wait_s,
                        customers=customers,
                        out_of_orderness_ms=100,
                    )
                    row(
                        f"timer lateness p99 ms, {waits:,} waits, {name}",
                        p99,
                        f"(target {TARGETS['timer lateness p99 ms']:,})",
                    )
                    row(f"firings/s sustained over 10 s, {name}", rate, "(aim 5,000)")
    finally:
        if started_cluster:
            subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "down"], capture_output=True)
    say("summary:")
    for line in summary:
        say(line)
    return 0
