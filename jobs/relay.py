"""The relay job: every record of one topic, through a Python operator, into another topic.

The smallest job that exercises everything the journey job stands on (Kafka source, whole
records across the Python boundary, a Python operator in thread mode, checkpoints, a
transactional sink). Deployments use it as a smoke test: if `journeyctl run relay` moves
records, the jars, Python and transactions are right. Keys and values are copied unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.functions import MapFunction, RuntimeContext

from common.settings import Settings
from connectors.kafka import BYTES, KafkaRecordSource, SinkFactory, SourceFactory, sink_for
from connectors.records import output_frame, read_frame


@dataclass(frozen=True)
class RelaySources:
    input: SourceFactory


@dataclass(frozen=True)
class RelaySinks:
    output: SinkFactory


class Relay(MapFunction):  # type: ignore[misc]
    """Readdresses each record to the output topic, key and value unchanged; counts them."""

    def __init__(self, output_topic: str) -> None:
        self._topic = output_topic

    def open(self, runtime_context: RuntimeContext) -> None:
        self._records = runtime_context.get_metrics_group().counter("relay_records")

    def map(self, frame: bytes) -> bytes:
        self._records.inc()
        record = read_frame(frame)
        return output_frame(self._topic, record.key, record.value or b"")


def build_pipeline(
    env: StreamExecutionEnvironment, sources: RelaySources, sinks: RelaySinks, settings: Settings
) -> DataStream:
    stream = sources.input(env)
    relayed = stream.map(Relay(settings.relay.output), output_type=BYTES).uid("relay-map").name("relay")
    sinks.output(relayed)
    return relayed


def kafka_connectors(settings: Settings, bounded: bool = False) -> tuple[RelaySources, RelaySinks]:
    topics = settings.relay
    return (
        RelaySources(KafkaRecordSource(settings, (topics.input,), "relay-input", bounded=bounded)),
        RelaySinks(sink_for(settings, "relay-output", [topics.output])),
    )


def topics(settings: Settings) -> list[str]:
    return [settings.relay.input, settings.relay.output]


def describe(settings: Settings) -> str:
    return f"{settings.relay.input} -> {settings.relay.output}"
