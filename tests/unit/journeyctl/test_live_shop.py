from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from common.clock import daytime_zone
from common.settings import Settings
from journeyctl.live_shop import Shop, outside_holdouts, quick_definitions
from journeys.engine import bucket
from journeys.facts import haversine_km
from journeys.loader import load_dir


def test_quick_definitions_shorten_the_waits_and_still_load(tmp_path: Path) -> None:
    folder = quick_definitions(tmp_path, {"wait: {quiet: 30m}": "wait: {quiet: 20s}"})
    cart = next(j for j in load_dir(folder) if j.id == "cart_abandonment")
    assert "quiet: 20s" in (folder / "cart_abandonment.yaml").read_text()
    assert any(st.wait is not None and st.wait.quiet == "20s" for st in cart.steps)
    assert len(load_dir(folder)) == len(load_dir())


def test_a_wait_no_definition_has_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quiet: 45m"):
        quick_definitions(tmp_path, {"wait: {quiet: 45m}": "wait: {quiet: 1s}"})


def test_a_run_tag_keeps_the_customers_out_of_every_holdout() -> None:
    journeys = load_dir()
    tag = outside_holdouts(["c-1", "c-2", "c-3"], journeys)
    cart = next(j for j in journeys if j.id == "cart_abandonment")
    share = next(st.split.holdout for st in cart.steps if st.split is not None)
    assert share > 0
    assert all(bucket(f"c-{n}.{tag}", "cart_abandonment") >= share for n in (1, 2, 3))


@pytest.mark.parametrize("hour", [0, 5, 9, 14, 19, 23])
def test_customers_live_where_it_is_daytime(hour: int) -> None:
    now = datetime(2026, 12, 1, hour, 30, tzinfo=UTC)
    local = now.astimezone(ZoneInfo(daytime_zone(now))).hour
    assert 9 <= local <= 17, f"{daytime_zone(now)}: {local}:30"


def test_a_runs_places_keep_their_distances_at_a_longitude_of_their_own() -> None:
    a, b = Shop(Settings(), tag="run-a"), Shop(Settings(), tag="run-b")
    berlin, munich = (52.51, 13.39), (48.14, 11.58)
    assert haversine_km(*a.where(berlin), *a.where(munich)) == pytest.approx(haversine_km(*berlin, *munich))
    assert -180 <= a.where(berlin)[1] < 180
    assert a.where(berlin) != b.where(berlin)
    assert a.id("c-1") == "c-1.run-a"
