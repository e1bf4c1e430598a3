"""Route stage: each decoded event to the stage that owns its key.

- to the customer stage (main output): clicks, customer changes, orders, shipments, tickets,
  applications, consents, channel feedback;
- to the SKU stage: product and stock changes, and the clicks that name one SKU, which reach their
  customer from there with its facts attached; a click naming several goes to its customer
  directly, and a facts request per SKU to the SKU stage (`journeys.catalog.route_click`);
- to every customer subtask: store changes (a few hundred rows, needed for "nearest store").

Keyed outputs are `TIMED` rows (key, journey time, event): the JVM orders each key's records by
journey time before the next stage (`jobs.stages.keys`). Watermarks reach every output, side
outputs included, so the three branches share one journey time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.datastream import DataStream, OutputTag
from pyflink.datastream.functions import ProcessFunction

from common import events as ev
from common.settings import Settings
from jobs.stages import wire
from jobs.stages.decode import DEAD_LETTERS, DecodeFunction
from jobs.stages.keys import ROUTED, by_destination, routed_row
from journeys.catalog import route_click
from journeys.engine import customer_of, event_time

#: the destinations of a routed row (`jobs.stages.keys.by_destination`); store changes, a few
#: hundred rows, go to a Python side output of their own
CUSTOMERS, SKUS = 0, 1
STORES = OutputTag("stores")
SKU_TABLES = frozenset({"inventory.products", "inventory.stock_levels"})


def route_event(event: ev.Event) -> Iterator[tuple[int | OutputTag, Any]]:
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


class DecodeAndRoute(DecodeFunction):
    """Decoding and routing in one Python function: one crossing into Python per record, and
    the typed event never leaves Python between the two."""

    def process_element(self, frame: bytes, ctx: ProcessFunction.Context) -> Iterator[Any]:
        event, dead = self.decode_frame(frame)
        if dead is not None:
            yield DEAD_LETTERS, dead
            return
        if event is None:
            return
        t = event_time(event)
        for to, value in route_event(event):
            if to is STORES:
                yield to, value
            else:
                yield routed_row(to, value[0], t, wire.encode(value[1]))


def decode_and_route(
    frames: DataStream, settings: Settings, job: str
) -> tuple[DataStream, DataStream, DataStream, DataStream]:
    """Input frames in; customer-bound events and the SKU stage's records (`TIMED` rows, see
    `jobs.stages.keys`), store changes and dead-letter output frames out."""
    routed = (
        frames.process(DecodeAndRoute(settings, job), output_type=ROUTED)
        .uid("decode-and-route")
        .name("decode, validate and route by key")
    )
    customers, skus = by_destination(routed, "routed", 1)
    return customers, skus, routed.get_side_output(STORES), routed.get_side_output(DEAD_LETTERS)
