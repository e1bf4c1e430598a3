"""The JVM writes the outputs' Avro from their JSON (`JsonAvroWriter`, `OutputBatches`): byte for
byte what fastavro writes from the same record, for every action and journey event the shop day
and its nights produce, and for records at the edges of the schemas."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import orjson
import pytest
from pyflink.java_gateway import get_gateway

from common.settings import Settings
from connectors.avro import load_schema
from connectors.examples import ACTION, JOURNEY_EVENT
from connectors.outputs import OutputEncoder, output_kinds
from jobs.environment import create_environment
from jobs.simulate import Simulation, parse_records
from journeyctl.sample_data import shop_day
from journeyctl.sample_night import shop_night
from journeys.loader import load_dir

pytestmark = pytest.mark.integration


def _fastavro(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


def _jvm(settings: Settings) -> Any:
    create_environment(settings)  # the project's jar on the gateway's class path
    return get_gateway().jvm.io.journeys.flink


def _records() -> list[tuple[str, dict[str, Any]]]:
    sim = Simulation(load_dir())
    sim.run(parse_records([*shop_day(), *shop_night()]), drain_ms=365 * 86_400_000)
    edge_action = {
        **ACTION,
        "items": [{**ACTION["items"][0], "price": 129, "name": "Jacke für Ü-Wetter ☔", "stock": None}],
        "alternatives": [
            {"sku": "S2", "name": None, "category": None, "price": None, "quantity": 1, "stock": 0}
        ],
        "store": None,
        "variant": None,
        "attributes": {"new_eta": "2026-12-07", "€": "ä"},
        "expires_at": 1_763_896_443_120_000,
    }
    edge_event = {**JOURNEY_EVENT, "revenue": 99, "wait_until": -1, "attributes": {"to": "decide"}}
    return (
        [("action", a) for a in sim.actions]
        + [("journey_event", e) for e in sim.journey_events]
        + [("action", edge_action), ("journey_event", edge_event)]
    )


def test_the_jvm_writes_what_fastavro_writes(settings: Settings) -> None:
    flink = _jvm(settings)
    schemas = {name: load_schema(name) for name in ("action", "journey_event")}
    writers = {name: flink.JsonAvroWriter(json.dumps(s)) for name, s in schemas.items()}
    records = _records()
    assert len(records) > 100
    for name, record in records:
        got = bytes(writers[name].write(orjson.dumps(record)))
        assert got == _fastavro(schemas[name], record), (name, record)


def test_an_output_batch_becomes_one_wire_format_frame_per_record(settings: Settings) -> None:
    flink = _jvm(settings)
    gateway = get_gateway()
    kinds = output_kinds(settings)
    topics = gateway.new_array(gateway.jvm.String, len(kinds))
    schemas = gateway.new_array(gateway.jvm.String, len(kinds))
    ids = gateway.new_array(gateway.jvm.int, len(kinds))
    for i, (topic, schema) in enumerate(kinds):
        topics[i], schemas[i], ids[i] = topic, json.dumps(schema), 100 + i
    batches = flink.OutputBatches(topics, schemas, ids)
    out = OutputEncoder(settings)
    push = {**ACTION, "channel": "push"}
    batch = OutputEncoder.batch([out.action(push), out.journey_event(JOURNEY_EVENT)])

    class Frames:
        got: list[bytes] = []

        def collect(self, frame: Any) -> None:
            self.got.append(bytes(frame))

        def close(self) -> None: ...

        class Java:
            implements = ["org.apache.flink.util.Collector"]

    frames = Frames()
    batches.flatMap(batch, frames)
    from connectors.records import read_output_frame

    (t1, k1, v1), (t2, k2, v2) = (read_output_frame(f) for f in frames.got)
    assert (t1, k1) == (settings.topics.actions["push"], b"c-42")
    assert v1[:5] == bytes([0, 0, 0, 0, 100 + list(settings.topics.actions).index("push")])
    assert v1[5:] == _fastavro(load_schema("action"), push)
    assert (t2, k2) == (settings.topics.journey_events, b"c-42")
    assert v2[5:] == _fastavro(load_schema("journey_event"), JOURNEY_EVENT)
