"""In-memory stand-ins for unit tests only; integration and e2e tests use the real registry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastavro.types import Schema as ParsedSchema

from connectors.avro import reader_schema
from connectors.errors import UnknownSchemaId


class InMemoryRegistry:
    def __init__(self) -> None:
        self.schemas: dict[int, dict[str, Any]] = {}
        self.subjects: dict[str, list[int]] = {}
        self.calls = 0

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        self.calls += 1
        text = json.dumps(schema, sort_keys=True)
        known = {json.dumps(s, sort_keys=True): i for i, s in self.schemas.items()}
        sid = known.get(text) or len(self.schemas) + 1
        self.schemas[sid] = json.loads(text)
        self.subjects.setdefault(subject, []).append(sid)
        return sid

    def writer_schema(self, schema_id: int) -> tuple[ParsedSchema, dict[str, Any]]:
        if schema_id not in self.schemas:
            raise UnknownSchemaId(f"schema id {schema_id} is not in the registry")
        raw = self.schemas[schema_id]
        return reader_schema(raw), raw
