"""Keys and journey time in the JVM: a stage that knows where a record goes emits
`Row(key, time, value)`, the JVM puts each key's records in journey-time order
(`EventTimeOrder`, connectors/java), and the next keyed stage takes them partitioned on the key
without a Python key selector.

PyFlink's `key_by(function)` puts a Python operator in front of every keyed stage to compute the
key: one more crossing into Python per record. The upstream stages know the key anyway, and the
journey time (a click's timestamp, a change's `ts_ms`, which Flink's record timestamp is not).
Ordering there, in Java, means the Python stage applies each record the moment it gets it: no
record is held in Python state, and no Python timer is set per record.
"""

from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, KeyedStream
from pyflink.java_gateway import get_gateway

KEY = Types.STRING()
VALUE = Types.PRIMITIVE_ARRAY(Types.BYTE())
#: (key, a record's bytes, `jobs.stages.wire`): what a keyed Python stage takes, partitioned on the key
KEYED = Types.ROW([KEY, VALUE])
#: (key, journey time in ms, a record's bytes): what a stage emits for the next keyed stage
TIMED = Types.ROW([KEY, Types.LONG(), VALUE])
#: (destination, key, journey time, a record's bytes): one Python output for several stages,
#: split in the JVM (`by_destination`)
ROUTED = Types.ROW([Types.INT(), KEY, Types.LONG(), VALUE])
DAY_MS = 86_400_000


def timed_row(key: str, time: int, value: bytes) -> Row:
    return Row(key, time, value)


def routed_row(destination: int, key: str, time: int, value: bytes) -> Row:
    return Row(destination, key, time, value)


def by_destination(stream: DataStream, name: str, sides: int) -> list[DataStream]:
    """`ROUTED` rows in; `TIMED` rows out, one stream per destination (0, then 1 .. `sides`).

    A Python side output is handed to Flink while the Python call holds the interpreter's lock,
    waiting for network buffers when the next stage is behind, and every other Python stage of
    the task manager waits with it; so a stage with several busy outputs yields them all on its
    main output, and `ByDestination` (Java) splits them."""
    jvm = get_gateway().jvm
    timed = TIMED.get_java_type_info()
    j_split = stream._j_data_stream.process(jvm.io.journeys.flink.ByDestination(timed, sides))
    j_split.uid(f"split-{name}").name(f"{name} by destination")
    sides_out = [
        DataStream(j_split.getSideOutput(jvm.io.journeys.flink.ByDestination.tag(timed, i)))
        for i in range(1, sides + 1)
    ]
    return [DataStream(j_split), *sides_out]


def _key_by_first_field(j_stream: object) -> object:
    selector = get_gateway().jvm.KeyByKeySelector()
    return j_stream.keyBy(selector, Types.ROW([KEY]).get_java_type_info())  # type: ignore[attr-defined]


def in_journey_time_order(stream: DataStream, name: str, ttl_days: int) -> KeyedStream:
    """`TIMED` rows in; per key, their values (bytes) in journey-time order (ties in arrival order), as a
    KeyedStream for a Python stage. `name` names the ordering operator (`order-<name>` its uid)."""
    jvm = get_gateway().jvm
    order = jvm.io.journeys.flink.EventTimeOrder(
        TIMED.get_java_type_info(), KEYED.get_java_type_info(), ttl_days * DAY_MS
    )
    j_ordered = _key_by_first_field(stream._j_data_stream).process(order)  # type: ignore[attr-defined]
    j_ordered.uid(f"order-{name}").name(f"{name} in journey-time order")
    ordered = DataStream(j_ordered)
    return KeyedStream(_key_by_first_field(j_ordered), VALUE, ordered)
