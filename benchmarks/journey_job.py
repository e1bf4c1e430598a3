"""The journey job end to end (`journeyctl bench job`): Kafka in, a MiniCluster at parallelism 2,
Kafka out, against the local stack. Three figures, each from a job of its own on topics of its own:

1. **Throughput.** A backlog is written first: a catalogue of `skus` SKUs in 50 categories with
   stock, a CRM snapshot of `customers` customers, and browsing sessions over them (views, adds
   to cart, removals, checkouts, orders). The job then reads it as fast as it can; events/s =
   records / seconds between the first and the last offset the job commits.
2. **Latency** from a CDC change to the action it causes: loyalty tier upgrades (each acted on at
   once, on two channels) written at a steady rate, stamped when written; latency = when a
   `read_committed` consumer sees the action - when the change was written. Once with the
   defaults (exactly-once, out-of-orderness 2 s), once at-least-once with 100 ms.
3. **Timer lateness** with many pending waits: `waits` carts enter a benchmark journey that waits
   a fixed time, their due moments spread over a minute that begins after the last one entered;
   lateness = when the action is seen - its due moment.

Figures are printed with the targets of issue 6; the machine's load (other processes) shows in
them. Nothing here asserts: `make bench` prints, CI does not time.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from confluent_kafka import Consumer, Producer

from common import events as ev
from common.clock import daytime_zone, iso_ms
from common.settings import DeliveryMode, Settings, TopicSettings
from connectors.admin import ensure_topics, lag
from journeys.loader import DEFINITIONS

TARGETS = {"events/s": 20_000, "p99 latency ms": 500, "timer lateness p99 ms": 1_000}
CATEGORIES = 50
#: the customer whose last-of-all tier upgrade says the job has applied everything before it
SENTINEL = "bench-sentinel"
SESSION = ("Product Viewed", "Product Viewed", "Product Viewed", "Product Added", "Product Viewed")
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


#: a raw record as a source writes it: (table or "clickstream", key, value, Kafka timestamp)
Raw = tuple[str, Any, dict[str, Any], int]


class _Records:
    """Raw records as the sources would write them (Debezium JSON, Segment JSON), in order.
    Message ids come from a seeded generator, so that the same workload is the same records."""

    def __init__(self, seed: int = 7) -> None:
        self.n = 0
        self.kept: list[Raw] = []
        self._ids = random.Random(seed)

    def _emit(self, raw: Raw) -> None:
        self.kept.append(raw)

    def change(
        self, ts: int, table: str, op: str, row: dict[str, Any], before: dict[str, Any] | None = None
    ) -> None:
        system, name = table.split(".")
        key = {k: row[k] for k in ev.PRIMARY_KEYS[table]}
        value = {
            "before": before,
            "after": row,
            "source": {"connector": "postgresql", "name": system, "ts_ms": ts, "db": system, "table": name},
            "op": op,
            "ts_ms": ts,
        }
        self.n += 1
        self._emit((table, key, value, ts))

    def click(self, ts: int, user: str, event: str, **props: Any) -> None:
        value = {
            "type": "track",
            "messageId": f"{self._ids.getrandbits(64):016x}",
            "userId": user,
            "event": event,
            "timestamp": iso_ms(ts),
            "properties": props,
            "context": {"channel": "web"},
        }
        self.n += 1
        self._emit(("clickstream", user, value, ts))

    def lines(self) -> list[str]:
        """The records kept, as a recorded file (`journeyctl simulate`, `journeyctl replay`)."""
        t = TopicSettings()
        return [
            json.dumps(
                {"topic": t.clickstream if src == "clickstream" else t.cdc[src], "key": key, "value": value},
                separators=(",", ":"),
            )
            for src, key, value, _ in self.kept
        ]


class _Writer(_Records):
    """The records into Kafka as they are made, to the topics settings name."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.t = settings.topics
        self.producer = Producer(
            {**settings.kafka.librdkafka_properties(), "linger.ms": 20, "enable.idempotence": True}
        )
        self.failed: list[str] = []

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append(f"{msg.topic()}: {err.str()}")

    def _emit(self, raw: Raw) -> None:
        src, key, value, ts = raw
        topic = self.t.clickstream if src == "clickstream" else self.t.cdc[src]
        k = key if isinstance(key, str) else json.dumps(key, separators=(",", ":"))
        v = json.dumps(value, separators=(",", ":"))
        while True:
            try:
                self.producer.produce(
                    topic, key=k.encode(), value=v.encode(), timestamp=ts, on_delivery=self._delivered
                )
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)

    def flush(self) -> None:
        left = self.producer.flush(60)
        if left or self.failed:
            raise RuntimeError(
                f"{left} records unacknowledged, {len(self.failed)} refused: {self.failed[:1]}"
            )


