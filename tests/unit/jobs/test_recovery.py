"""Where a job starts: the latest completed checkpoint it left, a path an operator names, or
nothing, and never nothing over a consumer group that has already committed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.recovery import EmptyStateRefused, checkpoint_folder, choose_start, latest_checkpoint


def _checkpoint(folder: Path, job_id: str, n: int, mtime: float, complete: bool = True) -> Path:
    chk = folder / job_id / f"chk-{n}"
    chk.mkdir(parents=True)
    if complete:
        (chk / "_metadata").write_bytes(b"x")
        os.utime(chk / "_metadata", (mtime, mtime))
    return chk


def test_the_latest_completed_checkpoint_of_any_earlier_run_is_found(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    _checkpoint(tmp_path, "a" * 32, 7, 1_000)
    newer = _checkpoint(tmp_path, "b" * 32, 2, 2_000)
    _checkpoint(tmp_path, "b" * 32, 3, 3_000, complete=False)  # in progress: no _metadata yet
    assert latest_checkpoint(tmp_path) == newer


def test_each_job_has_a_checkpoint_folder_of_its_own(tmp_path: Path) -> None:
    assert checkpoint_folder(tmp_path, "journey") != checkpoint_folder(tmp_path, "ingest")
    assert checkpoint_folder(str(tmp_path), "journey").parent == tmp_path


def test_a_start_resumes_from_the_latest_checkpoint_by_itself(tmp_path: Path) -> None:
    chk = _checkpoint(tmp_path, "a" * 32, 4, 1_000)
    start = choose_start(tmp_path, None, fresh=False, group="g", committed_partitions=6)
    assert start.restore_from == chk and "latest retained checkpoint" in start.why


def test_a_named_savepoint_wins_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    _checkpoint(tmp_path, "a" * 32, 4, 1_000)
    savepoint = tmp_path / "savepoint-1"
    savepoint.mkdir()
    (savepoint / "_metadata").write_bytes(b"x")
    assert choose_start(tmp_path, str(savepoint), False, "g", 6).restore_from == savepoint
    with pytest.raises(FileNotFoundError, match="no savepoint or checkpoint"):
        choose_start(tmp_path, str(tmp_path / "nope"), False, "g", 6)
    assert choose_start(tmp_path, "s3://bucket/savepoint-2", False, "g", 6).why.endswith("(as asked)")


def test_empty_state_over_committed_offsets_is_refused_unless_asked_for(tmp_path: Path) -> None:
    with pytest.raises(EmptyStateRefused, match="--fresh") as refused:
        choose_start(tmp_path, None, fresh=False, group="journeys", committed_partitions=3)
    assert "'journeys'" in str(refused.value) and "3 input" in str(refused.value)
    assert (
        choose_start(tmp_path, None, fresh=True, group="journeys", committed_partitions=3).restore_from
        is None
    )
    first = choose_start(tmp_path, None, fresh=False, group="journeys", committed_partitions=0)
    assert first.restore_from is None and "first start" in first.why
