"""The tables and ratios `make bench` and `make bench-timers` print, from the figures they took,
and where they land in the docs."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.compare import report
from benchmarks.compare.report import Figures, ratios, table, timer_ratios, timers_table


def _fig(key: str, rate: float, p99: float, mb: float) -> Figures:
    return Figures(key, key, events_per_s=rate, p50_ms=p99 / 2, p95_ms=p99 * 0.9, p99_ms=p99, peak_mb=mb)


def test_ratios_are_this_job_over_each_alternative_and_only_for_contenders_that_ran() -> None:
    figures = [
        _fig("job-minicluster-eo", 4_000, 3_000, 2_000),
        _fig("jvm-sql", 40_000, 300, 1_000),
        _fig("python", 8_000, 1_500, 500),
    ]
    rows = {r["ratio"]: r for r in ratios(figures)}
    assert set(rows) == {"this job / JVM-only Flink", "this job / single Python process"}
    assert rows["this job / JVM-only Flink"]["throughput"] == 0.1
    assert rows["this job / single Python process"]["p99"] == 2.0
    assert rows["this job / single Python process"]["memory"] == 4.0


def test_a_failed_contender_shows_its_error_and_no_ratio_divides_by_zero() -> None:
    failed = Figures("jvm-sql", "JVM-only", error="the contender stopped before it read the backlog")
    failed.events_per_s = 0.0
    figures = [_fig("job-minicluster-eo", 4_000, 3_000, 2_000), failed]
    rows = ratios(figures)
    assert math.isnan(rows[0]["throughput"])
    text = table(figures, rows)
    assert "failed: the contender stopped" in text
    assert "| this job / JVM-only Flink | - |" in text


def test_the_timers_table_is_the_job_over_bytewax_in_lateness_and_firing_rate() -> None:
    job = Figures("job-minicluster-alo", "job", timer_p50_ms=40, timer_p99_ms=300, timer_max_ms=900)
    job.firings_per_s = 600.0
    bytewax = Figures("bytewax", "Bytewax", timer_p50_ms=500, timer_p99_ms=1_200, timer_max_ms=2_000)
    bytewax.firings_per_s = 560.0
    rows = timer_ratios([job, bytewax])
    assert rows == [{"ratio": "this job / Bytewax", "timer_p99": 0.25, "firings_per_s": 600 / 560}]
    text = timers_table([job, bytewax], rows)
    assert "| job | 40 / 300 / 900 | 600 | - |" in text
    assert "| this job / Bytewax | 0.25 | 1.07 |" in text


def test_each_table_replaces_only_its_own_part_of_the_docs(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(report, "REPO", tmp_path)
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nhand-written\n")
    results = tmp_path / "r.json"
    when = datetime(2026, 12, 7, tzinfo=UTC)
    report.write_docs("make bench", "TABLE ONE", when, results, doc)
    report.write_docs("make bench-timers", "TIMERS ONE", when, results, doc)
    report.write_docs("make bench", "TABLE TWO", when, results, doc)
    text = doc.read_text()
    assert "hand-written" in text and "TIMERS ONE" in text and "TABLE TWO" in text
    assert "TABLE ONE" not in text
    assert text.count("<!-- make bench: begin -->") == 1
    assert "_Written by `make bench` on 2026-12-07" in text


def test_what_a_contender_does_not_do_is_said_under_the_table() -> None:
    quix = Figures("quix", "Quix Streams", caveats="no per-key timers; one process")
    plain = Figures("python", "one process")
    text = table([quix, plain], [])
    assert "- Quix Streams: no per-key timers; one process" in text
    assert "- one process:" not in text


def test_a_ratio_far_below_one_keeps_its_digits() -> None:
    job = Figures("job-minicluster-alo", "job", timer_p50_ms=200, timer_p99_ms=223, timer_max_ms=400)
    job.firings_per_s = 558.0
    bytewax = Figures("bytewax", "Bytewax", timer_p50_ms=2_184, timer_p99_ms=280_428, timer_max_ms=295_581)
    bytewax.firings_per_s = 2_508.0
    text = timers_table([job, bytewax], timer_ratios([job, bytewax]))
    assert "| this job / Bytewax | 0.0008 | 0.22 |" in text


def test_results_are_json_with_null_for_a_figure_not_taken(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    import json

    monkeypatch.setattr(report, "RESULTS", tmp_path)
    timers_only = Figures("bytewax", "Bytewax", timer_p99_ms=1_200)
    path = report.save(
        datetime(2026, 12, 7, tzinfo=UTC), "timers", {"contenders": [dataclasses.asdict(timers_only)]}
    )
    text = path.read_text()
    assert "NaN" not in text
    row = json.loads(text)["contenders"][0]
    assert row["events_per_s"] is None and row["timer_p99_ms"] == 1_200
