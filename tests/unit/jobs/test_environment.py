from __future__ import annotations

import sys

from common.settings import Settings
from jobs.environment import flink_config_values


def _values(**flink: object) -> dict[str, str]:
    s = Settings()
    s = s.model_copy(update={"flink": s.flink.model_copy(update={"jars": ["/x/connector.jar"], **flink})})
    return flink_config_values(s)


def test_thread_mode_with_this_interpreter() -> None:
    v = _values()
    assert v["python.execution-mode"] == "thread"
    assert v["python.executable"] == sys.executable


def test_checkpoints_rocksdb_incremental_and_bounded_restarts() -> None:
    v = _values(checkpoint_interval_ms=1500, restart_attempts=5)
    assert v["execution.checkpointing.interval"] == "1500 ms"
    assert v["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert v["state.backend.type"] == "rocksdb"
    assert v["execution.checkpointing.incremental"] == "true"
    assert v["restart-strategy.type"] == "fixed-delay"
    assert v["restart-strategy.fixed-delay.attempts"] == "5"


def test_jars_become_file_urls_and_extra_keys_win() -> None:
    v = _values(extra={"state.backend.type": "hashmap"})
    assert v["pipeline.jars"] == "file:///x/connector.jar"
    assert v["state.backend.type"] == "hashmap"


def test_managed_memory_for_rocksdb_is_sized_unless_left_to_flink() -> None:
    assert _values()["taskmanager.memory.managed.size"] == "1024 mb"
    assert _values(managed_memory_mb=256)["taskmanager.memory.managed.size"] == "256 mb"
    assert "taskmanager.memory.managed.size" not in _values(managed_memory_mb=0)


def test_latency_settings_replace_flinks_defaults() -> None:
    v = _values(watermark_interval_ms=20, buffer_timeout_ms=5, python_bundle_time_ms=30)
    assert v["pipeline.auto-watermark-interval"] == "20 ms"
    assert v["execution.buffer-timeout.interval"] == "5 ms"
    assert v["python.fn-execution.bundle.time"] == "30"
