"""Route stage: each decoded event to the stage that owns its key.

- to the customer stage (main output): clicks, customer changes, orders, shipments, tickets,
  applications, consents, channel feedback;
- to the SKU stage: product and stock changes, and the clicks that name one SKU, which reach their
  customer from there with its facts attached; a click naming several goes to its customer
  directly, and a facts request per SKU to the SKU stage (`journeys.catalog.route_click`);
- to every customer subtask: store changes (a few hundred rows, needed for "nearest store").

Watermarks reach every output, side outputs included, so the three branches share one journey
time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.datastream import DataStream, OutputTag
from pyflink.datastream.functions import ProcessFunction

from common import events as ev
from jobs.stages.keys import KEYED, keyed_row
from journeys.catalog import route_click
from journeys.engine import customer_of

TO_SKUS = OutputTag("to-sku-stage")
STORES = OutputTag("stores")
SKU_TABLES = frozenset({"inventory.products", "inventory.stock_levels"})


def route_event(event: ev.Event) -> Iterator[tuple[OutputTag | None, Any]]:
    """(None, (customer, event)) for the customer stage, (TO_SKUS, (sku, item)), (STORES, change)."""
    if type(event) is ev.ChangeEvent:
        if event.table in SKU_TABLES:
            sku = getattr(event.row, "sku", None)
            if sku is not None:
                yield TO_SKUS, (sku, event)
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
            yield TO_SKUS, (via, event)
            return
        yield None, (customer, event)
        for r in asks:
            yield TO_SKUS, (r.sku, r)
        return
    yield None, (customer, event)


class RouteFunction(ProcessFunction):  # type: ignore[misc]
    def process_element(self, event: ev.Event, ctx: ProcessFunction.Context) -> Iterator[Any]:
        for tag, value in route_event(event):
            yield keyed_row(*value) if tag is None else (tag, value)


def route(events: DataStream) -> tuple[DataStream, DataStream, DataStream]:
    """Customer-bound events (keyed rows, see `jobs.stages.keys`), (sku, item) pairs for the SKU
    stage, store changes."""
    routed = events.process(RouteFunction(), output_type=KEYED).uid("route").name("route by key")
    return routed, routed.get_side_output(TO_SKUS), routed.get_side_output(STORES)
