"""Kafka sources and sinks for the DataStream API, built from settings.

Records cross into Python as raw ``bytes``: decoding happens in our own code, where a bad
record can go to the dead-letter topic instead of failing the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyflink.common import Types, WatermarkStrategy
from pyflink.common.serialization import ByteArraySchema
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaRecordSerializationSchema,
    KafkaSink,
    KafkaSource,
)

from journeyctl.settings import DeliveryMode, Settings

#: A source puts a stream into an environment; tests pass one built from a collection.
SourceFactory = Callable[[StreamExecutionEnvironment], DataStream]
#: A sink takes a stream and attaches where it goes.
SinkFactory = Callable[[DataStream], None]

BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())


@dataclass(frozen=True)
class KafkaBytesSource:
    """Value bytes from one or more topics, from the earliest offset of a new consumer group."""

    settings: Settings
    topics: tuple[str, ...]
    name: str
    #: Stop at the offsets that are the latest when the job starts (replays, tests, the demo).
    bounded: bool = False

    def __call__(self, env: StreamExecutionEnvironment) -> DataStream:
        builder = (
            KafkaSource.builder()
            .set_bootstrap_servers(self.settings.kafka.bootstrap_servers)
            .set_topics(*self.topics)
            .set_group_id(self.settings.consumer_group)
            .set_starting_offsets(
                KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST)
            )
            .set_value_only_deserializer(ByteArraySchema())
            # Only committed records of upstream transactional producers are inputs.
            .set_property("isolation.level", "read_committed")
            .set_property("partition.discovery.interval.ms", "10000")
        )
        for k, v in self.settings.kafka.java_properties().items():
            if k != "bootstrap.servers":
                builder.set_property(k, v)
        if self.bounded:
            builder.set_bounded(KafkaOffsetsInitializer.latest())
        return env.from_source(
            builder.build(), WatermarkStrategy.no_watermarks(), self.name, type_info=BYTES
        ).uid(f"source-{self.name}")


@dataclass(frozen=True)
class KafkaBytesSink:
    """Value bytes to one topic, exactly-once (transactions) or at-least-once as settings say."""

    settings: Settings
    topic: str
    name: str

    def build(self) -> KafkaSink:
        serializer = (
            KafkaRecordSerializationSchema.builder()
            .set_topic(self.topic)
            .set_value_serialization_schema(ByteArraySchema())
            .build()
        )
        sink = self.settings.sink
        builder = (
            KafkaSink.builder()
            .set_bootstrap_servers(self.settings.kafka.bootstrap_servers)
            .set_record_serializer(serializer)
        )
        for k, v in self.settings.kafka.java_properties().items():
            if k != "bootstrap.servers":
                builder.set_property(k, v)
        if sink.delivery is DeliveryMode.EXACTLY_ONCE:
            builder.set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            # one prefix per sink: two sinks of a job must not share transactional ids
            builder.set_transactional_id_prefix(f"{sink.transactional_id_prefix}-{self.name}")
            builder.set_property("transaction.timeout.ms", str(sink.transaction_timeout_ms))
        else:
            builder.set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        return builder.build()

    def __call__(self, stream: DataStream) -> None:
        stream.sink_to(self.build()).uid(f"sink-{self.name}").name(f"sink: {self.topic}")
