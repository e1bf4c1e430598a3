"""deploy/local/stack.py: the broker's cluster id and its log read since its last start."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest


def test_kafka_cluster_id_is_a_22_char_base64url_uuid(local: SimpleNamespace) -> None:
    cid = local.stack._kafka_cluster_id()
    assert len(cid) == 22 and "=" not in cid and "+" not in cid and "/" not in cid


def test_a_broker_that_has_logged_megabytes_since_it_started_still_counts_as_started(
    local: SimpleNamespace, tmp_path: Path
) -> None:
    log = tmp_path / "kafka.log"
    filler = b"INFO [GroupCoordinator id=1] Stabilized group g generation 1 with 1 members.\n" * 40_000
    log.write_bytes(
        b"\n==== 2026-11-23T08:00:00 java ...\nINFO Kafka Server started\n"
        + filler
        + b"\n==== 2026-11-23T09:00:00 java ...\nINFO Kafka Server started\n"
        + filler
    )
    since = local.stack._since_last_start(log)
    assert since.startswith(b"\n==== 2026-11-23T09:00:00") and b"Kafka Server started" in since

    log.write_bytes(log.read_bytes() + b"\n==== 2026-11-23T10:00:00 java ...\nINFO starting\n")
    assert b"Kafka Server started" not in local.stack._since_last_start(log)
    assert local.stack._since_last_start(tmp_path / "missing.log") == b""


def test_a_kafka_cluster_id_never_starts_with_a_dash(
    local: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storage tool reads `-t -x4a...` as an option: a fresh clone failed on one such id."""
    import uuid

    draws = iter([uuid.UUID(bytes=b"\xfb" + bytes(15)), uuid.UUID(int=7)])  # "-wAA..." first
    monkeypatch.setattr(local.stack.uuid, "uuid4", lambda: next(draws))
    cid = local.stack._kafka_cluster_id()
    assert len(cid) == 22 and not cid.startswith("-")
    assert cid == "AAAAAAAAAAAAAAAAAAAABw"
