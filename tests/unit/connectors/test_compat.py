from __future__ import annotations

import copy
from typing import Any

import pytest

from connectors.avro import load_schema
from connectors.compat import backward_errors

BASE: dict[str, Any] = {
    "type": "record",
    "name": "A",
    "namespace": "t",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "n", "type": "int"},
        {
            "name": "tags",
            "type": {
                "type": "array",
                "items": {"type": "record", "name": "Tag", "fields": [{"name": "k", "type": "string"}]},
            },
        },
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["X", "Y"]}},
        {"name": "opt", "type": ["null", "string"], "default": None},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}


def _with(mutate: Any) -> dict[str, Any]:
    s = copy.deepcopy(BASE)
    mutate(s)
    return s


def _field(s: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in s["fields"] if f["name"] == name)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s["fields"].append({"name": "v", "type": ["null", "string"], "default": None}),
        lambda s: s["fields"].append({"name": "w", "type": "int", "default": 0}),
        lambda s: s["fields"].pop(1),  # readers ignore what the writer has and they do not
        lambda s: _field(s, "n").__setitem__("type", "long"),  # promotion
        lambda s: _field(s, "id").__setitem__("type", ["null", "string"]),  # widened to a union
        lambda s: _field(s, "kind")["type"]["symbols"].append("Z"),
        lambda s: _field(s, "tags")["type"]["items"]["fields"].append(
            {"name": "v", "type": "string", "default": ""}
        ),
        lambda s: _field(s, "n").update({"name": "count", "aliases": ["n"]}),
    ],
)
def test_backward_compatible_changes(mutate: Any) -> None:
    assert backward_errors(_with(mutate), BASE) == []


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda s: s["fields"].append({"name": "v", "type": "string"}), ".v: new field without a default"),
        (lambda s: _field(s, "n").__setitem__("type", "string"), ".n: type changed from int to string"),
        (lambda s: _field(s, "at").__setitem__("type", "int"), ".at: type changed from long to int"),
        (lambda s: _field(s, "opt").__setitem__("type", "string"), ".opt: type changed from null to string"),
        (lambda s: _field(s, "kind")["type"]["symbols"].remove("Y"), "enum symbols removed"),
        (
            lambda s: _field(s, "tags")["type"]["items"]["fields"].append({"name": "v", "type": "string"}),
            ".tags[].v: new field without a default",
        ),
        (lambda s: _field(s, "n").__setitem__("name", "count"), ".count: new field without a default"),
    ],
)
def test_breaking_changes_are_named(mutate: Any, needle: str) -> None:
    errors = backward_errors(_with(mutate), BASE)
    assert any(needle in e for e in errors), errors


@pytest.mark.parametrize(
    "name", ["action", "journey_event", "dead_letter", "channel_feedback", "clickstream_event"]
)
def test_every_owned_schema_reads_itself(name: str) -> None:
    schema = load_schema(name)
    assert backward_errors(schema, schema) == []
