"""The schema registry accepts schemas through confluent-kafka's client and refuses breaking changes."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from common.settings import Settings

pytestmark = pytest.mark.integration

V1 = {
    "type": "record",
    "name": "Action",
    "namespace": "io.journeys.test",
    "fields": [{"name": "action_id", "type": "string"}, {"name": "customer_id", "type": "string"}],
}
# adding a field with a default: readers of v2 can read data written with v1
V2_COMPATIBLE = {
    **V1,
    "fields": [*V1["fields"], {"name": "variant", "type": ["null", "string"], "default": None}],
}
# adding a required field without default: v3 readers cannot read v1 data
V3_BREAKING = {**V1, "fields": [*V1["fields"], {"name": "channel", "type": "string"}]}


def _avro(schema: dict[str, object]) -> Schema:
    return Schema(json.dumps(schema), "AVRO")


def test_registry_accepts_compatible_and_refuses_breaking_change(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    client = SchemaRegistryClient(settings.registry.client_config())
    subject = unique("actions.email") + "-value"

    first_id = client.register_schema(subject, _avro(V1))
    assert client.register_schema(subject, _avro(V1)) == first_id, "same schema, same id"
    client.set_compatibility(subject, "BACKWARD")
    assert client.get_compatibility(subject) == "BACKWARD"

    assert client.test_compatibility(subject, _avro(V2_COMPATIBLE))
    second_id = client.register_schema(subject, _avro(V2_COMPATIBLE))
    assert second_id != first_id

    assert not client.test_compatibility(subject, _avro(V3_BREAKING))
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, _avro(V3_BREAKING))
    assert refused.value.http_status_code == 409

    latest = client.get_latest_version(subject)
    assert latest.schema_id == second_id
    assert json.loads(latest.schema.schema_str)["fields"][-1]["name"] == "variant"
    assert client.get_schema(first_id).schema_str is not None
