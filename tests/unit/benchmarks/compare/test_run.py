"""The table and ratios `make bench` prints, from the figures it took."""

from __future__ import annotations

import math

from benchmarks.compare.run import Figures, ratios, table


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


def test_live_records_are_made_ahead_with_a_time_to_fill_in_and_their_probes_known() -> None:
    from benchmarks.compare.run import PLACEHOLDER_MS, live_records
    from benchmarks.compare.workload import Shop
    from common.settings import Settings

    s = Settings()
    records, probes = live_records(s, Shop(customers=100, skus=50, sessions=10), 3_000)
    assert len(records) == 3_000 and probes
    for i, event_id in probes.items():
        topic, _, value = records[i]
        assert topic == s.topics.cdc["orders.shipments"]
        assert b'"status":"delayed"' in value and str(PLACEHOLDER_MS).encode() in value
        lsn = event_id.split(":")[1]
        assert f'"lsn":{lsn}'.encode() in value
