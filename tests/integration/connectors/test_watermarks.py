"""Journey-time watermarks (`WallClockWatermarks`, Java) driven directly through the JVM.

A bounded run is in event time alone, so that its decisions do not depend on how fast it runs;
an unbounded one follows wall-clock time when a partition goes quiet, so that live waits fire.
"""

from __future__ import annotations

import itertools
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from pyflink.common import Row, Types
from pyflink.datastream.functions import ProcessFunction
from pyflink.java_gateway import get_gateway

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.kafka import KafkaRecordSource, journey_time
from connectors.records import read_frame
from jobs.environment import create_environment

pytestmark = pytest.mark.integration

T0 = 1_795_424_400_000


class Output:
    """A WatermarkOutput implemented in Python (py4j calls back into it)."""

    def __init__(self) -> None:
        self.watermarks: list[int] = []
        self.idle = False

    def emitWatermark(self, watermark: Any) -> None:
        self.watermarks.append(watermark.getTimestamp())

    def markIdle(self) -> None:
        self.idle = True

    def markActive(self) -> None:
        self.idle = False

    class Java:
        implements = ["org.apache.flink.api.common.eventtime.WatermarkOutput"]


def generator(settings: Settings, follow: bool, idle_ms: int = 50, startup_ms: int = 100) -> Any:
    return strategy(settings, follow, idle_ms, startup_ms).createWatermarkGenerator(None)


def strategy(settings: Settings, follow: bool, idle_ms: int, startup_ms: int, **source: Any) -> Any:
    """The Java strategy the job's source gets (`connectors.kafka.journey_time`); `source`: its
    Kafka properties, topics, group and parallelism, as `KafkaRecordSource` passes them."""
    create_environment(settings)  # puts the project's jar on the gateway's class path
    return journey_time(2000, idle_ms, startup_ms, follow, **source)._j_watermark_strategy


def frame(topic: str, partition: int, offset: int, ts: int) -> bytes:
    """A record as RecordFrameDeserializer frames it, with no key and no value."""
    name = topic.encode()
    return struct.pack(f">BH{len(name)}siqqii", 1, len(name), name, partition, offset, ts, -1, -1)


def test_a_bounded_partition_that_delivered_nothing_holds_journey_time_however_long_it_takes(
    settings: Settings,
) -> None:
    slow, out = generator(settings, follow=False), Output()
    time.sleep(0.3)  # past the start-up patience
    slow.onPeriodicEmit(out)
    assert (out.watermarks, out.idle) == ([], False), "it must hold the others back, not go idle"


def test_a_bounded_partition_is_in_event_time_alone(settings: Settings) -> None:
    g, out = generator(settings, follow=False), Output()
    g.onEvent(None, T0, out)
    g.onPeriodicEmit(out)
    time.sleep(0.3)  # a stall: wall time passes, journey time must not
    g.onPeriodicEmit(out)
    g.onEvent(None, T0 + 10_000, out)
    g.onPeriodicEmit(out)
    assert out.watermarks == [T0 - 2000, T0 + 8000]
    assert not out.idle


def test_a_live_partition_follows_wall_time_and_goes_idle_when_it_has_had_nothing(settings: Settings) -> None:
    g, out = generator(settings, follow=True), Output()
    g.onEvent(None, T0, out)
    g.onPeriodicEmit(out)
    time.sleep(0.3)
    g.onPeriodicEmit(out)
    assert len(out.watermarks) == 2 and out.watermarks[1] - out.watermarks[0] >= 250
    empty, out2 = generator(settings, follow=True), Output()
    time.sleep(0.3)
    empty.onPeriodicEmit(out2)
    assert out2.idle


def test_a_live_partition_that_delivered_nothing_waits_the_start_up_patience_not_the_idle_timeout(
    settings: Settings,
) -> None:
    empty, out = generator(settings, follow=True, idle_ms=60_000, startup_ms=100), Output()
    empty.onPeriodicEmit(out)
    assert not out.idle, "within the patience it holds journey time"
    time.sleep(0.3)
    empty.onPeriodicEmit(out)
    assert out.idle, "past the start-up patience an empty partition stops holding the job back"
    busy, out2 = generator(settings, follow=True, idle_ms=60_000, startup_ms=100), Output()
    busy.onEvent(None, T0, out2)
    time.sleep(0.3)
    busy.onPeriodicEmit(out2)
    assert not out2.idle and out2.watermarks, "one that delivered keeps its clock"


