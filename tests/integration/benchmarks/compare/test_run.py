"""`make bench`'s harness against the real broker and registry, with its quickest contender (the
single Python process): a backlog of its own, its throughput, every shipment delay of the live
load answered, its memory, and its topics gone afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from benchmarks.compare import run
from benchmarks.compare.contenders import CONTENDERS
from benchmarks.compare.workload import Shop
from common.settings import Settings

pytestmark = pytest.mark.integration


def test_a_contender_is_measured_on_topics_of_its_own_which_are_dropped_after(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Settings] = []
    original = run._settings

    def settings_of_its_own(*args: Any, **kwargs: Any) -> Settings:
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(run, "_settings", settings_of_its_own)
    said: list[str] = []
    f = run.measure(
        CONTENDERS["python"],
        settings,
        tmp_path,
        Shop(customers=400, skus=100, sessions=300),
        4.0,
        said.append,
    )

    assert f.error is None, "\n".join(said)
    assert f.events_per_s > 100
    assert f.probes > 0 and f.probes_acted_on == f.probes, "\n".join(said)
    assert 0 < f.p50_ms <= f.p95_ms <= f.p99_ms < 60_000
    assert f.offered_per_s > 0 and f.peak_mb > 20
    [own] = made
    assert own.topics.clickstream != settings.topics.clickstream
    left = AdminClient(settings.kafka.librdkafka_properties()).list_topics(timeout=10).topics
    assert not [t for t in [*own.topics.inputs(), *own.topics.outputs()] if t in left]
