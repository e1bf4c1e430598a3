"""Avro in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, body), with
schemas from the registry, cached by id and by subject.

Writer schemas are registered under the TopicNameStrategy (`<topic>-value`) once per process;
reader lookups by id are cached, and an id the registry does not know is remembered for a
while so that a burst of bad records does not become a burst of HTTP calls.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import fastavro
import orjson
from fastavro.types import Schema as ParsedSchema

from connectors.errors import MalformedAvro, MalformedJson, UnknownSchemaId

MAGIC = 0
HEADER = struct.Struct(">bI")
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")


def is_wire_format(value: bytes) -> bool:
    return len(value) >= 5 and value[0] == MAGIC


def split_header(value: bytes) -> tuple[int, memoryview]:
    if len(value) < 5 or value[0] != MAGIC:
        raise MalformedAvro("not in the Confluent wire format (magic byte 0 and a 4-byte schema id)")
    return HEADER.unpack_from(value)[1], memoryview(value)[5:]


def load_schema(name: str) -> dict[str, Any]:
    """A schema of this project by file stem, e.g. `action`, as JSON."""
    schema: dict[str, Any] = json.loads((SCHEMAS_DIR / f"{name}.avsc").read_text())
    return schema


def _without_logical_types(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_logical_types(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_without_logical_types(v) for v in node]
    return node


def reader_schema(raw: Mapping[str, Any]) -> ParsedSchema:
    """A writer schema parsed for decoding to plain values: timestamps stay epoch-millis ints
    (what the events carry) instead of becoming datetimes, which is also cheaper."""
    return fastavro.parse_schema(_without_logical_types(dict(raw)))


class SchemaSource(Protocol):
    """What the decoders need of a registry: the writer schema of an id."""

    def writer_schema(self, schema_id: int) -> tuple[ParsedSchema, dict[str, Any]]: ...


class SchemaSink(Protocol):
    """What the encoders need of a registry: the id of a schema under a subject."""

    def register(self, subject: str, schema: Mapping[str, Any]) -> int: ...


class LocalSchemas:
    """A registry held in memory, for work without one: benchmarks, offline replays, unit tests.

    Ids are assigned in order of first registration; the same schema text gets the same id.
    """

    def __init__(self) -> None:
        self.schemas: dict[int, dict[str, Any]] = {}
        self.subjects: dict[str, list[int]] = {}
        self.calls = 0
        self._ids: dict[str, int] = {}
        self._parsed: dict[int, ParsedSchema] = {}

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        self.calls += 1
        text = json.dumps(schema, sort_keys=True)
        sid = self._ids.get(text)
        if sid is None:
            sid = self._ids[text] = len(self._ids) + 1
            self.schemas[sid] = json.loads(text)
        self.subjects.setdefault(subject, []).append(sid)
        return sid

    def writer_schema(self, schema_id: int) -> tuple[ParsedSchema, dict[str, Any]]:
        raw = self.schemas.get(schema_id)
        if raw is None:
            raise UnknownSchemaId(f"schema id {schema_id} is not in the registry")
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            parsed = self._parsed[schema_id] = reader_schema(raw)
        return parsed, raw


class RegistryUnavailable(RuntimeError):
    """The registry cannot be used with these settings; the message says what to change."""


def explain_registry(url: str, error: Exception) -> str:
    """What went wrong asking the registry, and what to do about it; never a secret."""
    status = getattr(error, "http_status_code", None)
    if status in (401, 403):
        return (
            f"the schema registry at {url} refused the request (HTTP {status}): check "
            "JOURNEY_REGISTRY__BASIC_AUTH_USER and JOURNEY_REGISTRY__BASIC_AUTH_PASSWORD "
            "(or JOURNEY_REGISTRY__BASIC_AUTH_PASSWORD_FILE)"
        )
    return (
        f"cannot use the schema registry at {url}: {type(error).__name__}: {error}. Start it "
        "(`make stack-up` for the local one) or set JOURNEY_REGISTRY__URL"
    )


class RegistryClient:
    """confluent-kafka's SchemaRegistryClient with the caches the hot path needs.

    Registering (when a job is built) waits up to `wait_s` for a registry that does not answer
    yet, as one restarting does; a refused login fails at once. Either ends in
    `RegistryUnavailable`, which says what to change."""

    def __init__(self, config: Mapping[str, Any], negative_ttl_s: float = 30.0, wait_s: float = 60.0) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self._client = SchemaRegistryClient(dict(config))
        self._url = str(config.get("url", ""))
        self._wait_s = wait_s
        self._by_id: dict[int, tuple[ParsedSchema, dict[str, Any]]] = {}
        self._missing: dict[int, float] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self._negative_ttl_s = negative_ttl_s

    def writer_schema(self, schema_id: int) -> tuple[ParsedSchema, dict[str, Any]]:
        hit = self._by_id.get(schema_id)
        if hit is not None:
            return hit
        until = self._missing.get(schema_id)
        if until is not None and until > time.monotonic():
            raise UnknownSchemaId(f"schema id {schema_id} is not in the registry")
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        # A registry that does not answer is asked again, then RegistryUnavailable: the record
        # is good, and dead-lettering it would lose it; the task fails and Flink retries it
        # from the last checkpoint once the registry is back. Only "no such id" is the record's.
        try:
            schema = self._patiently(lambda: self._client.get_schema(schema_id))
        except SchemaRegistryError as e:
            if e.http_status_code == 404:
                self._missing[schema_id] = time.monotonic() + self._negative_ttl_s
                raise UnknownSchemaId(f"schema id {schema_id} is not in the registry") from None
            raise
        raw = json.loads(schema.schema_str or "null")
        entry = (reader_schema(raw), raw)
        self._by_id[schema_id] = entry
        return entry

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        from confluent_kafka.schema_registry import Schema

        text = json.dumps(schema, sort_keys=True)
        key = (subject, text)
        hit = self._ids.get(key)
        if hit is None:
            hit = self._ids[key] = self._patiently(
                lambda: self._client.register_schema(subject, Schema(text, "AVRO"))
            )
        return hit

    def _patiently(self, call: Callable[[], _T]) -> _T:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        httpx = _registry_http()

        deadline = time.monotonic() + self._wait_s
        pause = 0.5
        while True:
            try:
                return call()
            except SchemaRegistryError as e:
                if e.http_status_code in (401, 403):
                    raise RegistryUnavailable(explain_registry(self._url, e)) from None
                if e.http_status_code < 500:
                    raise
                if time.monotonic() >= deadline:
                    raise RegistryUnavailable(explain_registry(self._url, e)) from None
                error: Exception = e
            except httpx.TransportError as e:
                if time.monotonic() >= deadline:
                    raise RegistryUnavailable(explain_registry(self._url, e)) from None
                error = e
            _LOG.warning("%s; trying again in %.1f s", explain_registry(self._url, error), pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)

    def set_compatibility(self, subject: str, level: str) -> None:
        self._client.set_compatibility(subject, level)

    def test_compatibility(self, subject: str, schema: Mapping[str, Any]) -> bool:
        from confluent_kafka.schema_registry import Schema

        ok: bool = self._client.test_compatibility(subject, Schema(json.dumps(schema), "AVRO"))
        return ok

    def latest(self, subject: str) -> dict[str, Any] | None:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            latest = self._client.get_latest_version(subject)
        except SchemaRegistryError as e:
            if e.http_status_code == 404:
                return None
            raise
        found: dict[str, Any] = json.loads(latest.schema.schema_str or "null")
        return found


def decode(value: bytes, schemas: SchemaSource) -> tuple[Any, dict[str, Any]]:
    """The record of a wire-format value and the writer schema it was written with."""
    schema_id, body = split_header(value)
    parsed, raw = schemas.writer_schema(schema_id)
    buf = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(buf, parsed, None)
    except (
        EOFError,
        StopIteration,
        ValueError,
        IndexError,
        UnicodeDecodeError,
        OverflowError,
        TypeError,
        KeyError,
        struct.error,
        MemoryError,
    ) as e:
        raise MalformedAvro(
            f"Avro body does not match schema id {schema_id}: {type(e).__name__}: {e}"[:300]
        ) from None
    if buf.tell() != len(body):
        raise MalformedAvro(
            f"{len(body) - buf.tell()} bytes left after the Avro record (schema id {schema_id})"
        )
    return record, raw


def avro_or_json(value: bytes, schemas: SchemaSource) -> Any:
    """A value in the Confluent wire format decoded with its writer schema, or else as JSON: the
    two encodings this project's own records (actions, feedback) may come in."""
    if is_wire_format(value):
        return decode(value, schemas)[0]
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise MalformedJson(f"not JSON: {e}"[:300]) from None


class Encoder:
    """Encodes records of one schema for one topic, registering the schema on first use."""

    def __init__(self, registry: SchemaSink, topic: str, schema: Mapping[str, Any]) -> None:
        self.topic = topic
        self.subject = f"{topic}-value"
        self._schema = dict(schema)
        self._parsed = fastavro.parse_schema(self._schema)
        self._registry = registry
        self._header: bytes | None = None

    def encode(self, record: Mapping[str, Any]) -> bytes:
        if self._header is None:
            self._header = HEADER.pack(MAGIC, self._registry.register(self.subject, self._schema))
        buf = io.BytesIO()
        buf.write(self._header)
        fastavro.schemaless_writer(buf, self._parsed, record)
        return buf.getvalue()


def _registry_http() -> Any:
    """The registry client's own HTTP library: httpx or its fork, whichever confluent-kafka found
    (2.13 and later); plain httpx before that (the benchmark's Quix Streams venv pins 2.12)."""
    try:
        from confluent_kafka.schema_registry.common import _httpx_compat
    except ImportError:
        import httpx

        return httpx
    return _httpx_compat.httpx
