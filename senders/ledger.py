"""The sender's memory of what it did with each action_id, in SQLite: what keeps an action from
being sent twice when it is read again after a crash or a restart.

A row is written *before* the provider is called (`sending`) and updated after it answers, each
a committed SQLite transaction (WAL: it survives the process being killed). A re-read action
whose row says:
- nothing, or `retry`: it was never accepted by a provider: send it;
- `delivered`, `bounced`, `failed`, `expired`: done. Its feedback is written again, unchanged
  (same occurred_at), only if the Kafka transaction that held it never committed (`reported`
  is set once it has). Between that commit and the ledger's update a crash would write it twice;
  the journey job dedupes feedback by its event id (action_id, event, occurred_at), and so do
  the journey results;
- `sending`: the sender stopped while the provider had it, and nobody knows whether it went
  out. It is not sent again (never twice is the promise), and reported `failed` with that reason.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

SENDING = "sending"
RETRY = "retry"
FINAL = frozenset({"delivered", "bounced", "failed", "expired"})


@dataclass(frozen=True, slots=True)
class Entry:
    status: str
    occurred_at: int
    detail: str | None
    #: its feedback is in a committed Kafka transaction
    reported: bool


class Ledger:
    """One channel's ledger (one file; one thread uses it)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # made in one thread, used by the channel's own (one at a time)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL with synchronous=NORMAL: a commit is durable once the process has returned from it
        # even if the process is then killed; only an operating-system crash can lose the last
        # commits (docs/senders.md)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sends ("
            " action_id TEXT PRIMARY KEY, status TEXT NOT NULL, occurred_at INTEGER NOT NULL,"
            " detail TEXT, reported INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS sends_updated ON sends (updated_at)")

    def get(self, action_id: str) -> Entry | None:
        row = self._db.execute(
            "SELECT status, occurred_at, detail, reported FROM sends WHERE action_id = ?", (action_id,)
        ).fetchone()
        return Entry(row[0], row[1], row[2], bool(row[3])) if row else None

    def record(self, action_id: str, status: str, occurred_at: int, detail: str | None = None) -> None:
        """The action's status now, committed before this returns."""
        self._db.execute(
            "INSERT INTO sends (action_id, status, occurred_at, detail, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (action_id) DO UPDATE SET status = excluded.status, reported = 0,"
            " occurred_at = excluded.occurred_at, detail = excluded.detail, updated_at = excluded.updated_at",
            (action_id, status, occurred_at, detail, occurred_at),
        )

    def reported(self, action_ids: list[str]) -> None:
        """Their feedback committed to Kafka."""
        self._db.execute("BEGIN")
        self._db.executemany("UPDATE sends SET reported = 1 WHERE action_id = ?", [(a,) for a in action_ids])
        self._db.execute("COMMIT")

    def prune(self, older_than_ms: int) -> int:
        """Rows last written before `older_than_ms` removed; how many."""
        return self._db.execute("DELETE FROM sends WHERE updated_at < ?", (older_than_ms,)).rowcount

    def close(self) -> None:
        self._db.close()
