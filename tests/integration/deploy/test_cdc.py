"""The source databases through Debezium into Kafka, as the local stack runs them (deploy/local/stack.py).

Real PostgreSQL, a real Connect worker, real topics: each test writes rows of its own (unique
keys) with SQL and reads what Debezium wrote, then decodes it with the pipeline's own decoder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Message

from common import events as ev
from common.settings import STACK_SCRIPT, Settings
from connectors.avro import LocalSchemas, SchemaSource
from connectors.decoder import DeadLetter, Decoder, Skipped
from connectors.records import KafkaRecord
from journeys.engine import Engine
from journeys.loader import load_dir
from tests.stack import StackAddresses, stack_module, wait_for_connectors

pytestmark = pytest.mark.integration

LOCAL = stack_module()
EPOCH = datetime(1970, 1, 1)
TS = datetime(2026, 11, 23, 11, 14, 3, 120456)  # a `timestamp` column: epoch microseconds
TS_MICROS = int((TS - EPOCH).total_seconds()) * 1_000_000 + TS.microsecond
TSTZ = datetime(2026, 11, 23, 11, 14, 3, 120000, tzinfo=UTC)  # `timestamptz`: an ISO-8601 string
DAY = date(2026, 11, 25)  # `date`: days since epoch


def sql(settings: Settings, system: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(settings.sources.dsn(system), autocommit=True) as conn:
        conn.execute(statement.encode(), params)  # type: ignore[call-overload]


def read_keyed(
    settings: Settings,
    topic: str,
    key: dict[str, Any],
    expected: int,
    timeout_s: float = 60.0,
    settle_s: float = 1.0,
    isolation: str = "read_committed",
) -> list[Message]:
    """Every record of `topic` whose Debezium key is `key`, from the start: waits for `expected`,
    then `settle_s` more so that records beyond it (duplicates) would be seen too."""
    consumer = Consumer(
        {
            **settings.kafka.librdkafka_properties(),
            "group.id": f"cdc-test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    consumer.subscribe([topic])
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if len(got) >= expected:
                settle_until = settle_until or time.monotonic() + settle_s
                if time.monotonic() >= settle_until:
                    break
            for msg in consumer.consume(500, 0.2):
                if msg.error() is not None:
                    if msg.error().code() in (-191, 3):  # partition EOF; topic not created yet
                        continue
                    raise AssertionError(f"consumer error on {topic}: {msg.error()}")
                if msg.key() is not None and json.loads(msg.key()) == key:
                    got.append(msg)
    finally:
        consumer.close()
    return got


def insert_update_delete(
    settings: Settings, table: str, key_cols: tuple[str, ...], row: dict[str, Any], col: str, new_value: Any
) -> dict[str, Any]:
    """The row inserted, one column updated, the row deleted, each in a transaction of its own;
    the row's key."""
    system, name = table.split(".")
    key = {c: row[c] for c in key_cols}
    where = " AND ".join(f"{c} = %s" for c in key_cols)
    values = ", ".join(["%s"] * len(row))
    sql(settings, system, f"INSERT INTO {name} ({', '.join(row)}) VALUES ({values})", tuple(row.values()))
    sql(settings, system, f"UPDATE {name} SET {col} = %s WHERE {where}", (new_value, *key.values()))
    sql(settings, system, f"DELETE FROM {name} WHERE {where}", tuple(key.values()))
    return key


def assert_tombstone_deletes(tomb: ev.ChangeEvent | None, key: dict[str, Any]) -> None:
    """The tombstone after a delete decodes, from its key alone, to the delete of that row."""
    assert tomb is not None and tomb.op == "d" and tomb.after is None, tomb
    assert ":tombstone:" in tomb.event_id
    assert all(getattr(tomb.before, c) == v for c, v in key.items()), (tomb.before, key)


