from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from common.settings import Settings
from jobs.environment import _jvm_logs, flink_config_values


def _values(**flink: object) -> dict[str, str]:
    s = Settings()
    s = s.model_copy(update={"flink": s.flink.model_copy(update={"jars": ["/x/connector.jar"], **flink})})
    return flink_config_values(s)


def test_thread_mode_with_this_interpreter() -> None:
    v = _values()
    assert v["python.execution-mode"] == "thread"
    assert v["python.executable"] == sys.executable


def test_checkpoints_rocksdb_incremental_and_retained() -> None:
    v = _values(checkpoint_interval_ms=1500, checkpoints_retained=2)
    assert v["execution.checkpointing.interval"] == "1500 ms"
    assert v["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert v["state.backend.type"] == "rocksdb"
    assert v["execution.checkpointing.incremental"] == "true"
    assert v["execution.checkpointing.externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"
    assert v["execution.checkpointing.num-retained"] == "2"


def test_restarts_wait_longer_each_time_without_a_small_cap() -> None:
    v = _values()
    assert v["restart-strategy.type"] == "exponential-delay"
    assert v["restart-strategy.exponential-delay.initial-backoff"] == "1000 ms"
    assert v["restart-strategy.exponential-delay.max-backoff"] == "60000 ms"
    assert int(v["restart-strategy.exponential-delay.attempts-before-reset-backoff"]) == 2**31 - 1
    assert (
        _values(restart_attempts=5)["restart-strategy.exponential-delay.attempts-before-reset-backoff"] == "5"
    )
    assert _values(restart_attempts=0)["restart-strategy.type"] == "none"


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


def test_a_restore_path_becomes_a_uri_and_a_uri_stays_one() -> None:
    assert "execution.state-recovery.path" not in _values()
    assert _values(restore_from="/x/chk-3")["execution.state-recovery.path"] == "file:///x/chk-3"
    assert (
        _values(restore_from="file:/x/savepoint-1")["execution.state-recovery.path"] == "file:/x/savepoint-1"
    )
    assert _values(restore_from="s3://b/savepoint-1")["execution.state-recovery.path"] == "s3://b/savepoint-1"


def test_rocksdb_logs_go_to_the_log_folder_not_beside_the_packages(tmp_path: Path) -> None:
    values = _values(log_dir=str(tmp_path / "logs"))
    assert values["state.backend.rocksdb.log.dir"] == str(tmp_path / "logs" / "rocksdb")


def test_the_jvm_started_here_writes_its_log_and_crash_report_to_the_log_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLINK_LOG_DIR", raising=False)
    monkeypatch.setenv("JVM_ARGS", "-Xss2m")
    s = Settings().model_copy(
        update={"flink": Settings().flink.model_copy(update={"log_dir": str(tmp_path / "logs")})}
    )
    _jvm_logs(s)
    assert os.environ["FLINK_LOG_DIR"] == str(tmp_path / "logs")
    assert os.environ["JVM_ARGS"] == f"-Xss2m -XX:ErrorFile={tmp_path / 'logs'}/hs_err_pid%p.log"
    assert (tmp_path / "logs" / "rocksdb").is_dir()
