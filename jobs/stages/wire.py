"""The stages' records as compact bytes, between one Python stage and the next.

Flink moves a Python value between operators as bytes, and pickle made those bytes from a slotted
dataclass at 18 us (a click) to 30 us (a click with its SKU's facts), and back at 17-20 us: more
than the engine spends deciding on the click. Here a record is a tuple of its fields, nested
records tuples too, in one `marshal` blob, tagged with its type: a few microseconds each way.
The layout lives only as long as a record is in flight between stages, in network buffers and
in `EventTimeOrder`'s list state (so in checkpoints and savepoints too): `LAYOUT` says which.
"""

from __future__ import annotations

import marshal
import pickle
import struct
from dataclasses import fields
from operator import attrgetter
from typing import Any

from common import events as ev
from journeys.catalog import FactsRequest, RankUpdate
from journeys.codec import sku_facts, sku_facts_of

LAYOUT = 1
_HEAD = bytes([LAYOUT])
_PICKLED = b"\xff"
#: `EventTimeOrder` (Java) puts this byte and the watermark (8 bytes, big-endian) before a record
#: it lets through behind the watermark: the stage learns it is late without a call into the JVM
LATE = 0xFE
_LATE = bytes([LATE])
_WATERMARK = struct.Struct(">q")
_ROWS: tuple[type, ...] = (
    ev.Product,
    ev.Store,
    ev.StockLevel,
    ev.Order,
    ev.Shipment,
    ev.Customer,
    ev.Consent,
    ev.Ticket,
    ev.Application,
)
_ROW_TAG = {t: i for i, t in enumerate(_ROWS)}
_ROW_FIELDS = {t: attrgetter(*(f.name for f in fields(t))) for t in _ROWS}
_CLICK, _CHANGE, _FEEDBACK, _NOTICE, _REQUEST, _RANK = range(6)


class WireError(ValueError):
    pass


def _item(i: ev.Item) -> tuple[Any, ...]:
    return (i.sku, i.product_id, i.category, i.brand, i.name, i.price, i.quantity)


def _row(r: ev.Row | None) -> tuple[Any, ...] | None:
    if r is None:
        return None
    t = type(r)
    return (_ROW_TAG[t], _ROW_FIELDS[t](r))


def _row_of(t: tuple[Any, ...] | None) -> Any:
    return None if t is None else _ROWS[t[0]](*t[1])


def encode(record: Any) -> bytes:
    t = type(record)
    if t is ev.ClickEvent:
        c = record
        body: tuple[Any, ...] = (
            _CLICK,
            c.message_id,
            c.user_id,
            c.anonymous_id,
            c.event,
            c.ts_ms,
            c.cart_id,
            c.order_id,
            None if c.item is None else _item(c.item),
            tuple(_item(p) for p in c.products),
            c.total,
            c.currency,
            c.channel,
            c.timezone,
            c.extra,
            tuple(sku_facts(f) for f in c.facts),
        )
    elif t is ev.ChangeEvent:
        e = record
        body = (_CHANGE, e.table, e.op, _row(e.before), _row(e.after), e.ts_ms, e.event_id)
    elif t is ev.ChannelFeedback:
        f = record
        body = (_FEEDBACK, f.action_id, f.customer_id, f.channel, f.event, f.occurred_at)
    elif t is ev.StockNotice:
        n = record
        body = (_NOTICE, n.customer_id, sku_facts(n.facts), n.ts_ms, n.event_id)
    elif t is FactsRequest:
        r = record
        body = (_REQUEST, r.sku, r.customer_id, r.event, r.event_id, r.ts_ms)
    elif t is RankUpdate:
        u = record
        body = (_RANK, u.category, u.sku, None if u.facts is None else sku_facts(u.facts), u.ts_ms)
    else:
        raise WireError(f"no wire layout for a {t.__name__}")
    try:
        return _HEAD + marshal.dumps(body)
    except ValueError:
        # a property of a type marshal does not know (an Avro click's logical type, say): pickled
        return _PICKLED + pickle.dumps(record, protocol=5)


def decode_timed(blob: bytes) -> tuple[Any, int | None]:
    """A record as a keyed stage gets it from `EventTimeOrder`, and the watermark it came
    behind if it came late (`LATE`), else None."""
    if blob[0] == LATE:
        return decode(blob[9:]), _WATERMARK.unpack_from(blob, 1)[0]
    return decode(blob), None


def decode(blob: bytes) -> Any:
    if blob[:1] == _LATE:
        blob = blob[9:]
    if blob[:1] == _PICKLED:
        return pickle.loads(memoryview(blob)[1:])
    if not blob or blob[0] != LAYOUT:
        raise WireError(f"record layout {blob[:1]!r}, expected {LAYOUT}")
    t = marshal.loads(memoryview(blob)[1:])
    tag = t[0]
    if tag == _CLICK:
        return ev.ClickEvent(
            t[1],
            t[2],
            t[3],
            t[4],
            t[5],
            t[6],
            t[7],
            None if t[8] is None else ev.Item(*t[8]),
            tuple(ev.Item(*p) for p in t[9]),
            t[10],
            t[11],
            t[12],
            t[13],
            t[14],
            tuple(sku_facts_of(f) for f in t[15]),
        )
    if tag == _CHANGE:
        return ev.ChangeEvent(t[1], t[2], _row_of(t[3]), _row_of(t[4]), t[5], t[6])
    if tag == _FEEDBACK:
        return ev.ChannelFeedback(t[1], t[2], t[3], t[4], t[5])
    if tag == _NOTICE:
        return ev.StockNotice(t[1], sku_facts_of(t[2]), t[3], t[4])
    if tag == _REQUEST:
        return FactsRequest(t[1], t[2], t[3], t[4], t[5])
    if tag == _RANK:
        return RankUpdate(t[1], t[2], None if t[3] is None else sku_facts_of(t[3]), t[4])
    raise WireError(f"unknown record tag {tag}")
