"""JOURNEY_CDC_FORMAT=avro: Debezium's values as Avro through the registry, on real services.

The module registers connectors of its own, one per source database, with the Avro converter
config stack.py builds (`connector_config(..., fmt="avro")`) and a topic prefix, slot and
publication of their own, so the JSON connectors the other tests read stay as they are. Both
capture the same databases: each row written here arrives twice, as JSON on
`<system>.public.<table>` and as Avro on `<prefix>-<system>.public.<table>`, and the two must
decode into the same typed events. At the end the connectors, slots, publications and topics go.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from common import events as ev
from common.settings import Settings
from connectors.avro import RegistryClient
from tests.integration.deploy.test_cdc import (
    CASES,
    FULL,
    assert_tombstone_deletes,
    decode_all,
    insert_update_delete,
    read_keyed,
    sql,
)
from tests.stack import StackAddresses, stack_module, wait_for_connectors

pytestmark = pytest.mark.integration

LOCAL = stack_module()
#: slots of an earlier run that died before its clean-up start with this
SLOT_PREFIX = "journey_avrotest_"


@dataclass(frozen=True)
class AvroCdc:
    #: the connectors' topic prefix before `-<system>`
    prefix: str
    #: `<system>.<table>` -> the Avro connector's topic
    topics: dict[str, str]


def _pg(stack: StackAddresses, dbname: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=stack.postgres_host,
        port=stack.postgres_port,
        user=LOCAL.POSTGRES_USER,
        password=LOCAL.POSTGRES_PASSWORD,
        dbname=dbname,
        autocommit=True,
    )


def _drop_slots(stack: StackAddresses, like: str, timeout_s: float = 30.0) -> None:
    """Drop the replication slots named like `like` once no connector streams from them."""
    deadline = time.monotonic() + timeout_s
    with _pg(stack, "postgres") as conn:
        while True:
            rows = conn.execute(
                "SELECT slot_name, active FROM pg_replication_slots WHERE slot_name LIKE %s", (like,)
            ).fetchall()
            for name, active in rows:
                if not active:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
            if not any(active for _, active in rows):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"slots still in use after {timeout_s:.0f} s: {rows}")
            time.sleep(0.5)


def _wait_streaming(stack: StackAddresses, slots: list[str], timeout_s: float = 90.0) -> None:
    """Until a WAL sender streams from each slot: the connector has snapshotted and streams, so
    rows written from now on arrive as changes (c, u, d), not as snapshot reads."""
    deadline = time.monotonic() + timeout_s
    with _pg(stack, "postgres") as conn:
        while time.monotonic() < deadline:
            active = {
                name
                for (name,) in conn.execute(
                    "SELECT slot_name FROM pg_replication_slots WHERE active AND slot_name = ANY(%s)",
                    (slots,),
                ).fetchall()
            }
            if active == set(slots):
                return
            time.sleep(0.5)
    raise AssertionError(f"slots not streaming after {timeout_s:.0f} s: {sorted(set(slots) - active)}")


@pytest.fixture(scope="module")
def avro_cdc(cdc: StackAddresses) -> Iterator[AvroCdc]:
    if LOCAL.SERVICES["connect"].pid() is None:
        pytest.skip("the Connect worker is not a local process of this stack (containers)")
    plugins = httpx.get(f"{cdc.connect_url}/connector-plugins", params={"connectorsOnly": "false"}).json()
    assert LOCAL.AVRO_CONVERTER_CLASS in {p["class"] for p in plugins}, "the worker has no Avro converter"

    _drop_slots(cdc, SLOT_PREFIX + "%")  # left by a run that died before its clean-up
    run = uuid.uuid4().hex[:8]
    prefix = f"avrotest-{run}"
    registry = httpx.Client(base_url=cdc.registry_url, timeout=10)
    names, slots, topics = [], [], {}
    for system, tables in LOCAL.SOURCES.items():
        slot = f"{SLOT_PREFIX}{run}_{system}"
        conf = LOCAL.connector_config(system, topic_prefix=f"{prefix}-{system}", slot=slot, fmt="avro")
        name = f"{prefix}-{system}"
        r = httpx.put(f"{cdc.connect_url}/connectors/{name}/config", json=conf, timeout=30)
        assert r.status_code in (200, 201), r.text
        names.append(name)
        slots.append(slot)
        topics |= {f"{system}.{t}": f"{prefix}-{system}.public.{t}" for t in tables}
    try:
        wait_for_connectors(cdc.connect_url, names)
        _wait_streaming(cdc, slots)
        yield AvroCdc(prefix, topics)
    finally:
        for name in names:
            httpx.delete(f"{cdc.connect_url}/connectors/{name}", timeout=30)
        _drop_slots(cdc, f"{SLOT_PREFIX}{run}_%")
        for system, slot in zip(LOCAL.SOURCES, slots, strict=True):
            with _pg(cdc, system) as conn:
                conn.execute(f"DROP PUBLICATION IF EXISTS {slot}".encode())
        admin = AdminClient({"bootstrap.servers": cdc.bootstrap_servers})
        existing = set(admin.list_topics(timeout=10).topics)
        doomed = [t for t in existing if t.startswith(prefix)]
        if doomed:
            for f in admin.delete_topics(doomed, operation_timeout=30).values():
                f.result()
        for subject in registry.get("/subjects").json():
            if subject.startswith(prefix):
                for permanent in ("false", "true"):  # soft first: the API wants both
                    registry.delete(f"/subjects/{subject}", params={"permanent": permanent})


def _same_change(e: ev.ChangeEvent | None) -> ev.ChangeEvent | None:
    """The event without ts_ms (when each connector processed the change, not part of it); a
    tombstone's id names its topic and offset, which differ between the two topics."""
    if e is None:
        return None
    return dataclasses.replace(
        e, ts_ms=0, event_id="tombstone" if ":tombstone:" in e.event_id else e.event_id
    )


