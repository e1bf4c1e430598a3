"""State descriptors with a TTL: no state of the job lives for ever, even if its key goes quiet."""

from __future__ import annotations

from pyflink.common import Time, Types
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor


def ttl(days: int) -> StateTtlConfig:
    # Written state lives `days` from its last write; expired values are never handed out, and
    # RocksDB drops them while compacting (no full scan, no per-read cost).
    return (
        StateTtlConfig.new_builder(Time.days(days))
        .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
        .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
        .cleanup_in_rocksdb_compact_filter(1000)
        .build()
    )


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
