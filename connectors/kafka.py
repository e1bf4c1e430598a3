"""Kafka sources and sinks for the DataStream API, built from settings.

Whole records cross into Python as one byte array each (connectors/records.py): decoding
happens in our own code, where a bad record can go to the dead-letter topic with its topic,
partition and offset instead of failing the job. Outputs leave Python the same way, carrying
their topic and key, so one transactional sink can write actions and journey events together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyflink.common import Types, WatermarkStrategy
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import (
    KafkaOffsetResetStrategy,
    KafkaOffsetsInitializer,
    KafkaSink,
    KafkaSource,
)
from pyflink.java_gateway import get_gateway

from common.settings import DeliveryMode, Settings

#: A source puts a stream of input frames into an environment; tests may pass one from a collection.
SourceFactory = Callable[[StreamExecutionEnvironment], DataStream]
#: A sink takes a stream of output frames and attaches where they go.
SinkFactory = Callable[[DataStream], None]

BYTES = Types.PRIMITIVE_ARRAY(Types.BYTE())


@dataclass(frozen=True)
class KafkaRecordSource:
    """Whole records (input frames) from one or more topics.

    A new consumer group starts at the earliest offset; a restored job resumes from its
    checkpointed offsets whatever the group says.
    """

    settings: Settings
    topics: tuple[str, ...]
    name: str
    #: Stop at the offsets that are the latest when the job starts (replays, tests, the demo).
    bounded: bool = False
    #: Journey-time watermarks (see `journey_time`); without, the stream has no event time.
    journey_time: tuple[int, int, int] | None = None

    def __call__(self, env: StreamExecutionEnvironment) -> DataStream:
        jvm = get_gateway().jvm
        builder = (
            KafkaSource.builder()
            .set_bootstrap_servers(self.settings.kafka.bootstrap_servers)
            .set_topics(*self.topics)
            .set_group_id(self.settings.consumer_group)
            .set_starting_offsets(
                KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST)
            )
            # Only committed records of upstream transactional producers are inputs.
            .set_property("isolation.level", "read_committed")
            .set_property("partition.discovery.interval.ms", "10000")
        )
        builder._j_builder.setDeserializer(jvm.io.journeys.flink.RecordFrameDeserializer())
        for k, v in self.settings.kafka.java_properties().items():
            if k != "bootstrap.servers":
                builder.set_property(k, v)
        if self.bounded:
            builder.set_bounded(KafkaOffsetsInitializer.latest())
        watermarks = (
            WatermarkStrategy.no_watermarks()
            if self.journey_time is None
            else journey_time(
                *self.journey_time,
                follow=not self.bounded,
                kafka=self.settings.kafka.java_properties(),
                topics=self.topics,
                group=self.settings.consumer_group,
                readers=self.settings.flink.parallelism,
            )
        )
        return env.from_source(builder.build(), watermarks, self.name, type_info=BYTES).uid(
            f"source-{self.name}"
        )


def journey_time(
    out_of_orderness_ms: int,
    idle_ms: int,
    startup_ms: int,
    follow: bool = True,
    kafka: dict[str, str] | None = None,
    topics: tuple[str, ...] = (),
    group: str | None = None,
    readers: int = 0,
) -> WatermarkStrategy:
    """Watermarks per partition from the records' Kafka timestamps, which producers set to the
    event's own time (our replay tools do; Debezium and collectors stamp when the change or click
    reached them). They follow those timestamps while records flow and wall-clock time from the
    last record when a partition goes quiet (`WallClockWatermarks`, Java), so a replay runs in
    event time and a live wait fires with no new traffic; a partition that has had nothing for
    `idle_ms` (`startup_ms` if it has delivered nothing since it was assigned) never holds the
    others back. Per partition, a backlog replays in order: no timer
    fires before every partition has passed its time.

    `follow`: a partition quiet for `idle_ms` follows the source's most advanced one, so that a
    table changed hours ago does not hold an unbounded job's clicks back by hours. A bounded run
    (`follow` false) is in event time alone, with no wall time and no idleness: each partition
    holds journey time at its newest record until it delivers more or finishes, and the last
    watermark fires every wait. Its decisions then do not depend on how fast it runs (a cold
    start that was slow to fetch the stock snapshot made every cart read as sold out).

    `kafka` (client properties): the broker is asked where each partition's log ends, so that
    wall time and following move a partition's journey time only once it has delivered all it
    has; a partition whose backlog the consumer has not come to yet holds journey time at its
    newest record, and its records are not late when they come. With the source's `topics`,
    consumer `group` and parallelism (`readers`), a partition that has delivered nothing waits
    while one its reader owns has records past the start and has not delivered them yet.
    """
    gateway = get_gateway()
    properties = None
    if kafka is not None:
        properties = gateway.jvm.java.util.HashMap()
        for k, v in kafka.items():
            properties.put(k, v)
    strategy = gateway.jvm.io.journeys.flink.WallClockWatermarks.strategy(
        out_of_orderness_ms, idle_ms, startup_ms, follow, properties, ",".join(topics), group, readers
    )
    return WatermarkStrategy(strategy)


@dataclass(frozen=True)
class KafkaRecordSink:
    """Output frames to the topics they name (and only to `topics`), with their keys.

    Exactly-once (Kafka transactions committed on checkpoints) or at-least-once, as settings say.
    """

    settings: Settings
    topics: tuple[str, ...]
    name: str

    def build(self) -> KafkaSink:
        jvm = get_gateway().jvm
        sink = self.settings.sink
        builder = KafkaSink.builder().set_bootstrap_servers(self.settings.kafka.bootstrap_servers)
        # The Python builder's set_record_serializer inspects fields our Java class does not have.
        builder._j_builder.setRecordSerializer(
            jvm.io.journeys.flink.RecordFrameSerializer(",".join(self.topics))
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
        stream.sink_to(self.build()).uid(f"sink-{self.name}").name(f"sink: {self.name}")


def sink_for(settings: Settings, name: str, topics: Iterable[str]) -> KafkaRecordSink:
    return KafkaRecordSink(settings, tuple(dict.fromkeys(topics)), name)


@dataclass(frozen=True)
class OutputBatchSink:
    """Output batches of the journey stage (`connectors.outputs`) into Avro output frames in the
    JVM (`OutputBatches`), then into `sink`. The schemas are registered now, when the job is
    built: the job graph carries their ids."""

    settings: Settings
    sink: KafkaRecordSink

    def __call__(self, stream: DataStream) -> None:
        from connectors.avro import RegistryClient
        from connectors.outputs import output_kinds, register_outputs

        jvm = get_gateway().jvm
        kinds = output_kinds(self.settings)
        r = self.settings.registry
        ids = register_outputs(self.settings, RegistryClient(r.client_config(), wait_s=r.wait_s))
        gateway = get_gateway()
        topics = gateway.new_array(jvm.String, len(kinds))
        schemas = gateway.new_array(jvm.String, len(kinds))
        j_ids = gateway.new_array(jvm.int, len(kinds))
        for i, ((topic, schema), sid) in enumerate(zip(kinds, ids, strict=True)):
            topics[i], schemas[i], j_ids[i] = topic, json.dumps(schema), sid
        encode = jvm.io.journeys.flink.OutputBatches(topics, schemas, j_ids)
        j_frames = stream._j_data_stream.flatMap(encode, BYTES.get_java_type_info())
        j_frames.uid(f"encode-{self.sink.name}").name(f"encode {self.sink.name} (Avro)")
        self.sink(DataStream(j_frames))


def journey_sinks(settings: Settings) -> tuple[OutputBatchSink, KafkaRecordSink]:
    """Actions and journey events through one transactional sink (they commit together), and
    dead letters through their own."""
    t = settings.topics
    return (
        OutputBatchSink(
            settings, sink_for(settings, "journey-outputs", [*t.actions.values(), t.journey_events])
        ),
        sink_for(settings, "dead-letters", [t.dead_letter]),
    )
