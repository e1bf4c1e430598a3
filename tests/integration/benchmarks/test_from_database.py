"""The database-commit latency benchmark measures what it says: every tier upgrade committed in
the CRM database reaches the job through Debezium and comes out as an action, and the figures
are the time between."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.from_database import tier_from_commit
from benchmarks.journey_job import MINICLUSTER
from common.settings import DeliveryMode, Settings
from tests.stack import StackAddresses

pytestmark = pytest.mark.integration


def test_every_committed_tier_upgrade_is_timed_to_its_action(
    cdc: StackAddresses, settings: Settings, tmp_path: Path
) -> None:
    s = settings.model_copy(
        update={"sink": settings.sink.model_copy(update={"delivery": DeliveryMode.AT_LEAST_ONCE})}
    )
    said: list[str] = []
    p50, p99, top, acted = tier_from_commit(
        s, tmp_path, 10, 2, MINICLUSTER, said.append, out_of_orderness_ms=100
    )
    assert acted == 20, said
    assert 0 < p50 <= p99 <= top < 60_000, said
    assert not any(math.isnan(x) for x in (p50, p99, top))
    assert "20 of 20 upgrades acted on" in said[-1]