def _customer(cid: str, zone: str, tier: str = "member") -> dict[str, Any]:
    return {
        "customer_id": cid,
        "email": f"{cid}@example.com",
        "phone": "+4915100000000",
        "timezone": zone,
        "lat": 52.5,
        "lon": 13.4,
        "preferred_channel": "email",
        "loyalty_tier": tier,
        "loyalty_points": 100,
        "vip": False,
    }


def _catalogue(w: _Records, skus: int, ts: int) -> None:
    for s in range(20):
        w.change(
            ts,
            "inventory.stores",
            "r",
            {"store_id": f"s-{s}", "name": f"Store {s}", "lat": 52.0, "lon": 13.0},
        )
    for i in range(skus):
        sku = f"SKU-{i}"
        row = {
            "sku": sku,
            "product_id": f"p-{i}",
            "name": f"Product {i}",
            "category": f"cat-{i % CATEGORIES}",
            "brand": "Bench",
            "price": "19.90",
        }
        w.change(ts, "inventory.products", "r", row)
        w.change(
            ts,
            "inventory.stock_levels",
            "r",
            {"sku": sku, "location_id": "online", "quantity": 50, "updated_at": ts},
        )


def _crm(w: _Records, customers: int, ts: int, zone: str, consents: bool = False) -> None:
    """The CRM snapshot; with `consents`, every customer takes marketing by email and every
    other one by push too, so that journeys send rather than suppress for want of consent."""
    for c in range(customers):
        cid = f"c-{c}"
        w.change(ts, "crm.customers", "r", _customer(cid, zone))
        if consents:
            for channel in ("email", "push") if c % 2 == 0 else ("email",):
                row = {"customer_id": cid, "channel": channel, "purpose": "marketing", "granted": True}
                w.change(ts, "crm.consents", "r", row | {"updated_at": iso_ms(ts)})


@dataclass
class _Run:
    settings: Settings
    client: Any

    def cancel(self) -> None:
        self.client.cancel().result()


@contextmanager
def _job(settings: Settings) -> Iterator[_Run]:
    from jobs.environment import create_environment
    from jobs.journey import build_pipeline, kafka_connectors

    env = create_environment(settings)
    sources, sinks = kafka_connectors(settings, bounded=False)
    build_pipeline(env, sources, sinks, settings)
    run = _Run(settings, env.execute_async("journey-bench"))
    try:
        yield run
    finally:
        run.cancel()