@pytest.mark.parametrize("table", sorted(CASES))
def test_insert_update_delete_arrive_as_avro_in_the_confluent_wire_format(
    avro_cdc: AvroCdc, settings: Settings, table: str
) -> None:
    system, name = table.split(".")
    key_cols, make_row, (col, new_value, _), _ = CASES[table]
    row = make_row(f"avro-{uuid.uuid4().hex[:10]}")
    key = insert_update_delete(settings, table, key_cols, row, col, new_value)

    topic = avro_cdc.topics[table]
    # keys stay JSON objects on the Avro path too (read_keyed matches them as JSON)
    msgs = read_keyed(settings, topic, key, expected=4)
    assert len(msgs) == 4, f"expected c, u, d and a tombstone; got {len(msgs)}"
    assert msgs[3].value() is None
    registry = httpx.Client(base_url=settings.registry.url, timeout=10)
    latest = registry.get(f"/subjects/{topic}-value/versions/latest").json()
    v3 = settings.registry.url.replace("/apis/ccompat/v7", "/apis/registry/v3")
    meta = httpx.get(f"{v3}/groups/default/artifacts/{topic}-value/versions/branch=latest").json()
    for m in msgs[:3]:
        value = m.value()
        assert value is not None and value[0] == 0, "magic byte 0"
        schema_id = struct.unpack_from(">I", value, 1)[0]
        # the 4-byte id is the content id, which is what the ccompat API calls a schema id
        assert schema_id == latest["id"] == meta["contentId"], (schema_id, latest, meta)
        writer = json.loads(registry.get(f"/schemas/ids/{schema_id}").json()["schema"])
        assert (writer["type"], writer["name"]) == ("record", "Envelope")
        assert writer["namespace"] == topic
        # the id travels in the value, not in Apicurio's headers
        assert not [h for h, _ in m.headers() or [] if h.startswith("apicurio")]

    # The Avro records decode into the same typed events as the JSON connector's records of the
    # same changes (same LSNs, hence the same event ids).
    avro_settings = settings.model_copy(
        update={
            "topics": settings.topics.model_copy(update={"cdc": {**settings.topics.cdc, **avro_cdc.topics}})
        }
    )
    avro_events = decode_all(avro_settings, msgs, RegistryClient(settings.registry.client_config()))
    json_msgs = read_keyed(settings, f"{system}.public.{name}", key, expected=4)
    json_events = decode_all(settings, json_msgs)
    assert [e.op if e else None for e in avro_events] == ["c", "u", "d", "d"]
    assert list(map(_same_change, avro_events)) == list(map(_same_change, json_events))
    c_ev, u_ev, d_ev, tomb = avro_events
    assert c_ev and u_ev and d_ev
    assert_tombstone_deletes(tomb, key)
    assert d_ev.row is not None and all(getattr(d_ev.row, c) == key[c] for c in key_cols)
    if table == "crm.customers":
        assert type(u_ev.before) is ev.Customer and u_ev.before.loyalty_tier == "silver"
        assert type(u_ev.after) is ev.Customer and u_ev.after.loyalty_tier == "gold"
    if table == "inventory.stock_levels":
        assert type(u_ev.after) is ev.StockLevel and u_ev.after.quantity == 3
        assert c_ev.after == dataclasses.replace(u_ev.after, quantity=7)

    # confluent-kafka's own AvroDeserializer reads them too, into the envelope the JSON
    # connector wrote: the same before, after and op, column for column.
    deserialize = AvroDeserializer(SchemaRegistryClient(settings.registry.client_config()))
    for am, jm in zip(msgs[:3], json_msgs[:3], strict=True):
        a = deserialize(am.value(), SerializationContext(topic, MessageField.VALUE))
        j = json.loads(jm.value())
        assert {f: a[f] for f in ("op", "before", "after")} == {f: j[f] for f in ("op", "before", "after")}
        assert (a["source"]["db"], a["source"]["table"], a["source"]["lsn"]) == (
            system,
            name,
            j["source"]["lsn"],
        )
    if table in FULL:
        assert u_ev.before == c_ev.after


