"""Facts that take a shortcut must give what the plain definition gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common import events as ev
from journeys.facts import Ctx, Reference, haversine_km, nearest_store
from journeys.state import CustomerState

lat = st.floats(-80, 80, allow_nan=False)
lon = st.floats(-179, 179, allow_nan=False)


def _customer(la: float, lo: float) -> CustomerState:
    s = CustomerState("c-1")
    s.customer = ev.Customer("c-1", None, None, None, la, lo, None, None, None, False)
    return s


@given(st.lists(st.tuples(lat, lon), min_size=1, max_size=30), lat, lon)
def test_the_nearest_store_is_the_one_at_the_smallest_great_circle_distance(
    stores: list[tuple[float, float]], la: float, lo: float
) -> None:
    ref = Reference()
    for i, (a, b) in enumerate(stores):
        ref.set_store(ev.Store(f"s-{i:02d}", None, a, b), f"s-{i:02d}")
    found = nearest_store(Ctx(_customer(la, lo), None, None, {}, ref, 0))
    assert found is not None
    store, km = found
    want = min(haversine_km(la, lo, a, b) for a, b in stores)
    assert km == haversine_km(la, lo, store.lat, store.lon)  # type: ignore[arg-type]
    assert abs(km - want) < 1e-6


def test_stores_without_a_location_never_win_and_a_change_of_stores_is_seen() -> None:
    ref = Reference()
    ref.set_store(ev.Store("s-far", None, 48.1, 11.6), "s-far")
    ref.set_store(ev.Store("s-nowhere", None, None, None), "s-nowhere")
    ctx = Ctx(_customer(52.5, 13.4), None, None, {}, ref, 0)
    assert nearest_store(ctx)[0].store_id == "s-far"  # type: ignore[index]
    ref.set_store(ev.Store("s-near", None, 52.52, 13.41), "s-near")
    assert nearest_store(ctx)[0].store_id == "s-near"  # type: ignore[index]
    ref.set_store(None, "s-near")
    assert nearest_store(ctx)[0].store_id == "s-far"  # type: ignore[index]
