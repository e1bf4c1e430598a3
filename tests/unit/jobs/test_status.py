"""What `journeyctl status` makes of Flink's REST answers, and when it calls for a person."""

from __future__ import annotations

from typing import Any

from jobs.status import Checkpoints, JobStatus, _checkpoints, describe

NOW = 1_796_590_000_000


def rest_checkpoints(
    completed: dict[str, Any] | None = None, failed: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "counts": {"completed": 12, "failed": 1 if failed else 0, "in_progress": 0},
        "summary": {"end_to_end_duration": {"p99": 85.0}},
        "latest": {"completed": completed, "failed": failed, "restored": None},
    }


def completed(id_: int, age_ms: int) -> dict[str, Any]:
    return {
        "id": id_,
        "trigger_timestamp": NOW - age_ms,
        "end_to_end_duration": 60,
        "checkpointed_size": 900_000,
        "state_size": 82_000_000,
        "external_path": f"file:/ckpt/chk-{id_}",
    }


def status(checkpoints: Checkpoints, state: str = "RUNNING", running_ms: int = 60_000) -> JobStatus:
    return JobStatus("j1", "journey", state, running_ms, 0, 1_000, checkpoints)


def test_a_healthy_job_has_no_alert_and_shows_duration_and_size() -> None:
    s = status(_checkpoints(rest_checkpoints(completed(12, 400)), NOW))
    assert s.alerts() == []
    text = "\n".join(describe(s))
    assert "12 completed, 0 failed" in text
    assert "took 60 ms" in text and "900.0 kB of 82.0 MB" in text


def test_a_failure_after_the_last_completed_checkpoint_alerts_with_its_reason() -> None:
    c = _checkpoints(rest_checkpoints(completed(12, 400), {"id": 13, "failure_message": "declined"}), NOW)
    assert c.failure == "declined"
    assert any("declined" in a for a in status(c).alerts())


def test_a_failure_before_the_last_completed_checkpoint_is_history_not_an_alert() -> None:
    c = _checkpoints(rest_checkpoints(completed(12, 400), {"id": 3, "failure_message": "declined"}), NOW)
    assert c.failure is None and c.failed == 1
    assert status(c).alerts() == []


def test_an_old_last_checkpoint_alerts_and_so_does_none_at_all_after_a_while() -> None:
    old = _checkpoints(rest_checkpoints(completed(12, 60_000)), NOW)
    assert any("60 s old" in a for a in status(old).alerts())
    none = _checkpoints(rest_checkpoints(), NOW)
    assert status(none, running_ms=5_000).alerts() == []  # just started
    assert status(none, running_ms=120_000).alerts()


def test_a_job_not_running_alerts() -> None:
    c = _checkpoints(rest_checkpoints(completed(12, 400)), NOW)
    assert status(c, state="RESTARTING").alerts() == ["the job is RESTARTING"]
