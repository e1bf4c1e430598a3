"""The journey job's outputs: actions to `actions.<channel>`, journey events, keyed by
customer_id so that one customer's records stay in order, Avro with registry-assigned ids.

A Python stage makes each output JSON (orjson: a microsecond) and hands everything one input
caused to the JVM in one batch (`OutputEncoder.batch`); `OutputBatches` (Java) writes the Avro,
off the Python interpreter's lock: encoding a journey event in Python cost 18-28 us, and a record
causes about one. The schemas are registered when the job is built, so a registry that cannot
be reached stops the submission instead of the running job.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import orjson

from common.settings import Settings
from connectors.avro import SchemaSink, load_schema

VERSION = 2
_HEAD = bytes([VERSION])
_LEN = struct.Struct(">i")


def output_kinds(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """(topic, writer schema) of every output, in the order of their kind numbers."""
    t = settings.topics
    action = load_schema("action")
    return [
        *((topic, action) for topic in t.actions.values()),
        (t.journey_events, load_schema("journey_event")),
    ]


def register_outputs(settings: Settings, registry: SchemaSink) -> list[int]:
    """The schema id of every output (TopicNameStrategy), registered if new."""
    return [registry.register(f"{topic}-value", schema) for topic, schema in output_kinds(settings)]


class OutputEncoder:
    def __init__(self, settings: Settings) -> None:
        t = settings.topics
        self._kinds = {ch: bytes([i]) for i, ch in enumerate(t.actions)}
        self._events = bytes([len(t.actions)])

    @staticmethod
    def _piece(kind: bytes, record: Mapping[str, Any]) -> bytes:
        key = record["customer_id"].encode()
        body = orjson.dumps(record)
        return b"".join((kind, _LEN.pack(len(key)), key, _LEN.pack(len(body)), body))

    def action(self, record: Mapping[str, Any]) -> bytes:
        kind = self._kinds.get(record["channel"])
        if kind is None:
            raise ValueError(f"no topic for channel {record['channel']!r}; known: {sorted(self._kinds)}")
        return self._piece(kind, record)

    def journey_event(self, record: Mapping[str, Any]) -> bytes:
        return self._piece(self._events, record)

    @staticmethod
    def batch(pieces: list[bytes]) -> bytes:
        """One input's outputs, for `OutputBatches`."""
        return _HEAD + b"".join(pieces)
