from __future__ import annotations

from pathlib import Path

from senders.ledger import Ledger


def test_the_ledger_outlives_its_process(tmp_path: Path) -> None:
    path = tmp_path / "email.sqlite"
    first = Ledger(path)
    first.record("a-1", "sending", 10)
    first.record("a-2", "delivered", 11)
    first.reported(["a-2"])
    first.close()
    again = Ledger(path)
    one, two = again.get("a-1"), again.get("a-2")
    assert one is not None and (one.status, one.reported) == ("sending", False)
    assert two is not None and (two.status, two.occurred_at, two.reported) == ("delivered", 11, True)
    assert again.get("a-3") is None


def test_a_new_status_needs_reporting_again(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.record("a-1", "retry", 1, "SMTP 421")
    ledger.reported(["a-1"])
    ledger.record("a-1", "delivered", 2)
    got = ledger.get("a-1")
    assert got is not None and (got.status, got.detail, got.reported) == ("delivered", None, False)


def test_old_rows_are_pruned(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.record("old", "delivered", 100)
    ledger.record("new", "delivered", 900)
    assert ledger.prune(older_than_ms=500) == 1
    assert ledger.get("old") is None and ledger.get("new") is not None
