"""The relay job: every record of one topic, through a Python operator, into another topic.

The smallest job that exercises everything the journey job stands on (Kafka source, a Python
operator in thread mode, checkpoints, a transactional sink). Deployments use it as a smoke
test: if `journeyctl run relay` moves records, the jars, Python and transactions are right.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.functions import MapFunction, RuntimeContext

from connectors.kafka import BYTES, KafkaBytesSink, KafkaBytesSource, SinkFactory, SourceFactory
from journeyctl.settings import Settings


@dataclass(frozen=True)
class RelaySources:
    input: SourceFactory


@dataclass(frozen=True)
class RelaySinks:
    output: SinkFactory


class CountingIdentity(MapFunction):  # type: ignore[misc]
    """Passes bytes on unchanged and counts them in the job's metrics (`relay_records`)."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self._records = runtime_context.get_metrics_group().counter("relay_records")

    def map(self, value: bytes) -> bytes:
        self._records.inc()
        return value


def build_pipeline(
    env: StreamExecutionEnvironment, sources: RelaySources, sinks: RelaySinks, settings: Settings
) -> DataStream:
    stream = sources.input(env)
    relayed = stream.map(CountingIdentity(), output_type=BYTES).uid("relay-map").name("relay")
    sinks.output(relayed)
    return relayed


def kafka_connectors(settings: Settings, bounded: bool = False) -> tuple[RelaySources, RelaySinks]:
    topics = settings.relay
    return (
        RelaySources(KafkaBytesSource(settings, (topics.input,), "relay-input", bounded=bounded)),
        RelaySinks(KafkaBytesSink(settings, topics.output, "relay-output")),
    )
