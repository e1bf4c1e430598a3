"""The catalogue stages: stock keyed by SKU, in-stock rankings keyed by category.

The logic is `journeys.catalog` (plain Python, unit-tested); these operators load and store it.
Nothing of the catalogue is broadcast: a SKU's stock lives on one subtask, and only the
customers watching it hear of a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyflink.datastream import DataStream, OutputTag
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext

from common import events as ev
from common.settings import Settings
from jobs.stages.inbox import Inbox
from jobs.stages.keys import KEYED, keyed_row
from jobs.stages.state import pickled_map, pickled_value
from journeys.catalog import FactsRequest, Ranking, RankUpdate, SkuBook, facts_of, needs_alternatives

TO_CATEGORIES = OutputTag("to-category-stage")


@dataclass(slots=True)
class SkuSlot:
    """The SKU stage's state for one SKU: its book and the records held until journey time."""

    book: SkuBook
    inbox: Inbox = field(default_factory=Inbox)


class SkuStage(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by SKU: (sku, change, click or facts request) in; clicks with the SKU's facts and
    notices for customers out, and, to the category stage, ranking updates and the clicks and
    notices of a SKU that sold out. Records are applied in
    journey-time order (`jobs.stages.inbox`): a click's request sees the stock of its own time."""

    def __init__(self, settings: Settings) -> None:
        self._low = settings.journeys.low_stock_threshold
        self._ttl = settings.journeys.catalog_ttl_days

    def open(self, runtime_context: RuntimeContext) -> None:
        self._slot = runtime_context.get_state(pickled_value("sku-book", self._ttl))
        metrics = runtime_context.get_metrics_group()
        self._notices = metrics.counter("stock_notices")

    def process_element(self, value: tuple[str, Any], ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        sku, item = value
        slot: SkuSlot = self._slot.value() or SkuSlot(SkuBook(sku))
        if slot.inbox.hold_if_early(item.ts_ms, item, ctx.timer_service()):
            self._slot.update(slot)
            return
        yield from self._apply(slot.book, item)
        self._save(slot)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        slot: SkuSlot | None = self._slot.value()
        if slot is None:
            return
        for _, item in slot.inbox.ready(timestamp):
            yield from self._apply(slot.book, item)
        self._save(slot)

    def _apply(self, book: SkuBook, item: Any) -> Iterator[Any]:
        notices: list[ev.StockNotice | ev.ClickEvent]
        ranks: list[RankUpdate]
        if type(item) is ev.ClickEvent:
            notices, ranks = [book.enrich(item)], []
        elif type(item) is FactsRequest:
            notice = book.request(item)
            notices, ranks = ([] if notice is None else [notice]), []
        else:
            found, ranks = book.apply(item, self._low)
            notices = list(found)
            self._notices.inc(len(found))
        for u in ranks:
            yield TO_CATEGORIES, (u.category, u)
        for n in notices:
            if needs_alternatives(n):
                yield TO_CATEGORIES, (facts_of(n).category, n)
            else:
                yield keyed_row(_customer(n), n)

    def _save(self, slot: SkuSlot) -> None:
        b = slot.book
        if b.product is None and not b.stock and not b.watchers and not slot.inbox:
            self._slot.clear()
        else:
            self._slot.update(slot)


class CategoryStage(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by category: ranking updates in (nothing out), notices of sold-out SKUs in, the same
    notices with in-stock alternatives out, both in journey-time order.

    The ranking is map state (sku -> facts), one write per update; reading all of it for each
    sold-out notice would cost a scan, so each subtask keeps the rankings it has read in memory,
    rebuilt from state after a restart. Both change together, so they never disagree.
    """

    def __init__(self, settings: Settings) -> None:
        self._n = settings.journeys.alternatives
        self._ttl = settings.journeys.catalog_ttl_days

    def open(self, runtime_context: RuntimeContext) -> None:
        self._in_stock = runtime_context.get_map_state(pickled_map("in-stock", self._ttl))
        self._inbox = runtime_context.get_state(pickled_value("category-inbox", self._ttl))
        self._rankings: dict[str, Ranking] = {}

    def _ranking(self, category: str) -> Ranking:
        r = self._rankings.get(category)
        if r is None:
            r = self._rankings[category] = Ranking(category, dict(self._in_stock.items()))
        return r

    def process_element(self, value: tuple[str, Any], ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        category, item = value
        timers = ctx.timer_service()
        if item.ts_ms > timers.current_watermark():  # read the inbox only when there is to hold
            inbox: Inbox = self._inbox.value() or Inbox()
            inbox.hold_if_early(item.ts_ms, item, timers)
            self._inbox.update(inbox)
            return
        yield from self._apply(category, item)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        inbox: Inbox | None = self._inbox.value()
        if inbox is None:
            return
        category = ctx.get_current_key()
        for _, item in inbox.ready(timestamp):
            yield from self._apply(category, item)
        if inbox:
            self._inbox.update(inbox)
        else:
            self._inbox.clear()

    def _apply(self, category: str, item: Any) -> Iterator[Any]:
        if type(item) is RankUpdate:
            if item.facts is not None and item.in_stock:
                self._in_stock.put(item.sku, item.facts)
            else:
                self._in_stock.remove(item.sku)
            if category in self._rankings:
                self._rankings[category].update(item)
            return
        carrier = self._ranking(category).attach(item, self._n)
        yield keyed_row(_customer(carrier), carrier)


def _customer(item: ev.StockNotice | ev.ClickEvent) -> str:
    """Whom a notice or an enriched click is for (a click routed through a SKU has its user)."""
    cid = item.customer_id if type(item) is ev.StockNotice else item.user_id  # type: ignore[union-attr]
    assert cid is not None
    return cid


def catalog_stages(to_skus: DataStream, settings: Settings) -> DataStream:
    """(sku, item) pairs in; stock notices for customers out, as keyed rows (`jobs.stages.keys`)."""
    skus = (
        to_skus.key_by(lambda v: v[0])
        .process(SkuStage(settings), output_type=KEYED)
        .uid("sku-stage")
        .name("stock by SKU")
    )
    categories = (
        skus.get_side_output(TO_CATEGORIES)
        .key_by(lambda v: v[0])
        .process(CategoryStage(settings), output_type=KEYED)
        .uid("category-stage")
        .name("in-stock ranking by category")
    )
    return skus.union(categories)
