"""The job's outputs as output frames: actions to `actions.<channel>`, journey events, keyed by
customer_id so that one customer's records stay in order, Avro with registry-assigned ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.settings import Settings
from connectors.avro import Encoder, SchemaSink, load_schema
from connectors.records import output_frame


class OutputEncoder:
    def __init__(self, settings: Settings, registry: SchemaSink) -> None:
        t = settings.topics
        action = load_schema("action")
        self._actions = {ch: Encoder(registry, topic, action) for ch, topic in t.actions.items()}
        self._events = Encoder(registry, t.journey_events, load_schema("journey_event"))

    def action(self, record: Mapping[str, Any]) -> bytes:
        encoder = self._actions.get(record["channel"])
        if encoder is None:
            raise ValueError(f"no topic for channel {record['channel']!r}; known: {sorted(self._actions)}")
        return output_frame(encoder.topic, record["customer_id"].encode(), encoder.encode(record))

    def journey_event(self, record: Mapping[str, Any]) -> bytes:
        return output_frame(self._events.topic, record["customer_id"].encode(), self._events.encode(record))
