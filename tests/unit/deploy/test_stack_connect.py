"""deploy/local/stack_connect.py: the connectors' configuration."""

from __future__ import annotations

from types import SimpleNamespace


def test_avro_values_go_in_the_confluent_wire_format_with_content_ids(local: SimpleNamespace) -> None:
    conf = local.connect.connector_config("crm", fmt="avro")
    assert conf["value.converter"] == "io.apicurio.registry.utils.converter.AvroConverter"
    assert "key.converter" not in conf, "keys stay the worker's JSON"
    registry = {
        k.removeprefix("value.converter."): v for k, v in conf.items() if k.startswith("value.converter.")
    }
    assert registry == {
        "apicurio.registry.url": f"http://127.0.0.1:{local.connect.REGISTRY_PORT}/apis/registry/v2",
        "apicurio.registry.auto-register": "true",
        "apicurio.registry.id-handler": "io.apicurio.registry.serde.Legacy4ByteIdHandler",
        "apicurio.registry.use-id": "contentId",
        "apicurio.registry.headers.enabled": "false",
    }
    assert not any(k.startswith("value.converter") for k in local.connect.connector_config("crm", fmt="json"))


def test_a_change_waits_no_more_than_a_short_poll_for_connect(local: SimpleNamespace) -> None:
    assert int(local.connect.connector_config("crm", fmt="json")["poll.interval.ms"]) <= 100
