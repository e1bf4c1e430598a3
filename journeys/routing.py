"""Which keyed stage owns an event: the routing of the journey job (`jobs.stages.route`), in plain
Python so that anything that runs the engine keyed (the benchmark's peers) routes the same way.

- to the customers (CUSTOMERS): clicks, customer changes, orders, shipments, tickets,
  applications, consents, channel feedback;
- to the SKUs (SKUS): product and stock changes, and the clicks that name one SKU, which reach
  their customer from there with its facts attached; a click naming several goes to its customer
  directly, and a facts request per SKU to the SKUs (`journeys.catalog.route_click`);
- to every customer partition (STORES): store changes, a few hundred rows, for "nearest store".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from common import events as ev
from journeys.catalog import route_click
from journeys.engine import customer_of

CUSTOMERS, SKUS, STORES = 0, 1, 2
SKU_TABLES = frozenset({"inventory.products", "inventory.stock_levels"})


def route_event(event: ev.Event) -> Iterator[tuple[int, Any]]:
    """(CUSTOMERS, (customer, event)), (SKUS, (sku, item)) or (STORES, change)."""
    if type(event) is ev.ChangeEvent:
        if event.table in SKU_TABLES:
            sku = getattr(event.row, "sku", None)
            if sku is not None:
                yield SKUS, (sku, event)
            return
        if event.table == "inventory.stores":
            yield STORES, event
            return
    customer = customer_of(event)
    if customer is None:
        return  # e.g. a shipment row without its customer: no journey can be about it
    if type(event) is ev.ClickEvent:
        via, asks = route_click(event)
        if via is not None:
            yield SKUS, (via, event)
            return
        yield CUSTOMERS, (customer, event)
        for r in asks:
            yield SKUS, (r.sku, r)
        return
    yield CUSTOMERS, (customer, event)