def _latest_version(registry_url: str, subject: str) -> dict[str, Any]:
    v3 = registry_url.replace("/apis/ccompat/v7", "/apis/registry/v3")
    meta: dict[str, Any] = httpx.get(
        f"{v3}/groups/default/artifacts/{subject}/versions/branch=latest", timeout=10
    ).json()
    return meta


def test_the_id_in_the_value_is_the_content_id_not_the_global_id(
    avro_cdc: AvroCdc, cdc: StackAddresses, settings: Settings
) -> None:
    """Two subjects, one schema: the registry keeps the content once, so the second subject's
    version gets a global id of its own and the first one's content id. Only the content id is
    what the ccompat API resolves (`/schemas/ids/{id}`), so that is what the value must carry.

    A second connector on crm.customers with the module's topic prefix (so the very same
    Connect schema names) whose records a RegexRouter sends to another topic does exactly that."""
    system, name = "crm", "customers"
    original = avro_cdc.topics[f"{system}.{name}"]
    copy = f"{original}.copy"
    run = uuid.uuid4().hex[:8]
    connector, slot = f"{avro_cdc.prefix}-copy-{run}", f"{SLOT_PREFIX}{run}_copy"
    conf = LOCAL.connector_config(system, topic_prefix=original.split(".")[0], slot=slot, fmt="avro")
    conf |= {
        "table.include.list": f"public.{name}",
        "snapshot.mode": "no_data",
        # its metrics MBeans are named by topic.prefix too: a tag tells them from the first one's
        "custom.metric.tags": f"copy={run}",
        "transforms": "copy",
        "transforms.copy.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.copy.regex": "(.*)",
        "transforms.copy.replacement": "$1.copy",
    }
    key_cols, make_row, _, _ = CASES[f"{system}.{name}"]
    try:
        r = httpx.put(f"{cdc.connect_url}/connectors/{connector}/config", json=conf, timeout=30)
        assert r.is_success, r.text
        wait_for_connectors(cdc.connect_url, [connector])
        _wait_streaming(cdc, [slot])
        row = make_row(f"avro-copy-{run}")
        sql(
            settings,
            system,
            f"INSERT INTO {name} ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
            tuple(row.values()),
        )
        key = {c: row[c] for c in key_cols}
        (a,) = read_keyed(settings, original, key, expected=1)
        (b,) = read_keyed(settings, copy, key, expected=1)
        first = _latest_version(settings.registry.url, f"{original}-value")
        second = _latest_version(settings.registry.url, f"{copy}-value")
        assert second["contentId"] == first["contentId"], "the same schema, kept once"
        assert second["globalId"] != second["contentId"], (first, second)

        a_value, b_value = a.value(), b.value()
        assert a_value is not None and b_value is not None
        assert struct.unpack_from(">bI", b_value) == (0, second["contentId"])
        assert struct.unpack_from(">bI", a_value) == (0, first["contentId"])
        ccompat = httpx.get(f"{settings.registry.url}/schemas/ids/{second['contentId']}", timeout=10).json()
        assert json.loads(ccompat["schema"])["namespace"] == original
        copy_topics = settings.topics.model_copy(
            update={"cdc": {**settings.topics.cdc, f"{system}.{name}": copy}}
        )
        (event,) = decode_all(
            settings.model_copy(update={"topics": copy_topics}),
            [b],
            RegistryClient(settings.registry.client_config()),
        )
        assert event is not None and event.op == "c" and type(event.after) is ev.Customer
        assert event.after.customer_id == row["customer_id"]
    finally:
        httpx.delete(f"{cdc.connect_url}/connectors/{connector}", timeout=30)
        _drop_slots(cdc, slot)
        sql(settings, system, f"DROP PUBLICATION IF EXISTS {slot}")
        admin = AdminClient({"bootstrap.servers": cdc.bootstrap_servers})
        if copy in admin.list_topics(timeout=10).topics:
            admin.delete_topics([copy], operation_timeout=30)[copy].result()