def decode_all(
    settings: Settings, msgs: list[Message], schemas: SchemaSource | None = None
) -> list[ev.ChangeEvent | None]:
    """The pipeline's decoder over the records: change events (a tombstone is the delete of the
    row its key names), None for what is skipped; no dead letter. `schemas`: where Avro values'
    schemas come from (the registry); JSON needs none."""
    decoder = Decoder(settings, schemas or LocalSchemas())
    out: list[ev.ChangeEvent | None] = []
    for m in msgs:
        r = KafkaRecord(m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value())
        outcome = decoder.decode(r)
        assert type(outcome) is not DeadLetter, f"dead letter: {outcome}"
        if type(outcome) is Skipped:
            assert outcome.reason == "tombstone"
            out.append(None)
        else:
            assert type(outcome) is ev.ChangeEvent
            out.append(outcome)
    assert decoder.counts["dead_letter"] == 0
    return out


# (system, table) -> the key columns, a full row to insert, one column to update, and what
# Debezium's default encodings must make of the inserted row (CONTRACTS.md).
Case = tuple[tuple[str, ...], Callable[[str], dict[str, Any]], tuple[str, Any, Any], dict[str, Any]]
CASES: dict[str, Case] = {
    "inventory.products": (
        ("sku",),
        lambda k: {
            "sku": k,
            "product_id": "p-1",
            "name": "Shell jacket",
            "category": "Jackets",
            "brand": "Nordwind",
            "price": Decimal("129.00"),
        },
        ("price", Decimal("99.50"), "99.50"),
        {"price": "129.00"},  # numeric, decimal.handling.mode=string
    ),
    "inventory.stores": (
        ("store_id",),
        lambda k: {"store_id": k, "name": "Mitte", "lat": 52.52, "lon": 13.405},
        ("name", "Mitte (closed)", "Mitte (closed)"),
        {"lat": 52.52, "lon": 13.405},
    ),
    "inventory.stock_levels": (
        ("sku", "location_id"),
        lambda k: {"sku": k, "location_id": "online", "quantity": 7, "updated_at": TS},
        ("quantity", 3, 3),
        {"quantity": 7, "updated_at": TS_MICROS},
    ),
    "orders.orders": (
        ("order_id",),
        lambda k: {
            "order_id": k,
            "customer_id": f"c-{k}",
            "cart_id": None,
            "status": "placed",
            "total": Decimal("258.00"),
            "currency": "EUR",
            "created_at": TS,
        },
        ("status", "paid", "paid"),
        {"total": "258.00", "cart_id": None, "created_at": TS_MICROS},
    ),
    "orders.shipments": (
        ("shipment_id",),
        lambda k: {
            "shipment_id": k,
            "order_id": f"o-{k}",
            "customer_id": f"c-{k}",
            "status": "in_transit",
            "estimated_delivery": DAY,
            "delivered_at": None,
            "carrier": "DHL",
        },
        ("status", "delayed", "delayed"),
        {"estimated_delivery": (DAY - EPOCH.date()).days, "delivered_at": None},
    ),
    "crm.customers": (
        ("customer_id",),
        lambda k: {
            "customer_id": k,
            "email": f"{k}@example.com",
            "phone": "+4930123",
            "timezone": "Europe/Berlin",
            "lat": 52.5,
            "lon": 13.4,
            "preferred_channel": "email",
            "loyalty_tier": "silver",
            "loyalty_points": 1200,
            "vip": False,
        },
        ("loyalty_tier", "gold", "gold"),
        {"vip": False, "loyalty_points": 1200, "lat": 52.5},
    ),
    "crm.consents": (
        ("customer_id", "channel", "purpose"),
        lambda k: {
            "customer_id": k,
            "channel": "sms",
            "purpose": "marketing",
            "granted": True,
            "updated_at": TSTZ,
        },
        ("granted", False, False),
        {"granted": True},  # updated_at: checked as an ISO-8601 string below
    ),
    "support.tickets": (
        ("ticket_id",),
        lambda k: {
            "ticket_id": k,
            "customer_id": f"c-{k}",
            "priority": "urgent",
            "status": "open",
            "created_at": TS,
        },
        ("status", "solved", "solved"),
        {"created_at": TS_MICROS},
    ),
    "onboarding.applications": (
        ("application_id",),
        lambda k: {
            "application_id": k,
            "customer_id": f"c-{k}",
            "product": "current_account",
            "jurisdiction": "US-NY",
            "verification_status": "pending_documents",
            "missing_documents": '["proof_of_address"]',
            "updated_at": TS,
        },
        ("verification_status", "under_review", "under_review"),
        {"missing_documents": '["proof_of_address"]', "updated_at": TS_MICROS},
    ),
}
#: tables whose `before` carries the whole row (REPLICA IDENTITY FULL in deploy/sql)
FULL = {"orders.orders", "orders.shipments", "crm.customers", "support.tickets", "onboarding.applications"}


