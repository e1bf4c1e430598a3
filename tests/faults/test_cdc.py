"""The CDC leg restarted in a burst of database changes: Kafka Connect, then PostgreSQL.

Customers are inserted into the local stack's `crm` database and read by the journey job
(MiniCluster, exactly-once, the connectors' own CDC topics); then each one's loyalty tier is
raised, one transaction each, 100 a second, and a few seconds into the burst the service is
stopped and started again. Each upgrade is acted on at once (the loyalty milestone's actions),
so the clean run is those of a sentinel customer upgraded before the burst, for every upgraded
customer: lost = a customer's action that never came, doubled = an action id seen more than
once, extra = an upgrade decided twice under new ids. An UPDATE that fails while PostgreSQL is
down is sent again (to gold again: a second upgrade to the same tier changes nothing).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from benchmarks.from_database import _caught_up, _connect, _insert_customers, _upgrade
from benchmarks.journey_job import _settings, _Watcher, paced
from common.clock import daytime_zone
from common.settings import Settings
from tests.faults.harness import Outcome, as_deployed, report, stack_service
from tests.journey_checks import start_journey
from tests.kafka_helpers import read_committed_avro
from tests.stack import StackAddresses

pytestmark = pytest.mark.faults
UPGRADES, RATE = 2_000, 100


def _upgrade_until_done(s: Settings, db: list[psycopg.Connection[Any]], cid: str) -> None:
    """One upgrade, sent again (on a new connection) until the database takes it."""
    deadline = time.monotonic() + 120
    while True:
        try:
            _upgrade(db[0], cid)
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            with contextlib.suppress(RuntimeError):  # still down: the next try reconnects
                db[0] = _connect(s)


@pytest.mark.parametrize("service", ["connect", "postgres"])
def test_a_cdc_service_restarted_in_a_burst_of_changes(
    cdc: StackAddresses, settings: Settings, tmp_path: Path, service: str
) -> None:
    s = as_deployed(_settings(settings, tmp_path, own_cdc=False))
    run = uuid.uuid4().hex[:8]
    ids = [f"fault-{run}-c-{i}" for i in range(UPGRADES)]
    sentinel = f"fault-{run}-sentinel"
    db = [_connect(s)]
    _insert_customers(db[0], [*ids, sentinel], daytime_zone())
    watcher = _Watcher(s)
    client = start_journey(s, f"journey-{service}-restart")
    outcome = Outcome(f"{service} restarted in a burst of {UPGRADES:,} database changes", UPGRADES)
    try:
        _caught_up(db[0], watcher, sentinel, timeout_s=600)
        started = time.monotonic()
        restarted: list[float] = []

        def restart() -> None:
            time.sleep(5)
            stack_service("down", service)
            time.sleep(3)
            stack_service("up", service)
            restarted.append(time.monotonic())

        restarter = threading.Thread(target=restart)
        restarter.start()
        sent: dict[bytes, float] = {}
        for i in paced(len(ids), RATE):
            sent[ids[i].encode()] = time.time() * 1000
            _upgrade_until_done(s, db, ids[i])
        restarter.join()
        assert restarted, f"{service} did not come back"
        mine = {cid.encode() for cid in ids}
        deadline = time.monotonic() + 300
        while len({k for _, k in watcher.seen} & mine) < len(mine) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3 * s.flink.checkpoint_interval_ms / 1000)  # each customer's other actions too
        first_seen: dict[bytes, float] = {}
        for at, k in watcher.seen:
            first_seen.setdefault(k, at)
        waits = [first_seen[k] - sent[k] for k in sent if k in first_seen]
        outcome.recovery_s = max(waits) / 1000 if waits else None
        outcome.run_s = time.monotonic() - started
    finally:
        watcher.close()
        client.cancel().result()
        db[0].close()
    everyone = {*ids, sentinel}
    actions = [
        a
        for topic in s.topics.actions.values()
        for a in read_committed_avro(s, topic, 0, timeout_s=30)
        if a["customer_id"] in everyone
    ]
    # the clean run: what the sentinel's upgrade, before the burst, was acted on with
    clean = {a["action_type"] for a in actions if a["customer_id"] == sentinel}
    assert clean, "the sentinel's upgrade was acted on"
    outcome.expected = len(ids) * len(clean)
    by_id = Counter(a["action_id"] for a in actions)
    ids_per = Counter(
        (cid, kind)
        for cid, kind, _ in {(a["customer_id"], a["action_type"], a["action_id"]) for a in actions}
    )
    outcome.lost = sum(1 for cid in ids for kind in clean if (cid, kind) not in ids_per)
    outcome.doubled = sum(1 for n in by_id.values() if n > 1)
    # an upgrade decided twice, under new ids
    outcome.extra = sum(n - 1 for n in ids_per.values())
    outcome.recovered = outcome.lost == 0
    outcome.notes.append(
        f"{' + '.join(sorted(clean))} per upgrade; recovery = the longest a change waited for its action"
    )
    report(outcome)
    assert (outcome.lost, outcome.doubled, outcome.extra) == (0, 0, 0), outcome.row()
