"""A customer's state as compact bytes: what the Flink operator stores per customer.

Pickling the state's graph of dataclasses cost 36 us per event for a read and a write (an
859-byte pickle on average) and named every class in every value. Here each object is a tuple of
its fields in a fixed order, and the whole is one `marshal` blob: CPython's own C codec for
built-in types, about twice as fast as pickle both ways and half the size. The layout is this
module's, versioned by its first byte; `decode` also takes a state pickled by a job from before
it (state versions 1 and 2: `legacy_state`), so a savepoint of such a job restores into this one.

marshal's format (version 4) is read by every CPython since 3.4; a state stored by this job is
read by a job on a later Python as long as marshal keeps reading version 4, which it has done
since it was introduced. A change of layout bumps `LAYOUT` and keeps a reader of the old one.
"""

from __future__ import annotations

import marshal
from collections.abc import MutableMapping
from typing import Any

from common import events as ev
from journeys.catalog import SkuBook
from journeys.state import CustomerState, Instance, PendingAction

LAYOUT = 3
_HEAD = bytes([LAYOUT])
#: rows an instance keeps in its data (its shipment, application or order), by tag
_ROWS: dict[type, int] = {ev.Shipment: 1, ev.Application: 2, ev.Order: 3, ev.Customer: 4}
_ROW_TYPES: dict[int, type] = {v: k for k, v in _ROWS.items()}
#: marks an encoded row among an instance's data values (none of which is ever a tuple)
_ROW = "\x00row"


class CodecError(ValueError):
    pass


def encode(state: CustomerState) -> bytes:
    s = state
    instances = s.instances
    return _HEAD + marshal.dumps(
        (
            s.customer_id,
            s.v,
            _customer(s.customer),
            s.consents,
            s.opted_out,
            s.engagement,
            s.bounced,
            s.tickets,
            s.marketing_sent,
            s.affinity,
            s.affinity_at,
            s.affinity_base,
            s.entries,
            s.seen,
            s.views,
            {k: sku_facts(f) for k, f in s.skus.items()} if s.skus else None,
            s.order_categories,
            tuple(_instance(i) for i in instances),
            s.erased,
            s.last_event,
            s.pruned_at,
            tuple(_pending(p, instances) for p in s.deferred),
            s.due,
        )
    )


def decode(blob: bytes) -> CustomerState:
    if not blob or blob[0] != LAYOUT:
        raise CodecError(f"customer state layout {blob[:1]!r}, expected {LAYOUT}")
    t = marshal.loads(memoryview(blob)[1:])
    instances = [_instance_of(i) for i in t[17]]
    return CustomerState(
        t[0],
        t[1],
        None if t[2] is None else ev.Customer(*t[2]),
        t[3],
        t[4],
        t[5],
        t[6],
        t[7],
        t[8],
        t[9],
        t[10],
        t[11],
        t[12],
        t[13],
        t[14],
        {} if t[15] is None else {k: sku_facts_of(f) for k, f in t[15].items()},
        t[16],
        instances,
        t[18],
        t[19],
        t[20],
        [_pending_of(p, instances) for p in t[21]],
        t[22],
    )


def _customer(c: ev.Customer | None) -> tuple[Any, ...] | None:
    if c is None:
        return None
    return (
        c.customer_id,
        c.email,
        c.phone,
        c.timezone,
        c.lat,
        c.lon,
        c.preferred_channel,
        c.loyalty_tier,
        c.loyalty_points,
        c.vip,
    )


def sku_facts(f: ev.SkuFacts) -> tuple[Any, ...]:
    return (
        f.sku,
        f.name,
        f.category,
        f.brand,
        f.price,
        f.online,
        f.stores,
        tuple(sku_facts(a) for a in f.alternatives) if f.alternatives else (),
        f.version,
    )


def sku_facts_of(t: tuple[Any, ...]) -> ev.SkuFacts:
    alts = tuple(sku_facts_of(a) for a in t[7]) if t[7] else ()
    return ev.SkuFacts(t[0], t[1], t[2], t[3], t[4], t[5], t[6], alts, t[8])


def _row(row: Any) -> tuple[Any, ...]:
    tag = _ROWS.get(type(row))
    if tag is None:
        raise CodecError(f"an instance keeps a {type(row).__name__}, which the state codec does not know")
    return (_ROW, tag, tuple(getattr(row, f) for f in row.__slots__))


def _data(data: dict[str, Any]) -> dict[str, Any]:
    out = data
    for k, v in data.items():
        if type(v) in _ROWS:
            if out is data:
                out = dict(data)
            out[k] = _row(v)
    return out


def _data_of(data: dict[str, Any]) -> dict[str, Any]:
    for k, v in data.items():
        if type(v) is tuple and v and v[0] == _ROW:
            data[k] = _ROW_TYPES[v[1]](*v[2])
    return data


def _instance(i: Instance) -> tuple[Any, ...]:
    return (
        i.journey_id,
        i.version,
        i.key,
        i.step,
        i.entered_at,
        i.step_started,
        i.wake_at,
        i.variant,
        i.last_activity,
        i.touches,
        i.visits,
        i.sent,
        _data(i.data),
    )


def _instance_of(t: tuple[Any, ...]) -> Instance:
    return Instance(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], _data_of(t[12]))


def _pending(p: PendingAction, instances: list[Instance]) -> tuple[Any, ...]:
    # an open instance is stored once, as itself: its deferred action names it by position, so
    # that after decoding both are the same object again, as the engine expects
    for n, inst in enumerate(instances):
        if inst is p.origin:
            return (p.due, p.record, n)
    return (p.due, p.record, _instance(p.origin))


def _pending_of(t: tuple[Any, ...], instances: list[Instance]) -> PendingAction:
    origin = instances[t[2]] if type(t[2]) is int else _instance_of(t[2])
    return PendingAction(t[0], t[1], origin)


# ------------------------------------------------------------------------------------ a SKU's book


def encode_book(book: SkuBook) -> bytes:
    """A SKU's product and stock (its watchers are kept apart, entry by entry)."""
    p = book.product
    product = None if p is None else (p.sku, p.product_id, p.name, p.category, p.brand, p.price)
    return _HEAD + marshal.dumps((product, book.stock, book.version))


def decode_book(sku: str, blob: bytes, watchers: MutableMapping[str, int]) -> SkuBook:
    if not blob or blob[0] != LAYOUT:
        raise CodecError(f"SKU book layout {blob[:1]!r}, expected {LAYOUT}")
    product, stock, version = marshal.loads(memoryview(blob)[1:])
    return SkuBook(sku, None if product is None else ev.Product(*product), stock, version, watchers)
