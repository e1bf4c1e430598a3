"""Stock per SKU and location, the product catalogue, stores, and in-stock SKUs per category.

The logic of the job's SKU-keyed stage, as plain Python: it attaches current stock to cart
events and tells the customers whose carts hold a SKU when its stock crosses a threshold (out,
low, back), so the customer-keyed engine decides on stock without holding the catalogue.
`simulate` runs it in one process; the Flink job runs it keyed by SKU.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace

from journeys import events as ev
from journeys.facts import Reference


def level(stock: int, low: int) -> int:
    """0 = out of stock, 1 = low, 2 = in stock."""
    return 0 if stock <= 0 else 1 if stock <= low else 2


@dataclass
class Catalog:
    low_threshold: int = 5
    #: how many in-stock SKUs of the same category go along as alternatives
    alternatives: int = 10
    products: dict[str, ev.Product] = field(default_factory=dict)
    stock: dict[str, dict[str, int]] = field(default_factory=dict)
    #: category -> sku -> total stock of its in-stock SKUs
    in_stock: dict[str, dict[str, int]] = field(default_factory=dict)
    watchers: dict[str, set[str]] = field(default_factory=dict)
    reference: Reference = field(default_factory=Reference)

    def facts(self, sku: str, with_alternatives: bool = True) -> ev.SkuFacts:
        p = self.products.get(sku)
        locations = self.stock.get(sku, {})
        f = ev.SkuFacts(
            sku,
            p.name if p else None,
            p.category if p else None,
            p.brand if p else None,
            p.price if p else None,
            online=locations.get("online", 0),
            stores={k: v for k, v in locations.items() if k != "online"},
        )
        if with_alternatives and p is not None and p.category:
            ranked = heapq.nsmallest(
                self.alternatives + 1,
                self.in_stock.get(p.category, {}).items(),
                key=lambda kv: (-kv[1], kv[0]),
            )
            f.alternatives = tuple(self.facts(s, False) for s, _ in ranked if s != sku)[: self.alternatives]
        return f

    def enrich(self, click: ev.ClickEvent) -> ev.ClickEvent:
        """The click with current stock of its SKUs; a cart event makes its customer a watcher."""
        skus = [click.item.sku] if click.item is not None else []
        skus += [p.sku for p in click.products]
        if not skus:
            return click
        if (
            click.user_id
            and click.cart_id
            and click.event in ("Product Added", "Checkout Started", "Cart Viewed")
        ):
            for sku in skus:
                self.watchers.setdefault(sku, set()).add(click.user_id)
        elif click.user_id and click.event == "Order Completed":
            for sku in skus:
                self.watchers.get(sku, set()).discard(click.user_id)
        return replace(click, facts=tuple(self.facts(s) for s in dict.fromkeys(skus)))

    def apply(self, change: ev.ChangeEvent) -> list[ev.StockNotice]:
        """Inventory changes update the catalogue; a threshold crossing notifies the SKU's watchers."""
        row = change.row
        if change.table == "inventory.stores" and type(row) is ev.Store:
            self.reference.set_store(None if change.op == "d" else row, row.store_id)
            return []
        if change.table == "inventory.products" and type(row) is ev.Product:
            old = self.products.get(row.sku)
            if change.op == "d":
                self.products.pop(row.sku, None)
            else:
                self.products[row.sku] = row
            if old is not None and old.category != getattr(self.products.get(row.sku), "category", None):
                self.in_stock.get(old.category or "", {}).pop(row.sku, None)
            self._rank(row.sku)
            return []
        if change.table != "inventory.stock_levels" or type(row) is not ev.StockLevel:
            return []
        locations = self.stock.setdefault(row.sku, {})
        before_total = sum(locations.values())
        before_here = locations.get(row.location_id, 0)
        if change.op == "d":
            locations.pop(row.location_id, None)
        else:
            locations[row.location_id] = max(0, row.quantity)
        after_total = sum(locations.values())
        after_here = locations.get(row.location_id, 0)
        self._rank(row.sku)
        crossed = level(before_total, self.low_threshold) != level(after_total, self.low_threshold) or (
            row.location_id != "online" and (before_here > 0) != (after_here > 0)
        )
        if not crossed:
            return []
        facts = self.facts(row.sku)
        return [
            ev.StockNotice(cid, facts, change.ts_ms, f"{change.event_id}>{cid}")
            for cid in sorted(self.watchers.get(row.sku, ()))
        ]

    def _rank(self, sku: str) -> None:
        p = self.products.get(sku)
        if p is None or not p.category:
            return
        total = sum(self.stock.get(sku, {}).values())
        ranking = self.in_stock.setdefault(p.category, {})
        if total > 0:
            ranking[sku] = total
        else:
            ranking.pop(sku, None)
