"""Stock per SKU and location, in-stock SKUs per category, and who is watching which SKU.

The logic of the job's two catalogue stages, as plain Python:

- `SkuBook` is the state of one SKU (the SKU-keyed stage): its catalogue entry, its stock per
  location and the customers whose open carts hold it. A click that names the SKU asks it for
  the current facts (`request`); a stock change that crosses a threshold (out, low, back) tells
  every watcher (`apply`).
- `Ranking` is the state of one category (the category-keyed stage): its in-stock SKUs, from
  which a SKU that sold out gets its alternatives.
- `Catalog` holds all of them in one process, for `simulate` and the tests.

A click that names one SKU reaches its customer through that SKU's stage, which attaches the
SKU's facts as they are at the click's time (`route_click`, `SkuBook.enrich`): one record, and
one engine call, for the click and its facts. A click naming several SKUs (a checkout with its
products) goes straight to the customer, and each SKU answers with a `StockNotice` after it; an
order's products only end their watch. The job and `simulate` route alike.
"""

from __future__ import annotations

import heapq
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TypeVar

from common import events as ev
from journeys.facts import Reference

#: clicks that make their customer a watcher of the SKUs in them (with a cart), and that end it
WATCH = frozenset({"Product Added", "Checkout Started", "Cart Viewed"})
UNWATCH = "Order Completed"
#: how long a watcher stays without another cart event: past the last touch of a cart journey
WATCH_MS = 5 * 24 * 3_600_000


def level(stock: int, low: int) -> int:
    """0 = out of stock, 1 = low, 2 = in stock."""
    return 0 if stock <= 0 else 1 if stock <= low else 2


@dataclass(slots=True)
class FactsRequest:
    """A customer's click names a SKU: send them its facts, and watch or unwatch it for them."""

    sku: str
    customer_id: str
    event: str
    event_id: str
    ts_ms: int


@dataclass(slots=True)
class RankUpdate:
    """A SKU's standing in its category changed; `facts` None: no longer in stock there."""

    category: str
    sku: str
    facts: ev.SkuFacts | None
    #: the time of the change behind it
    ts_ms: int = 0

    @property
    def in_stock(self) -> bool:
        return self.facts is not None and self.facts.stock > 0


def route_click(click: ev.ClickEvent) -> tuple[str | None, list[FactsRequest]]:
    """Where a click goes on its way to its customer: through the stage of the one SKU it names,
    which attaches that SKU's facts (the SKU, no requests), or straight to the customer (None)
    with a request per SKU it names, which the SKU stage answers with notices of their own (an
    order's requests only end the watch)."""
    asks = requests(click)
    if len(asks) == 1 and asks[0].event != UNWATCH:
        return asks[0].sku, []
    return None, asks


def requests(click: ev.ClickEvent) -> list[FactsRequest]:
    """What a click asks of the SKU stage: one request per SKU it names (none if anonymous)."""
    if not click.user_id:
        return []
    skus = [click.item.sku] if click.item is not None else []
    skus += [p.sku for p in click.products]
    return [
        FactsRequest(sku, click.user_id, click.event, click.message_id, click.ts_ms)
        for sku in dict.fromkeys(skus)
    ]


@dataclass(slots=True)
class SkuBook:
    """One SKU: the state of the SKU-keyed stage for its key."""

    sku: str
    product: ev.Product | None = None
    #: location ("online" or a store id) -> units
    stock: dict[str, int] = field(default_factory=dict)
    #: bumped on every change, so that the customer keeps the newest facts whatever path they took
    version: int = 0
    #: customer -> until when they watch (their last cart event with the SKU + WATCH_MS); any
    #: mutable mapping: the job keeps it in map state, so that a cart event writes one entry and a
    #: view reads none. Expired watchers are dropped when a crossing would notify them.
    watchers: MutableMapping[str, int] = field(default_factory=dict)

    def facts(self) -> ev.SkuFacts:
        p, stock = self.product, self.stock
        return ev.SkuFacts(
            self.sku,
            p.name if p else None,
            p.category if p else None,
            p.brand if p else None,
            p.price if p else None,
            online=stock.get("online", 0),
            stores={k: v for k, v in stock.items() if k != "online"},
            version=self.version,
        )

    def total(self) -> int:
        return sum(self.stock.values())

    def request(self, r: FactsRequest) -> ev.StockNotice | None:
        """The facts for the customer who asked; an order ends their watch and needs no facts."""
        if r.event == UNWATCH:
            self.watchers.pop(r.customer_id, None)
            return None
        if r.event in WATCH:
            self.watchers[r.customer_id] = r.ts_ms + WATCH_MS
        return ev.StockNotice(r.customer_id, self.facts(), r.ts_ms, f"{r.event_id}>{self.sku}")

    def enrich(self, click: ev.ClickEvent) -> ev.ClickEvent:
        """A click routed through this SKU (`route_click`), with the SKU's facts attached."""
        assert click.user_id is not None
        r = FactsRequest(self.sku, click.user_id, click.event, click.message_id, click.ts_ms)
        notice = self.request(r)
        assert notice is not None, "an order's click is not routed through its SKUs"
        # the stage that holds the click owns it: attached in place, not copied
        click.facts = (notice.facts,)
        return click

    def apply(self, change: ev.ChangeEvent, low: int) -> tuple[list[ev.StockNotice], list[RankUpdate]]:
        """A product or stock change: notices for the watchers if a threshold was crossed, and
        the category rankings to update."""
        row = change.row
        before_total = self.total()
        before_cat = self.product.category if self.product else None
        if change.table == "inventory.products" and type(row) is ev.Product:
            self.product = None if change.op == "d" else row
            self.version += 1
            after_cat = self.product.category if self.product else None
            ranks = (
                []
                if before_cat in (None, after_cat)
                else [RankUpdate(before_cat, self.sku, None, change.ts_ms)]
            )
            return [], ranks + self._rank(change.ts_ms)
        if change.table != "inventory.stock_levels" or type(row) is not ev.StockLevel:
            return [], []
        before_here = self.stock.get(row.location_id, 0)
        if change.op == "d":
            self.stock.pop(row.location_id, None)
        else:
            self.stock[row.location_id] = max(0, row.quantity)
        self.version += 1
        after_total, after_here = self.total(), self.stock.get(row.location_id, 0)
        ranks = self._rank(change.ts_ms) if after_total != before_total else []
        now = change.ts_ms
        crossed = level(before_total, low) != level(after_total, low) or (
            row.location_id != "online" and (before_here > 0) != (after_here > 0)
        )
        if not crossed or not self.watchers:
            return [], ranks
        live: list[str] = []
        for cid, until in list(self.watchers.items()):
            if until > now:
                live.append(cid)
            else:
                del self.watchers[cid]
        facts = self.facts()
        return [ev.StockNotice(cid, facts, now, f"{change.event_id}>{cid}") for cid in sorted(live)], ranks

    def _rank(self, ts: int) -> list[RankUpdate]:
        category = self.product.category if self.product else None
        if not category:
            return []
        return [RankUpdate(category, self.sku, self.facts() if self.total() > 0 else None, ts)]


