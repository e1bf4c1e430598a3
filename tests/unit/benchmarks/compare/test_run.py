"""The live load of `make bench`'s latency runs."""

from __future__ import annotations


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
