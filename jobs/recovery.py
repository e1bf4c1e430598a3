"""Where a job starts from: its latest retained checkpoint, a savepoint or checkpoint an operator
names, or nothing; and when starting from nothing is refused.

A job's state is the product: every open wait, consent, cart and deferred message. Flink keeps
the last completed checkpoints when a job fails or is cancelled (`jobs.environment`), but a new
submission starts empty unless told where to restore from. Starting empty while the consumer
group has committed offsets is the worst of both: the inputs resume where the group left off and
everything the state knew is gone (consents too, so marketing is suppressed for want of them).
So `journeyctl run` resumes from the latest retained checkpoint by itself, and refuses that
case unless asked to start fresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class EmptyStateRefused(RuntimeError):
    """A start with empty state over a consumer group that has already committed offsets."""


def is_uri(location: str) -> bool:
    """A scheme before the first slash (file:, s3://, hdfs://) rather than a local path."""
    return ":" in location.split("/", 1)[0]


def checkpoint_folder(root: str | Path, job: str) -> Path:
    """Each job's checkpoints in a folder of their own, so that one job never resumes another's."""
    return Path(root) / job


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest completed checkpoint under `folder` (Flink writes `<job id>/chk-<n>/_metadata`
    when a checkpoint completes; one in progress has no `_metadata` yet); None if there is none."""
    done = [m.parent for m in folder.glob("*/chk-*/_metadata")]
    return max(done, key=lambda p: (p.stat().st_mtime, int(p.name.split("-", 1)[1])), default=None)


@dataclass(frozen=True)
class Start:
    #: what to restore from (a checkpoint's or savepoint's folder), or None for empty state
    restore_from: Path | None
    #: one line for the operator
    why: str


def choose_start(
    checkpoints: Path, explicit: str | None, fresh: bool, group: str, committed_partitions: int
) -> Start:
    """Where to start: `explicit` if given, else empty state if `fresh`, else the latest retained
    checkpoint; with none, empty state only if the consumer group has committed nothing."""
    if explicit:
        path = Path(explicit)
        # a URI (s3://...) is the cluster's to check
        if not is_uri(explicit) and not (path / "_metadata").exists() and not path.is_file():
            raise FileNotFoundError(
                f"no savepoint or checkpoint at {path}: give the folder with its _metadata"
            )
        return Start(path, f"restoring from {explicit} (as asked)")
    if fresh:
        return Start(None, "starting with empty state (as asked with --fresh)")
    latest = latest_checkpoint(checkpoints)
    if latest is not None:
        return Start(latest, f"resuming from the latest retained checkpoint, {latest}")
    if committed_partitions:
        raise EmptyStateRefused(
            f"consumer group {group!r} has committed offsets on {committed_partitions} input "
            f"partition(s), but there is no retained checkpoint under {checkpoints}: a start now "
            "would read on from those offsets with empty state, and every open wait, consent and "
            "cart would be lost. Resume from a savepoint or checkpoint with --from PATH, or start "
            "with empty state anyway with --fresh (docs/operations.md)."
        )
    return Start(None, "first start: no retained checkpoint, nothing committed by the consumer group")
