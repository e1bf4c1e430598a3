"""State descriptors with a TTL: no state of the job lives for ever, even if its key goes quiet."""

from __future__ import annotations

from pyflink.common import Duration, Time, Types
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor


def ttl(days: int) -> StateTtlConfig:
    # Written state lives `days` from its last write; expired values are never handed out, and
    # they are dropped without a full scan: RocksDB's compaction filter checks the time every
    # 1,000 entries, the heap backend checks 5 entries on each state access. That is Flink's
    # default cleanup in background, named strategy by strategy because PyFlink builds its
    # default with a java.time.Duration made through the Py4J gateway (see NOT_READ).
    return (
        StateTtlConfig.new_builder(Time.days(days))
        .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
        .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
        .disable_cleanup_in_background()
        .cleanup_incrementally(5, False)
        .cleanup_in_rocksdb_compact_filter(1000, NOT_READ)
        .build()
    )


#: The periodic compaction time given to PyFlink's compaction-filter cleanup, which thread mode
#: never reads (pyflink.fn_execution.embedded.java_utils passes only the entry count). PyFlink
#: makes a java.time.Duration through the Py4J gateway for a missing one, and for its default
#: cleanup in background; inside a TaskManager, where the embedded interpreter has no gateway,
#: that launched a second JVM for every job, which wrote over the TaskManager's log file.
NOT_READ = Duration(None)


def pickled_value(name: str, days: int) -> ValueStateDescriptor:
    """One Python value per key (the stages store bytes of their own codec in it: pickling bytes
    costs next to nothing, and keeps the type of the state that pickled objects before)."""
    d = ValueStateDescriptor(name, Types.PICKLED_BYTE_ARRAY())
    d.enable_time_to_live(ttl(days))
    return d


def pickled_map(name: str, days: int) -> MapStateDescriptor:
    d = MapStateDescriptor(name, Types.STRING(), Types.PICKLED_BYTE_ARRAY())
    d.enable_time_to_live(ttl(days))
    return d


def long_map(name: str, days: int) -> MapStateDescriptor:
    """String keys to longs: nothing pickled either way."""
    d = MapStateDescriptor(name, Types.STRING(), Types.LONG())
    d.enable_time_to_live(ttl(days))
    return d
