"""What an operator watches on a running job, from Flink's REST API: its state, restarts and
checkpoints (how many completed and failed, the latest one's age, duration and size).

`journeyctl status` prints it and exits non-zero when something needs a person: a job not
running, a checkpoint that failed since the last completed one, or a last completed checkpoint
older than `stale_after` checkpoint intervals (an exactly-once job's outputs become visible only
when a checkpoint completes, so an old checkpoint is also actions nobody sees). docs/operations.md
says what to do in each case.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from common.settings import Settings


class Unreachable(RuntimeError):
    """Flink's REST API did not answer."""


def embedded_rest_urls(settings: Settings) -> list[str]:
    """Where an embedded MiniCluster's REST API may be: the ports it takes the first free one of."""
    low, _, high = settings.flink.embedded_rest_ports.partition("-")
    return [f"http://127.0.0.1:{port}" for port in range(int(low), int(high or low) + 1)]


def rest_urls(settings: Settings, given: str | None = None) -> list[str]:
    """Where to look for Flink: the given address, else the cluster's, then an embedded run's."""
    return [given] if given else [settings.flink.rest_url, *embedded_rest_urls(settings)]


def _get(rest_url: str, path: str, timeout_s: float = 10) -> Any:
    url = rest_url.rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return json.loads(r.read() or b"null")
    except (urllib.error.URLError, OSError) as e:
        raise Unreachable(
            f"Flink's REST API at {rest_url} did not answer ({e}): is the cluster up "
            "(`python3 deploy/local/cluster.py up`), or pass the address of yours with --rest"
        ) from e


@dataclass(frozen=True)
class Checkpoints:
    completed: int
    failed: int
    in_progress: int
    #: the latest completed one: id, ms since it was triggered, its duration and size in bytes
    latest_id: int | None
    latest_age_ms: int | None
    latest_duration_ms: int | None
    #: what this checkpoint wrote (incremental: the new files) and the whole state it stands for
    latest_checkpointed_bytes: int | None
    latest_state_bytes: int | None
    latest_path: str | None
    #: the latest failed one, if it came after the latest completed one
    failure: str | None
    #: the latest checkpoint that was started (has an id) and failed; Flink also counts, as
    #: failed, triggers it refused before the tasks ran (a job's first second or so)
    last_failed_id: int | None
    duration_p99_ms: float | None
    restored_from: str | None


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    name: str
    state: str
    running_ms: int
    restarts: int
    checkpoint_interval_ms: int | None
    checkpoints: Checkpoints

    def alerts(self, stale_after: float = 3.0) -> list[str]:
        """What needs a person, each as a sentence; empty when all is well."""
        out: list[str] = []
        c = self.checkpoints
        if self.state != "RUNNING":
            out.append(f"the job is {self.state}")
        if c.failure is not None:
            out.append(f"a checkpoint failed since the last completed one: {c.failure}")
        interval = self.checkpoint_interval_ms
        if interval and self.state == "RUNNING":
            age = c.latest_age_ms if c.latest_age_ms is not None else self.running_ms
            if age > stale_after * interval + 10_000:
                out.append(
                    f"the last completed checkpoint is {age / 1000:.0f} s old "
                    f"(interval {interval / 1000:g} s): exactly-once outputs wait for it"
                )
        return out


def _checkpoints(raw: dict[str, Any], now_ms: int) -> Checkpoints:
    counts = raw.get("counts") or {}
    latest = raw.get("latest") or {}
    done = latest.get("completed") or None
    failed = latest.get("failed") or None
    restored = latest.get("restored") or None
    failure = None
    if failed is not None and (done is None or failed.get("id", 0) > done.get("id", 0)):
        failure = failed.get("failure_message") or "no reason given"
    p99 = ((raw.get("summary") or {}).get("end_to_end_duration") or {}).get("p99")
    return Checkpoints(
        completed=int(counts.get("completed", 0)),
        failed=int(counts.get("failed", 0)),
        in_progress=int(counts.get("in_progress", 0)),
        latest_id=None if done is None else done.get("id"),
        latest_age_ms=None if done is None else now_ms - int(done["trigger_timestamp"]),
        latest_duration_ms=None if done is None else done.get("end_to_end_duration"),
        latest_checkpointed_bytes=None if done is None else done.get("checkpointed_size"),
        latest_state_bytes=None if done is None else done.get("state_size"),
        latest_path=None if done is None else done.get("external_path"),
        failure=failure,
        last_failed_id=None if failed is None else failed.get("id"),
        duration_p99_ms=None if p99 is None else float(p99),
        restored_from=None if restored is None else restored.get("external_path"),
    )


def job_status(rest_url: str, job_id: str) -> JobStatus:
    job = _get(rest_url, f"/jobs/{job_id}")
    now = int(time.time() * 1000)
    config = _get(rest_url, f"/jobs/{job_id}/checkpoints/config") or {}
    restarts = _get(rest_url, f"/jobs/{job_id}/metrics?get=numRestarts") or []
    return JobStatus(
        job_id=job_id,
        name=job.get("name", ""),
        state=job.get("state", "UNKNOWN"),
        running_ms=int(job.get("duration", 0)),
        restarts=int(float(restarts[0]["value"])) if restarts else 0,
        checkpoint_interval_ms=config.get("interval"),
        checkpoints=_checkpoints(_get(rest_url, f"/jobs/{job_id}/checkpoints") or {}, now),
    )


def jobs(rest_url: str, include_ended: bool = False) -> list[JobStatus]:
    """The cluster's running jobs (and ended ones on request), newest first."""
    overview = (_get(rest_url, "/jobs/overview") or {}).get("jobs", [])
    ended = {"FINISHED", "CANCELED", "FAILED"}
    chosen = [j for j in overview if include_ended or j.get("state") not in ended]
    chosen.sort(key=lambda j: j.get("start-time", 0), reverse=True)
    return [job_status(rest_url, j["jid"]) for j in chosen]


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1000:
        return f"{n:,} B"
    size, unit = n / 1000, "kB"
    for bigger in ("MB", "GB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{size:,.1f} {unit}"


def describe(s: JobStatus) -> list[str]:
    """Lines for a terminal."""
    c = s.checkpoints
    lines = [
        f"{s.name} ({s.job_id}): {s.state} for {s.running_ms / 1000:,.0f} s, {s.restarts} restart(s)",
        f"  checkpoints: {c.completed:,} completed, {c.failed:,} failed, {c.in_progress} in progress"
        + (f", every {s.checkpoint_interval_ms / 1000:g} s" if s.checkpoint_interval_ms else ""),
    ]
    if c.latest_id is not None:
        lines.append(
            f"  latest: #{c.latest_id}, {(c.latest_age_ms or 0) / 1000:.1f} s ago, took "
            f"{c.latest_duration_ms:,} ms (p99 {c.duration_p99_ms or 0:,.0f} ms), wrote "
            f"{_size(c.latest_checkpointed_bytes)} of {_size(c.latest_state_bytes)} state"
        )
        lines.append(f"  at: {c.latest_path}")
    if c.restored_from:
        lines.append(f"  restored from: {c.restored_from}")
    lines += [f"  ALERT: {a}" for a in s.alerts()]
    return lines