@dataclass(slots=True)
class Ranking:
    """One category's in-stock SKUs: the state of the category-keyed stage for its key."""

    category: str
    in_stock: dict[str, ev.SkuFacts] = field(default_factory=dict)

    def update(self, u: RankUpdate) -> None:
        if u.facts is not None and u.in_stock:
            self.in_stock[u.sku] = u.facts
        else:
            self.in_stock.pop(u.sku, None)

    def alternatives(self, sku: str, n: int) -> tuple[ev.SkuFacts, ...]:
        """The best stocked other SKUs of the category."""
        ranked = heapq.nsmallest(n + 1, self.in_stock.values(), key=lambda f: (-f.stock, f.sku))
        return tuple(f for f in ranked if f.sku != sku)[:n]

    def attach(self, item: Carrier, n: int) -> Carrier:
        """A notice or click about a sold-out SKU, with up to `n` alternatives from this category."""
        facts = facts_of(item)
        facts.alternatives = self.alternatives(facts.sku, n)
        return item


#: what carries a SKU's facts to its customer: a notice, or the click that asked for them
Carrier = TypeVar("Carrier", ev.StockNotice, ev.ClickEvent)


def facts_of(item: ev.StockNotice | ev.ClickEvent) -> ev.SkuFacts:
    return item.facts if type(item) is ev.StockNotice else item.facts[0]  # type: ignore[index]


def needs_alternatives(item: ev.StockNotice | ev.ClickEvent) -> bool:
    """Only a SKU that sold out is ever replaced: the others skip the category stage."""
    f = facts_of(item)
    return f.stock <= 0 and bool(f.category)


@dataclass
class Catalog:
    """Every SKU and category in one process: the two stages as `simulate` runs them."""

    low_threshold: int = 5
    #: how many in-stock SKUs of the same category go along as alternatives
    alternatives: int = 10
    books: dict[str, SkuBook] = field(default_factory=dict)
    rankings: dict[str, Ranking] = field(default_factory=dict)
    reference: Reference = field(default_factory=Reference)

    def book(self, sku: str) -> SkuBook:
        b = self.books.get(sku)
        if b is None:
            b = self.books[sku] = SkuBook(sku)
        return b

    def product(self, sku: str) -> ev.Product | None:
        b = self.books.get(sku)
        return b.product if b else None

    def enrich(self, click: ev.ClickEvent) -> list[ev.StockNotice]:
        """The click on its way to its customer (`route_click`): with the facts of the one SKU it
        names attached, or with the notices that follow it, one per SKU it names."""
        via, asks = route_click(click)
        if via is not None:
            self.attach(self.book(via).enrich(click))
            return []
        out = []
        for r in asks:
            notice = self.book(r.sku).request(r)
            if notice is not None:
                out.append(self.attach(notice))
        return out

    def apply(self, change: ev.ChangeEvent) -> list[ev.StockNotice]:
        """Inventory changes update the catalogue; a threshold crossing notifies the SKU's watchers."""
        row = change.row
        if change.table == "inventory.stores" and type(row) is ev.Store:
            self.reference.set_store(None if change.op == "d" else row, row.store_id)
            return []
        sku = getattr(row, "sku", None)
        if sku is None:
            return []
        notices, ranks = self.book(sku).apply(change, self.low_threshold)
        for u in ranks:
            self.ranking(u.category).update(u)
        return [self.attach(n) for n in notices]

    def ranking(self, category: str) -> Ranking:
        r = self.rankings.get(category)
        if r is None:
            r = self.rankings[category] = Ranking(category)
        return r

    def attach(self, item: Carrier) -> Carrier:
        if needs_alternatives(item):
            category = facts_of(item).category
            assert category is not None
            return self.ranking(category).attach(item, self.alternatives)
        return item
