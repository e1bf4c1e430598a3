"""Latency from a database commit to the action it causes, Debezium's leg included
(`journeyctl bench job --only commit`).

`benchmarks.journey_job.latency` writes CDC-shaped records straight into Kafka: it times the job.
A shop's tier change starts earlier, as a row committed in its CRM database. Here customers are
inserted into the local stack's `crm` database, the journey job reads the connectors' own CDC
topics (with a clickstream and outputs of its own), and then each customer's loyalty tier is
raised in a transaction of its own at a steady rate; latency = when a `read_committed` consumer
sees the customer's action - when the UPDATE was sent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.journey_job import _job, _percentiles, _settings, _Watcher, acted_on, paced
from common.clock import daytime_zone
from common.settings import Settings


def _connect(s: Settings) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(s.sources.dsn("crm"), autocommit=True)
    except psycopg.OperationalError as e:
        raise RuntimeError(
            f"cannot reach the crm database at {s.sources.host}:{s.sources.port}: start the local "
            f"stack with `make stack-up` (or set JOURNEY_SOURCES__HOST/PORT). {e}"
        ) from e


def _insert_customers(db: psycopg.Connection[Any], ids: list[str], zone: str) -> None:
    with db.transaction(), db.cursor() as cur:
        cur.executemany(
            b"INSERT INTO customers (customer_id, email, phone, timezone, lat, lon, preferred_channel,"
            b" loyalty_tier, loyalty_points, vip) VALUES (%s, %s, %s, %s, 52.5, 13.4, 'email', 'member',"
            b" 100, false)",
            [(cid, f"{cid}@example.com", "+4915100000000", zone) for cid in ids],
        )


def _upgrade(db: psycopg.Connection[Any], cid: str) -> None:
    db.execute(
        b"UPDATE customers SET loyalty_tier = 'gold', loyalty_points = 5000 WHERE customer_id = %s", [cid]
    )


def _caught_up(db: psycopg.Connection[Any], watcher: _Watcher, sentinel: str, timeout_s: float) -> None:
    """Until the job acts on the sentinel's upgrade, committed after every insert: then it has
    read them all. (The committed offsets cannot say so: Connect writes the CDC topics in
    transactions, and the commit marker after a topic's last record is never consumed.)"""
    _upgrade(db, sentinel)
    deadline = time.monotonic() + timeout_s
    while not any(k == sentinel.encode() for _, k in watcher.seen):
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"no action for a tier upgrade in {timeout_s:.0f} s: is Kafka Connect up and its crm "
                "connector RUNNING (`python3 deploy/local/stack.py status`)?"
            )
        time.sleep(0.2)


def tier_from_commit(
    base: Settings,
    folder: Path,
    rate: int,
    seconds: int,
    where: str,
    say: Callable[[str], None],
    **journeys: Any,
) -> tuple[float, float, float, int]:
    """(p50, p99, max) ms from a tier upgrade's UPDATE to its action, and how many of the
    `rate * seconds` upgrades were acted on within a minute of the last."""
    s = _settings(base, folder, own_cdc=False, **journeys)
    zone = daytime_zone()
    run = uuid.uuid4().hex[:8]
    ids = [f"bench-{run}-c-{i}" for i in range(rate * seconds)]
    sentinel = f"bench-{run}-sentinel"
    db = _connect(s)
    try:
        _insert_customers(db, [*ids, sentinel], zone)
        with _job(s, where):
            watcher = _Watcher(s)
            say(f"  {len(ids):,} customers inserted into the crm database; waiting for the job to read them")
            _caught_up(db, watcher, sentinel, timeout_s=600)
            time.sleep(3)  # steady state
            sent: dict[bytes, float] = {}
            for i in paced(len(ids), rate):
                cid = ids[i]
                sent[cid.encode()] = time.time() * 1000
                _upgrade(db, cid)
            lat = acted_on(watcher, sent)
    finally:
        db.close()
    p50, p99, top = _percentiles(lat)
    say(
        f"  latency database commit -> action ({where}, {s.sink.delivery.value}, out-of-orderness "
        f"{s.journeys.out_of_orderness_ms} ms): p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {top:.0f} ms "
        f"({len(lat):,} of {len(ids):,} upgrades acted on, {rate}/s)"
    )
    return p50, p99, top, len(lat)