def _settings(base: Settings, folder: Path, **journeys: Any) -> Settings:
    run = uuid.uuid4().hex[:8]
    s = base.model_copy(
        update={
            "topics": base.topics.renamed(lambda t: f"bench-{run}-{t}"),
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

    def __init__(self, settings: Settings) -> None:
        self.seen: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                **settings.kafka.librdkafka_properties(),
                "group.id": f"bench-watch-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        self._consumer.subscribe(list(settings.topics.actions.values()))
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for m in self._consumer.consume(1000, 0.1):
                if m.error() is None:
                    self.seen.append((time.time() * 1000, m.key() or b""))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return float("nan"), float("nan"), float("nan")
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return q[49], q[98], max(values)


def shop_backlog(
    w: _Records, customers: int, skus: int, events: int, t0: int, zone: str, seed: int = 7
) -> None:
    """The throughput workload: a catalogue of `skus` SKUs in 50 categories with stock, a CRM
    snapshot of `customers` customers, then an hour from `t0` of browsing sessions over them
    (views, adds to cart, checkouts), and last the sentinel's tier upgrade."""
    rng = random.Random(seed)
    _catalogue(w, skus, t0)
    _crm(w, customers, t0, zone, consents=True)
    step = max(1, 3_600_000 // max(events, 1))
    ts, n = t0, 0
    while n < events:
        cid = f"c-{rng.randrange(customers)}"
        cart = f"cart-{cid}-{n}"
        for event in SESSION:
            sku = rng.randrange(skus)
            props: dict[str, Any] = {
                "sku": f"SKU-{sku}",
                "product_id": f"p-{sku}",
                "category": f"cat-{sku % CATEGORIES}",
            }
            if event == "Product Added":
                props |= {"cart_id": cart, "price": 19.9, "quantity": 1}
            w.click(ts, cid, event, **props)
            ts, n = ts + step, n + 1
        if rng.random() < 0.2:
            item = {"product_id": "p-0", "sku": "SKU-0", "category": "cat-0", "price": 19.9, "quantity": 1}
            w.click(
                ts,
                cid,
                "Order Completed",
                order_id=f"o-{n}",
                cart_id=cart,
                total=19.9,
                currency="EUR",
                products=[item],
            )
            ts, n = ts + step, n + 1
    # the sentinel: a tier upgrade after everything else, acted on at once; its action comes out
    # only once the journey stage has applied every record before it in journey time
    w.change(t0 - 1, "crm.customers", "r", _customer(SENTINEL, zone))
    w.change(
        ts + 1, "crm.customers", "u", _customer(SENTINEL, zone, "gold"), before=_customer(SENTINEL, zone)
    )


def throughput(
    base: Settings, folder: Path, customers: int, skus: int, events: int, say: Callable[[str], None]
) -> float:
    s = _settings(base, folder)
    w = _Writer(s)
    t0 = int(time.time() * 1000) - 3_600_000  # an hour of history, replayed as fast as it reads
    say(f"  writing the backlog: {skus:,} SKUs, {customers:,} customers, {events:,} clicks and orders")
    shop_backlog(w, customers, skus, events, t0, daytime_zone())
    w.flush()
    total = w.n
    say(f"  {total:,} records in Kafka; running the job")
    with _job(s):
        watcher = _Watcher(s)
        first, _ = _wait_read(s, total, timeout_s=3_600, say=say)
        deadline = time.monotonic() + 3_600
        while not any(k == SENTINEL.encode() for _, k in watcher.seen) and time.monotonic() < deadline:
            time.sleep(0.2)
        done = time.monotonic()
        watcher.close()
    # the first commit already holds the records of one checkpoint interval: count from there
    took = done - first + s.flink.checkpoint_interval_ms / 1000
    rate = total / took
    say(f"  throughput: {rate:,.0f} events/s ({total:,} records in, every one applied, in {took:.1f} s)")
    return rate


def latency(
    base: Settings, folder: Path, rate: int, seconds: int, say: Callable[[str], None], **journeys: Any
) -> tuple[float, float, float]:
    s = _settings(base, folder, **journeys)
    zone = daytime_zone()
    customers = rate * seconds
    w = _Writer(s)
    now = int(time.time() * 1000)
    _crm(w, customers, now - 60_000, zone)
    w.flush()
    with _job(s):
        _wait_read(s, w.n, timeout_s=600, say=say)
        time.sleep(3)  # let journey time pass the snapshot
        watcher = _Watcher(s)
        sent: dict[bytes, float] = {}
        start = time.monotonic()
        for i in range(customers):
            at = start + i / rate
            if (ahead := at - time.monotonic()) > 0:
                time.sleep(ahead)
            ts = int(time.time() * 1000)
            cid = f"c-{i}"
            w.change(ts, "crm.customers", "u", _customer(cid, zone, "gold"), before=_customer(cid, zone))
            sent[cid.encode()] = ts
        w.flush()
        deadline = time.monotonic() + 60
        while len({k for _, k in watcher.seen}) < customers and time.monotonic() < deadline:
            time.sleep(0.2)
        watcher.close()
    first_seen: dict[bytes, float] = {}
    for at, key in watcher.seen:
        first_seen.setdefault(key, at)
    lat = [first_seen[k] - sent[k] for k in sent if k in first_seen]
    p50, p99, top = _percentiles(lat)
    say(
        f"  latency change -> action ({s.sink.delivery.value}, out-of-orderness "
        f"{s.journeys.out_of_orderness_ms} ms): p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {top:.0f} ms "
        f"({len(lat):,} of {customers:,} changes acted on, {rate}/s)"
    )
    return p50, p99, top


def timers(
    base: Settings, folder: Path, waits: int, say: Callable[[str], None], wait_s: int | None = None
) -> tuple[float, float, float]:
    # the wait must outlast writing and reading every entry (a few hundred per second here)
    wait_s = wait_s or 120 + waits // 300
    definitions = folder / "bench-definitions"
    definitions.mkdir(exist_ok=True)
    for f in DEFINITIONS.glob("*.yaml"):
        (definitions / f.name).write_text(f.read_text())
    (definitions / "bench_timer.yaml").write_text(BENCH_WAIT.replace("WAIT", f"{wait_s}s"))
    s = _settings(base, folder, definitions=str(definitions))
    zone = daytime_zone()
    customers = min(waits, 100_000)
    w = _Writer(s)
    start = int(time.time() * 1000)
    _crm(w, customers, start - 120_000, zone)
    spread = 60_000
    # entries stamped over the minute before now (never ahead of the clock: journey time would
    # follow), so that their due moments spread over a minute
    for i in range(waits):
        w.click(
            start - spread + i * spread // waits, f"c-{i % customers}", "Cart Viewed", cart_id=f"bench-{i}"
        )
    w.flush()
    due_from = start - spread + wait_s * 1000
    say(f"  {waits:,} waits entering; due from {wait_s - spread // 1000} s on, over {spread // 1000} s")
    with _job(s):
        watcher = _Watcher(s)
        _wait_read(s, w.n, timeout_s=wait_s + 600, say=say)
        pending_before_due = time.time() * 1000 < due_from
        deadline = time.monotonic() + wait_s + spread / 1000 + 300
        while len(watcher.seen) < waits and time.monotonic() < deadline:
            time.sleep(0.5)
        watcher.close()
    due: dict[bytes, list[int]] = {f"c-{i}".encode(): [] for i in range(min(waits, customers))}
    for i in range(waits):
        due[f"c-{i % customers}".encode()].append(start - spread + i * spread // waits + wait_s * 1000)
    late: list[float] = []
    for at, key in sorted(watcher.seen):
        mine = due.get(key)
        if mine:
            late.append(at - mine.pop(0))
    p50, p99, top = _percentiles(late)
    say(
        f"  timer lateness: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {top:.0f} ms ({len(late):,} of {waits:,} "
        f"waits fired; all were in state before the first came due: {'yes' if pending_before_due else 'NO'})"
    )
    return p50, p99, top


FIGURES = ("throughput", "latency", "timers")


def main(
    customers: int = 100_000,
    skus: int = 10_000,
    events: int = 300_000,
    waits: int = 1_000_000,
    figures: tuple[str, ...] = FIGURES,
    wait_s: int | None = None,
) -> int:
    def say(text: str) -> None:
        print(text, flush=True)

    base = Settings()
    say(f"journey job, MiniCluster at parallelism {base.flink.parallelism}, local Kafka and registry")
    summary: list[str] = []
    with TemporaryDirectory(prefix="journey-bench-") as tmp:
        folder = Path(tmp)
        if "throughput" in figures:
            rate = throughput(base, folder, customers, skus, events, say)
            summary.append(f"  sustained events/s           {rate:>10,.0f}  ({TARGETS['events/s']:,})")
        if "latency" in figures:
            default = latency(base, folder, rate=200, seconds=20, say=say)
            fast = base.model_copy(
                update={"sink": base.sink.model_copy(update={"delivery": DeliveryMode.AT_LEAST_ONCE})}
            )
            quick = latency(fast, folder, rate=200, seconds=20, say=say, out_of_orderness_ms=100)
            summary.append(
                f"  p99 latency, defaults        {default[1]:>10,.0f} ms ({TARGETS['p99 latency ms']} ms)"
            )
            summary.append(f"  p99 latency, at-least-once   {quick[1]:>10,.0f} ms")
        if "timers" in figures:
            lateness = timers(base, folder, waits, say, wait_s=wait_s)
            summary.append(
                f"  timer lateness p99 ({waits:,} waits) {lateness[1]:>10,.0f} ms "
                f"({TARGETS['timer lateness p99 ms']:,} ms)"
            )
    say("summary (target in brackets):")
    for line in summary:
        say(line)
    return 0
