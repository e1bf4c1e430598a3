from __future__ import annotations

import io
import socket
import time

import fastavro
import pytest

from connectors.avro import (
    Encoder,
    LocalSchemas,
    RegistryClient,
    RegistryUnavailable,
    decode,
    load_schema,
    split_header,
)
from connectors.errors import MalformedAvro

FEEDBACK = {"action_id": "a", "customer_id": "c", "channel": "sms", "event": "clicked", "occurred_at": 5}


def test_the_schema_is_registered_once_under_the_topic_name_strategy() -> None:
    registry = LocalSchemas()
    enc = Encoder(registry, "channel-feedback", load_schema("channel_feedback"))
    first, second = enc.encode(FEEDBACK), enc.encode(FEEDBACK)
    assert registry.calls == 1
    assert registry.subjects == {"channel-feedback-value": [1]}
    schema_id, body = split_header(first)
    assert schema_id == 1 and first == second
    assert (
        fastavro.schemaless_reader(
            io.BytesIO(body), fastavro.parse_schema(load_schema("channel_feedback")), None
        )["event"]
        == "clicked"
    )


def test_decode_returns_the_record_and_refuses_non_wire_values() -> None:
    registry = LocalSchemas()
    wire = Encoder(registry, "channel-feedback", load_schema("channel_feedback")).encode(FEEDBACK)
    record, writer = decode(wire, registry)
    # written without `detail`: the schema's default fills it
    assert record == {**FEEDBACK, "detail": None} and writer["name"] == "ChannelFeedback"
    with pytest.raises(MalformedAvro):
        decode(b"\x01abc", registry)


@pytest.mark.parametrize(
    "name", ["action", "journey_event", "dead_letter", "channel_feedback", "clickstream_event"]
)
def test_every_schema_documents_every_field(name: str) -> None:
    schema = load_schema(name)
    assert schema["namespace"].startswith("io.journeys.")
    assert schema.get("doc")

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "record":
                assert node.get("doc"), f"record {node['name']} has no doc"
                for f in node["fields"]:
                    assert f.get("doc"), f"{name}: field {f['name']} has no doc"
                    walk(f["type"])
            else:
                for v in node.values():
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)


def test_a_registry_that_never_answers_is_asked_again_then_named_with_what_to_do() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/apis/ccompat/v7"
    client = RegistryClient({"url": url, "timeout": 1}, wait_s=1.5)
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable) as e:
        client.register("orders-value", {"type": "string"})
    assert time.monotonic() - started >= 1.5, "asked again until its patience ran out"
    assert url in str(e.value) and "JOURNEY_REGISTRY__URL" in str(e.value)
