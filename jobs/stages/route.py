"""Route stage: each decoded event to the stage that owns its key (`journeys.routing`).

Keyed outputs are `TIMED` rows (key, journey time, event): the JVM orders each key's records by
journey time before the next stage (`jobs.stages.keys`); store changes, a few hundred rows, go
to a Python side output of their own, broadcast to every customer subtask. Watermarks reach
every output, side outputs included, so the three branches share one journey time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.datastream import DataStream, OutputTag
from pyflink.datastream.functions import ProcessFunction

from common.settings import Settings
from jobs.stages import wire
from jobs.stages.decode import DEAD_LETTERS, DecodeFunction
from jobs.stages.keys import ROUTED, by_destination, routed_row
from journeys.engine import event_time
from journeys.routing import CUSTOMERS, SKUS, route_event
from journeys.routing import STORES as TO_STORES

__all__ = ["CUSTOMERS", "SKUS", "STORES", "decode_and_route", "route_event"]

STORES = OutputTag("stores")


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
            if to == TO_STORES:
                yield STORES, value
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
