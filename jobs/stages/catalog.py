"""The catalogue stages: stock keyed by SKU, in-stock rankings keyed by category.

The logic is `journeys.catalog` (plain Python, unit-tested); these operators load and store it.
Nothing of the catalogue is broadcast: a SKU's stock lives on one subtask, and only the
customers watching it hear of a change. Each stage gets its records in journey-time order from
the JVM (`jobs.stages.keys`), so a click sees the stock of its own time, and applies each at once.

A SKU's state is two parts: its book (product, stock per location, version; one value) and its
watchers (map state, one entry per customer). A view reads the book and writes nothing; a cart
event writes one watcher; a stock change writes the book and reads the watchers only when it
crosses a threshold. A popular SKU's watchers never cross into Python for a view of it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from pyflink.datastream import DataStream
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext

from common import events as ev
from common.settings import Settings
from jobs.stages import wire
from jobs.stages.cache import StateCache
from jobs.stages.keys import ROUTED, TIMED, by_destination, in_journey_time_order, routed_row, timed_row
from jobs.stages.legacy import SkuSlot, held
from jobs.stages.state import long_map, pickled_map, pickled_value
from journeys.catalog import (
    FactsRequest,
    Ranking,
    RankUpdate,
    SkuBook,
    facts_of,
    needs_alternatives,
)
from journeys.codec import decode_book, encode_book
from journeys.engine import event_time

#: the destinations of the SKU stage's rows (`jobs.stages.keys.by_destination`)
TO_CUSTOMERS, TO_CATEGORIES = 0, 1


class StateMap(MutableMapping[str, int]):
    """Flink map state as the mapping `SkuBook` keeps its watchers in."""

    __slots__ = ("_m",)

    def __init__(self, m: Any) -> None:
        self._m = m

    def __getitem__(self, k: str) -> int:
        v = self._m.get(k)
        if v is None:
            raise KeyError(k)
        return int(v)

    def __setitem__(self, k: str, v: int) -> None:
        self._m.put(k, v)

    def __delitem__(self, k: str) -> None:
        self._m.remove(k)

    def pop(self, k: str, default: Any = None) -> Any:
        v = self._m.get(k)
        if v is not None:
            self._m.remove(k)
        return default if v is None else int(v)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._m.keys()))

    def __len__(self) -> int:
        return sum(1 for _ in self._m.items())

    def __bool__(self) -> bool:
        return not self._m.is_empty()

    def items(self) -> Any:
        return list(self._m.items())


def _sku_of(item: Any) -> str:
    """The SKU a record of the SKU stage is keyed by."""
    if type(item) is ev.ClickEvent:
        if item.facts:
            return item.facts[0].sku
        # routed through the one SKU it names (`route_click`): its product, or the only entry of
        # its product list (a checkout of one item)
        return item.item.sku if item.item is not None else item.products[0].sku
    if type(item) is FactsRequest:
        return item.sku
    return item.row.sku  # type: ignore[no-any-return]


def _customer(item: ev.StockNotice | ev.ClickEvent) -> str:
    """Whom a notice or an enriched click is for (a click routed through a SKU has its user)."""
    cid = item.customer_id if type(item) is ev.StockNotice else item.user_id  # type: ignore[union-attr]
    assert cid is not None
    return cid


class SkuStage(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by SKU: changes, clicks and facts requests in; clicks with the SKU's facts and
    notices for customers out, and, to the category stage, ranking updates and the clicks and
    notices of a SKU that sold out."""

    def __init__(self, settings: Settings) -> None:
        self._low = settings.journeys.low_stock_threshold
        self._ttl = settings.journeys.catalog_ttl_days
        self._cache_size = settings.journeys.sku_cache

    def open(self, runtime_context: RuntimeContext) -> None:
        # the name and type of the state before layout 3, so that its savepoints restore here
        self._book = runtime_context.get_state(pickled_value("sku-book", self._ttl))
        # map state is one object for every key (Flink reads the current one): so is its view
        self._watchers = StateMap(runtime_context.get_map_state(long_map("sku-watchers", self._ttl)))
        self._notices = runtime_context.get_metrics_group().counter("stock_notices")
        # Books as last read or written: a view of a SKU, the most common record, then reads
        # nothing from Flink. Sound because only a change alters a book and every change is
        # written (`_save`). A book cached when read expires a TTL after that read, not after
        # its last write as Flink's does: it can outlive Flink's copy by less than the TTL
        # (400 days by default), and only in an operator instance that ran that long.
        self._cache: StateCache[SkuBook] | None = StateCache.sized(self._cache_size, self._ttl)

    def process_element(self, blob: bytes, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        item = wire.decode(blob)
        sku = _sku_of(item)
        cache = self._cache
        book = None if cache is None else cache.get(sku)
        if book is None:
            raw = self._book.value()
            if type(raw) is SkuSlot:  # written before layout 3: watchers into map state, held records applied
                book = raw.book
                for cid, until in book.watchers.items():
                    self._watchers[cid] = until
                book.watchers = self._watchers
                for _, old in held(raw.inbox):
                    yield from self._apply(book, old)
                self._save(book)
            else:
                book = (
                    SkuBook(sku, watchers=self._watchers)
                    if raw is None
                    else decode_book(sku, raw, self._watchers)
                )
                if cache is not None:
                    cache.put(sku, book)
        yield from self._apply(book, item)
        if type(item) is ev.ChangeEvent:
            self._save(book)  # only a change touches the book; a click or request its watchers at most

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
            yield routed_row(TO_CATEGORIES, u.category, u.ts_ms, wire.encode(u))
        for n in notices:
            if needs_alternatives(n):
                category = facts_of(n).category
                assert category is not None
                yield routed_row(TO_CATEGORIES, category, event_time(n), wire.encode(n))
            else:
                yield routed_row(TO_CUSTOMERS, _customer(n), event_time(n), wire.encode(n))

    def _save(self, book: SkuBook) -> None:
        if book.product is None and not book.stock and not book.watchers:
            self._book.clear()
            if self._cache is not None:
                self._cache.drop(book.sku)
        else:
            self._book.update(encode_book(book))
            if self._cache is not None:
                self._cache.put(book.sku, book)


class CategoryStage(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by category: ranking updates in (nothing out), clicks and notices of sold-out SKUs in,
    the same with in-stock alternatives out.

    The ranking is map state (sku -> facts), one write per update; reading all of it for each
    sold-out notice would cost a scan, so each subtask keeps the rankings it has read in memory,
    rebuilt from state after a restart. Both change together, so they never disagree.
    """

    def __init__(self, settings: Settings) -> None:
        self._n = settings.journeys.alternatives
        self._ttl = settings.journeys.catalog_ttl_days

    def open(self, runtime_context: RuntimeContext) -> None:
        self._in_stock = runtime_context.get_map_state(pickled_map("in-stock", self._ttl))
        self._rankings: dict[str, Ranking] = {}

    def _ranking(self, category: str) -> Ranking:
        r = self._rankings.get(category)
        if r is None:
            r = self._rankings[category] = Ranking(category, dict(self._in_stock.items()))
        return r

    def process_element(self, blob: bytes, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        item = wire.decode(blob)
        if type(item) is RankUpdate:
            if item.facts is not None and item.in_stock:
                self._in_stock.put(item.sku, item.facts)
            else:
                self._in_stock.remove(item.sku)
            if item.category in self._rankings:
                self._rankings[item.category].update(item)
            return
        category = facts_of(item).category
        assert category is not None
        carrier = self._ranking(category).attach(item, self._n)
        yield timed_row(_customer(carrier), event_time(carrier), wire.encode(carrier))


def catalog_stages(to_skus: DataStream, settings: Settings) -> DataStream:
    """`TIMED` rows for SKUs in; `TIMED` rows for customers out (enriched clicks, stock notices)."""
    days = settings.journeys.catalog_ttl_days
    skus = (
        in_journey_time_order(to_skus, "skus", days)
        .process(SkuStage(settings), output_type=ROUTED)
        .uid("sku-stage")
        .name("stock by SKU")
    )
    to_customers, to_categories = by_destination(skus, "sku-stage", 1)
    categories = (
        in_journey_time_order(to_categories, "categories", days)
        .process(CategoryStage(settings), output_type=TIMED)
        .uid("category-stage")
        .name("in-stock ranking by category")
    )
    return to_customers.union(categories)