def test_every_contract_table_is_captured() -> None:
    assert set(CASES) == set(ev.CDC_TABLES) == {f"{s}.{t}" for s, ts in LOCAL.SOURCES.items() for t in ts}


@pytest.mark.parametrize("table", sorted(CASES))
def test_insert_update_delete_arrive_in_the_debezium_envelope(
    cdc: StackAddresses, settings: Settings, table: str
) -> None:
    system, name = table.split(".")
    key_cols, make_row, (col, new_value, new_encoded), encodings = CASES[table]
    row = make_row(f"t-{uuid.uuid4().hex[:10]}")
    key = insert_update_delete(settings, table, key_cols, row, col, new_value)

    msgs = read_keyed(settings, f"{system}.public.{name}", key, expected=4)
    assert len(msgs) == 4, f"expected c, u, d and a tombstone; got {len(msgs)}"
    values = [json.loads(m.value()) if m.value() is not None else None for m in msgs]
    assert [v["op"] if v else None for v in values] == ["c", "u", "d", None]
    for v in values[:3]:
        assert v is not None
        assert {"before", "after", "source", "op", "ts_ms"} <= set(v)
        assert v["source"]["db"] == system and v["source"]["table"] == name
        assert v["source"]["schema"] == "public" and isinstance(v["source"]["lsn"], int)
    created, updated, deleted, _ = values
    assert created and updated and deleted
    assert created["before"] is None
    assert set(created["after"]) == set(row), "the columns of CONTRACTS.md, no more, no fewer"
    for c, encoded in encodings.items():
        assert created["after"][c] == encoded, c
        assert type(created["after"][c]) is type(encoded), c
    if table == "crm.consents":
        assert isinstance(created["after"]["updated_at"], str)
        assert datetime.fromisoformat(created["after"]["updated_at"]) == TSTZ
    assert updated["after"][col] == new_encoded
    if table in FULL:
        assert updated["before"] == created["after"]
        assert deleted["before"] == updated["after"]
    else:
        assert updated["before"] is None
        # REPLICA IDENTITY DEFAULT logs only the key of a deleted row; Debezium fills the other
        # NOT NULL columns with their type's zero (false, 0) and leaves the rest null
        assert {c: deleted["before"][c] for c in key_cols} == key
    assert deleted["after"] is None

    events = decode_all(settings, msgs)
    c_ev, u_ev, d_ev, tomb = events
    assert_tombstone_deletes(tomb, key)
    assert c_ev and u_ev and d_ev
    assert [e.op for e in (c_ev, u_ev, d_ev)] == ["c", "u", "d"]
    assert all(e.table == table for e in (c_ev, u_ev, d_ev))
    assert len({e.event_id for e in (c_ev, u_ev, d_ev)}) == 3
    assert d_ev.row is not None and all(getattr(d_ev.row, c) == key[c] for c in key_cols)
    if table in FULL and hasattr(d_ev.row, "customer_id"):
        assert d_ev.row.customer_id == row["customer_id"]  # the delete reaches its customer
    if table == "crm.customers":
        assert type(u_ev.before) is ev.Customer and u_ev.before.loyalty_tier == "silver"
        assert type(u_ev.after) is ev.Customer and u_ev.after.loyalty_tier == "gold"


