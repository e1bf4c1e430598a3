"""The ingest job: every input topic decoded and validated, typed events out as JSON.

It runs the journey job's decode stage on its own: point it at a new source to see what the
engine would get and what goes to the dead-letter topic, without running any journey.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.functions import MapFunction

from common.events import ChangeEvent, ClickEvent, Event
from common.settings import Settings
from connectors.kafka import BYTES, KafkaRecordSource, SinkFactory, SourceFactory, sink_for
from connectors.records import output_frame
from jobs.stages.decode import decode


@dataclass(frozen=True)
class IngestSources:
    inputs: SourceFactory


@dataclass(frozen=True)
class IngestSinks:
    events: SinkFactory
    dead_letters: SinkFactory


def event_key(event: Event) -> str:
    if type(event) is ClickEvent:
        return event.user_id or ""
    if type(event) is ChangeEvent:
        row = event.row
        return str(getattr(row, "customer_id", None) or getattr(row, "sku", "") or "")
    return str(getattr(event, "customer_id", ""))


class ToJson(MapFunction):  # type: ignore[misc]
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def map(self, event: Event) -> bytes:
        body = orjson.dumps({"kind": type(event).__name__, "event": event})
        return output_frame(self._topic, event_key(event).encode(), body)


def build_pipeline(
    env: StreamExecutionEnvironment, sources: IngestSources, sinks: IngestSinks, settings: Settings
) -> DataStream:
    events, dead_letters = decode(sources.inputs(env), settings, job="ingest")
    sinks.dead_letters(dead_letters)
    as_json = (
        events.map(ToJson(settings.topics.decoded), output_type=BYTES).uid("ingest-json").name("to JSON")
    )
    sinks.events(as_json)
    return events


def kafka_connectors(settings: Settings, bounded: bool = False) -> tuple[IngestSources, IngestSinks]:
    t = settings.topics
    return (
        IngestSources(KafkaRecordSource(settings, tuple(t.inputs()), "inputs", bounded=bounded)),
        IngestSinks(
            sink_for(settings, "ingest-events", [t.decoded]),
            sink_for(settings, "ingest-dead-letters", [t.dead_letter]),
        ),
    )


def topics(settings: Settings) -> list[str]:
    t = settings.topics
    return [*t.inputs(), t.decoded, t.dead_letter]


def describe(settings: Settings) -> str:
    t = settings.topics
    return f"{len(t.inputs())} input topics -> {t.decoded} (JSON), bad records -> {t.dead_letter}"
