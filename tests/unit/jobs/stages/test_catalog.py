"""The SKU stage's key of what reaches it: a click routed through its one SKU, whichever way it
names that SKU (found by `make bench`: a checkout of one item crashed the stage)."""

from __future__ import annotations

from benchmarks.workload import _Records
from common.settings import Settings
from connectors.avro import LocalSchemas
from connectors.decoder import Decoder
from jobs.simulate import parse_records
from jobs.stages.catalog import _sku_of
from journeys.routing import SKUS, route_event

T = 1_796_000_000_000


def _click(event: str, **props: object) -> object:
    r = _Records()
    r.click(T, "c-1", event, **props)
    (record,) = parse_records(r.lines())
    return Decoder(Settings(), LocalSchemas()).decode(record)


def test_a_checkout_of_one_item_is_keyed_by_that_item() -> None:
    click = _click("Checkout Started", cart_id="k", products=[{"sku": "SKU-7", "quantity": 1}])
    [(to, (key, item))] = list(route_event(click))  # type: ignore[arg-type]
    assert (to, key) == (SKUS, "SKU-7")
    assert _sku_of(item) == "SKU-7"


def test_a_view_is_keyed_by_its_product() -> None:
    click = _click("Product Viewed", sku="SKU-3", product_id="p-3")
    [(to, (key, item))] = list(route_event(click))  # type: ignore[arg-type]
    assert to == SKUS
    assert _sku_of(item) == key == "SKU-3"
