"""Routing by key: each event goes to the stage that owns its key, as the job and the peers route."""

from __future__ import annotations

from typing import Any

from benchmarks.workload import _Records
from common.settings import Settings
from connectors.avro import LocalSchemas
from connectors.decoder import Decoder
from jobs.simulate import parse_records
from journeys.catalog import FactsRequest
from journeys.routing import CUSTOMERS, SKUS, STORES, route_event

T = 1_796_000_000_000


def _routed(write: Any) -> list[tuple[int, Any]]:
    r = _Records()
    write(r)
    decoder = Decoder(Settings(), LocalSchemas())
    (record,) = parse_records(r.lines())
    return list(route_event(decoder.decode(record)))  # type: ignore[arg-type]


def test_stock_goes_to_its_sku_and_a_store_to_every_customer_partition() -> None:
    row = {"sku": "SKU-1", "location_id": "online", "quantity": 3, "updated_at": T}
    [(to, (key, _))] = _routed(lambda r: r.change(T, "inventory.stock_levels", "u", row))
    assert (to, key) == (SKUS, "SKU-1")
    store = {"store_id": "s-1", "name": "S", "lat": 1.0, "lon": 2.0}
    [(to, _)] = _routed(lambda r: r.change(T, "inventory.stores", "r", store))
    assert to == STORES


def test_a_click_on_one_sku_goes_through_the_sku_and_a_shipment_to_its_customer() -> None:
    [(to, (key, _))] = _routed(lambda r: r.click(T, "c-1", "Product Viewed", sku="SKU-2", product_id="p-2"))
    assert (to, key) == (SKUS, "SKU-2")
    ship = {"shipment_id": "sh-1", "order_id": "o-1", "customer_id": "c-1", "status": "created"}
    [(to, (key, _))] = _routed(lambda r: r.change(T, "orders.shipments", "c", ship))
    assert (to, key) == (CUSTOMERS, "c-1")


def test_a_click_on_several_skus_goes_to_its_customer_and_asks_each_sku() -> None:
    products = [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 1}]
    routed = _routed(lambda r: r.click(T, "c-1", "Checkout Started", cart_id="k", products=products))
    assert routed[0][0] == CUSTOMERS and routed[0][1][0] == "c-1"
    asks = {key: type(item) for to, (key, item) in routed[1:] if to == SKUS}
    assert asks == {"SKU-1": FactsRequest, "SKU-2": FactsRequest}


def test_a_row_about_nobody_goes_nowhere() -> None:
    ship = {"shipment_id": "sh-2", "order_id": "o-2", "customer_id": None, "status": "created"}
    assert _routed(lambda r: r.change(T, "orders.shipments", "c", ship)) == []