def test_a_customer_delete_in_crm_is_an_erasure(cdc: StackAddresses, settings: Settings) -> None:
    cid = f"erase-{uuid.uuid4().hex[:10]}"
    row = CASES["crm.customers"][1](cid)
    sql(
        settings,
        "crm",
        f"INSERT INTO customers ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
        tuple(row.values()),
    )
    sql(settings, "crm", "DELETE FROM customers WHERE customer_id = %s", (cid,))
    msgs = read_keyed(settings, "crm.public.customers", {"customer_id": cid}, expected=3)
    created, deleted, tombstone = decode_all(settings, msgs)
    assert created is not None and deleted is not None
    assert_tombstone_deletes(tombstone, {"customer_id": cid})
    assert (deleted.table, deleted.op) == ("crm.customers", "d")

    engine = Engine(load_dir())
    state = engine.on_event(None, created, created.ts_ms).state
    assert state is not None and state.customer is not None
    result = engine.on_event(state, deleted, deleted.ts_ms)
    assert result.outcome == "erased"
    assert result.state is not None and result.state.erased and result.state.customer is None


@contextlib.contextmanager
def updating(settings: Settings, cid: str, n: int, pause_s: float) -> Iterator[threading.Event]:
    """n single-row transactions (loyalty_points = 1..n) in the background; the event is set
    after the first n // 4, so the caller can strike in the middle of the burst."""
    quarter = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(settings.sources.dsn("crm"), autocommit=True) as conn:
                for i in range(1, n + 1):
                    conn.execute("UPDATE customers SET loyalty_points = %s WHERE customer_id = %s", (i, cid))
                    if i == n // 4:
                        quarter.set()
                    time.sleep(pause_s)
        except BaseException as e:
            failed.append(e)
            quarter.set()

    t = threading.Thread(target=run, name="burst", daemon=True)
    t.start()
    try:
        yield quarter
    finally:
        t.join(120)
        assert not t.is_alive(), "the burst of updates did not finish"
        assert not failed, failed


def test_a_worker_killed_in_a_burst_of_changes_loses_none_and_repeats_none(
    cdc: StackAddresses, settings: Settings
) -> None:
    svc = LOCAL.SERVICES["connect"]
    pid = svc.pid()
    if pid is None:
        pytest.skip("the Connect worker is not a local process of this stack (containers)")
    n = 500
    cid = f"burst-{uuid.uuid4().hex[:10]}"
    row = CASES["crm.customers"][1](cid) | {"loyalty_points": 0}
    sql(
        settings,
        "crm",
        f"INSERT INTO customers ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
        tuple(row.values()),
    )
    with updating(settings, cid, n, pause_s=0.01) as quarter:
        assert quarter.wait(60)
        os.killpg(pid, signal.SIGKILL)  # no shutdown, no last offset flush: the worst case
        while LOCAL._alive(pid):
            time.sleep(0.05)
        subprocess.run([sys.executable, str(STACK_SCRIPT), "up", "connect"], check=True, timeout=180)
    wait_for_connectors(cdc.connect_url, [LOCAL.connector_name("crm")])

    key = {"customer_id": cid}
    msgs = read_keyed(settings, "crm.public.customers", key, expected=n + 1, timeout_s=120, settle_s=3)
    events = decode_all(settings, msgs)
    points = [e.after.loyalty_points for e in events if e and type(e.after) is ev.Customer]
    assert sorted(set(points)) == list(range(n + 1)), f"lost: {sorted(set(range(n + 1)) - set(points))[:20]}"
    # Exactly-once source support: what the killed worker wrote after its last commit is an
    # aborted transaction, which read_committed readers (the job among them) never see.
    assert len(points) == n + 1, f"{len(points) - n - 1} changes were delivered twice"
    assert len({e.event_id for e in events if e}) == n + 1

    # What a read_uncommitted reader would get: the aborted records too. Each repeats a change
    # already delivered, with the same LSN, hence the same event_id, which the engine drops as a
    # duplicate (CustomerState.seen): a replay, never a second, different event.
    raw = decode_all(
        settings,
        read_keyed(settings, "crm.public.customers", key, expected=n + 1, isolation="read_uncommitted"),
    )
    by_id: dict[str, int | None] = {}
    for e in raw:
        assert e is not None and type(e.after) is ev.Customer
        assert by_id.setdefault(e.event_id, e.after.loyalty_points) == e.after.loyalty_points
    assert len(by_id) == n + 1
    print(f"\nredelivered in aborted transactions (read_uncommitted only): {len(raw) - (n + 1)}")