def test_a_quiet_partition_with_records_still_to_deliver_holds_journey_time_at_its_newest(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    """A backlog drained one partition after the other: the partition waiting its turn must
    not let wall time or the other partitions move its journey time past its next records."""
    topic = unique("backlog")
    ensure_topics(settings, [topic], partitions=1)
    producer = Producer(settings.kafka.librdkafka_properties())
    for i in range(10):
        producer.produce(topic, value=b"x", timestamp=T0 + i * 1000)
    assert producer.flush(30) == 0
    source = strategy(settings, True, idle_ms=50, startup_ms=100, kafka=settings.kafka.java_properties())
    waiting, ahead = source.createWatermarkGenerator(None), source.createWatermarkGenerator(None)
    out, out_ahead = Output(), Output()
    waiting.onEvent(frame(topic, 0, 2, T0 + 2000), T0 + 2000, out)
    ahead.onEvent(None, T0 + 600_000, out_ahead)  # another partition, far ahead
    ahead.onPeriodicEmit(out_ahead)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        waiting.onPeriodicEmit(out)
        time.sleep(0.1)
    assert out.watermarks == [T0], "held at its newest record (less the out-of-orderness)"
    waiting.onEvent(frame(topic, 0, 9, T0 + 9000), T0 + 9000, out)
    time.sleep(1.5)  # the broker asked again; wall time passes
    waiting.onPeriodicEmit(out)
    assert out.watermarks[-1] >= T0 + 600_000 - 2000, "at the end of its log it follows the others"


def test_a_partition_at_the_end_of_its_log_runs_on_by_wall_time(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    topic = unique("live")
    ensure_topics(settings, [topic], partitions=1)
    producer = Producer(settings.kafka.librdkafka_properties())
    producer.produce(topic, value=b"x", timestamp=T0)
    assert producer.flush(30) == 0
    g = strategy(settings, True, idle_ms=60_000, startup_ms=100, kafka=settings.kafka.java_properties())
    live, out = g.createWatermarkGenerator(None), Output()
    live.onEvent(frame(topic, 0, 0, T0), T0, out)
    time.sleep(1.5)
    live.onPeriodicEmit(out)
    time.sleep(0.3)
    live.onPeriodicEmit(out)
    assert len(out.watermarks) == 2 and out.watermarks[1] - out.watermarks[0] >= 250


class Reader:
    """The context Flink gives a generator, for source subtask 0 (py4j implements it here)."""

    def __init__(self) -> None:
        self.clock = get_gateway().jvm.org.apache.flink.util.clock.SystemClock.getInstance()

    def getMetricGroup(self) -> Any:
        return self

    def getAllVariables(self) -> Any:
        variables = get_gateway().jvm.java.util.HashMap()
        variables.put("<subtask_index>", "0")
        return variables

    def getInputActivityClock(self) -> Any:
        return self.clock

    class Java:
        implements = [
            "org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier$Context",
            "org.apache.flink.metrics.MetricGroup",
        ]


def behind_one_ahead(strategy: Any) -> tuple[Any, Output]:
    """A generator that has delivered nothing, of a source whose other partition is far ahead."""
    ahead, out_ahead = strategy.createWatermarkGenerator(Reader()), Output()
    ahead.onEvent(None, T0 + 600_000, out_ahead)
    ahead.onPeriodicEmit(out_ahead)
    return strategy.createWatermarkGenerator(Reader()), Output()


def emit_for(g: Any, out: Output, seconds: float, until_watermark: bool = False) -> None:
    """Periodic emits every 100 ms for `seconds` (or until a watermark comes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until_watermark and out.watermarks):
        g.onPeriodicEmit(out)
        time.sleep(0.1)


def test_a_partition_whose_first_records_are_still_to_come_waits_for_them(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    """At a start on a backlog the consumer drains one partition's fetch after the other: one
    that has delivered nothing yet, while a partition of its reader has records past the start,
    must not go idle or follow the others, or all its records would be late."""
    create_environment(settings)
    topic, empty = unique("first"), unique("empty")
    ensure_topics(settings, [topic, empty], partitions=1)
    producer = Producer(settings.kafka.librdkafka_properties())
    for i in range(3):  # (one record alone could be a transaction's commit marker)
        producer.produce(topic, value=b"x", timestamp=T0 + i)
    assert producer.flush(30) == 0

    def source(topic: str) -> Any:
        kafka = settings.kafka.java_properties()
        return strategy(
            settings, True, 50, 100, kafka=kafka, topics=(topic,), group=unique("group"), readers=1
        )

    waiting, out = behind_one_ahead(source(topic))
    emit_for(waiting, out, 3)
    assert (out.watermarks, out.idle) == ([], False), "it holds journey time until its records come"
    for i in range(3):
        waiting.onEvent(frame(topic, 0, i, T0 + i), T0 + i, out)
    time.sleep(1.5)
    waiting.onPeriodicEmit(out)
    assert out.watermarks and out.watermarks[-1] >= T0 + 600_000 - 2000, "then, at its end, it follows"

    idle, out_idle = behind_one_ahead(source(empty))
    emit_for(idle, out_idle, 3, until_watermark=True)
    assert out_idle.watermarks, "a partition with nothing to deliver follows the others after the patience"


class Lateness(ProcessFunction):  # type: ignore[misc]
    """Each record's partition, offset and whether it came behind the watermark, a little
    slowly, so that the source (chained to this) delivers its backlog over a few seconds."""

    def process_element(self, frame: bytes, ctx: ProcessFunction.Context) -> Iterator[Row]:
        time.sleep(0.0003)
        r = read_frame(frame)
        yield Row(r.partition, r.offset, ctx.timestamp() <= ctx.timer_service().current_watermark())


def test_through_flinks_source_no_partition_still_delivering_is_overtaken(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    """The job's source, in a running job: one partition has a long backlog of old records,
    another a few records a day later. Flink's source operator makes a generator for the
    reader's own output besides one per partition, and sends what it emits past the minimum
    over the partitions; it sees no record, and had it followed the others, the backlog would
    have come behind the watermark."""
    topic = unique("overtaken")
    ensure_topics(settings, [topic], partitions=2)
    # small batches, and a few of each partition per fetch: the consumer alternates between the
    # partitions, so the one ahead is done while the other's backlog is still coming
    # (idempotent: a retried batch must not land after the next one, or it is late by its order)
    producer = Producer(
        {**settings.kafka.librdkafka_properties(), "batch.num.messages": 20, "enable.idempotence": True}
    )
    behind, ahead = 5_000, 200
    for i in range(behind):
        producer.produce(topic, partition=0, value=b"x", timestamp=T0 + i * 1000)
    for i in range(ahead):
        producer.produce(topic, partition=1, value=b"y", timestamp=T0 + 86_400_000 + i)
    assert producer.flush(30) == 0
    s = settings.model_copy(
        update={
            "consumer_group": unique("group"),
            "flink": settings.flink.model_copy(update={"parallelism": 1}),
            "kafka": settings.kafka.model_copy(
                update={"extra": {"max.partition.fetch.bytes": "2048", "fetch.max.wait.ms": "10"}}
            ),
        }
    )
    env = create_environment(s)
    frames = KafkaRecordSource(s, (topic,), "inputs", journey_time=(100, 50, 100))(env)
    rows = frames.process(Lateness(), output_type=Types.ROW([Types.INT(), Types.LONG(), Types.BOOLEAN()]))
    # (with `limit`, PyFlink waits about two minutes for the job to end after the last row)
    with rows.execute_and_collect("overtaken") as results:
        got = [(r[0], r[1], r[2]) for r in itertools.islice(results, behind + ahead)]
    assert len(got) == behind + ahead
    late = [(p, offset) for p, offset, was_late in got if was_late]
    assert late == [], (
        f"{sum(p == 0 for p, _ in late)} of partition 0's and {sum(p == 1 for p, _ in late)} of "
        f"partition 1's records came late, the first at {late[:3]}"
    )


class SeenWatermark(ProcessFunction):  # type: ignore[misc]
    def process_element(self, frame: bytes, ctx: ProcessFunction.Context) -> Iterator[int]:
        yield ctx.timer_service().current_watermark()


def test_through_flinks_source_a_reader_with_no_partition_does_not_hold_the_job_back(
    settings: Settings, unique: Callable[[str], str]
) -> None:
    """Two readers, one partition: the reader without one marks itself idle after the start-up
    patience, so journey time after both readers moves with the one that has it."""
    topic = unique("alone")
    ensure_topics(settings, [topic], partitions=1)
    producer = Producer(settings.kafka.librdkafka_properties())

    def produce(start: int, n: int) -> None:
        for i in range(start, start + n):
            producer.produce(topic, value=b"x", timestamp=T0 + i * 1000)
        assert producer.flush(30) == 0

    s = settings.model_copy(
        update={
            "consumer_group": unique("group"),
            "flink": settings.flink.model_copy(update={"parallelism": 2}),
        }
    )
    env = create_environment(s)
    frames = KafkaRecordSource(s, (topic,), "inputs", journey_time=(100, 50, 100))(env)
    seen = frames.rebalance().process(SeenWatermark(), output_type=Types.LONG())
    produce(0, 100)
    with seen.execute_and_collect("alone") as results:
        list(itertools.islice(results, 100))
        # records and watermarks share a channel: the watermarks of the first records come
        # behind them, and the next records after those watermarks
        time.sleep(2)
        produce(100, 100)
        watermarks = list(itertools.islice(results, 100))
    assert min(watermarks) >= T0, "journey time did not move: the reader without a partition held it"
