"""The facts journeys branch on, and which inputs provide them.

A definition refers to facts by name (`cart.low_stock`, `shipment.status`); `validate` refuses
a name that is not here, or one whose inputs the deployment does not read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common import events as ev
from journeys.state import CustomerState, Instance

TIER_ORDER = {t: i for i, t in enumerate(ev.LOYALTY_TIERS)}
CLICKS = "clickstream"


@dataclass(slots=True)
class Reference:
    """Small reference data every customer's decisions share: the stores (a few hundred rows)."""

    stores: dict[str, ev.Store] = field(default_factory=dict)
    #: (lat, lon) -> nearest store and distance; cleared whenever the stores change
    nearest: dict[tuple[float, float], tuple[ev.Store, float] | None] = field(default_factory=dict)
    #: each located store as a point on the unit sphere, made when first needed
    points: list[tuple[float, float, float, ev.Store]] | None = None

    def set_store(self, store: ev.Store | None, store_id: str) -> None:
        if store is None:
            self.stores.pop(store_id, None)
        else:
            self.stores[store_id] = store
        self.nearest.clear()
        self.points = None

    def located(self) -> list[tuple[float, float, float, ev.Store]]:
        if self.points is None:
            self.points = [
                (*unit_vector(st.lat, st.lon), st)
                for st in self.stores.values()
                if st.lat is not None and st.lon is not None
            ]
        return self.points


@dataclass(slots=True)
class Ctx:
    state: CustomerState
    inst: Instance | None
    event: ev.EngineInput | None
    params: dict[str, Any]
    ref: Reference
    now: int
    #: rows as they were before the event, by table (for `changed` and `went_up`)
    prev: dict[str, ev.Row | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Fact:
    name: str
    inputs: frozenset[str]
    get: Callable[[Ctx], Any]
    #: the value before the event (for `changed` / `went_up`); None = not available
    before: Callable[[Ctx], Any] | None = None
    #: how values order for at_least / at_most / went_up
    order: Callable[[Any], Any] | None = None
    doc: str = ""


# ------------------------------------------------------------------------------------ rows


def _row(ctx: Ctx, table: str, data_key: str) -> Any:
    e = ctx.event
    if type(e) is ev.ChangeEvent and e.table == table and e.after is not None:
        return e.after
    if ctx.inst is not None and data_key in ctx.inst.data:
        return ctx.inst.data[data_key]
    return None


def _attr(row: Any, name: str) -> Any:
    return getattr(row, name, None) if row is not None else None


def customer(ctx: Ctx) -> ev.Customer | None:
    e = ctx.event
    if type(e) is ev.ChangeEvent and e.table == "crm.customers" and type(e.after) is ev.Customer:
        return e.after
    return ctx.state.customer


def _prev_customer(ctx: Ctx) -> Any:
    return ctx.prev.get("crm.customers")


# ------------------------------------------------------------------------------------ stock


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(lon)
    return (math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p))


def nearest_store(ctx: Ctx) -> tuple[ev.Store, float] | None:
    """The store closest to the customer (great-circle distance) and how far it is in km.

    The closer of two points on a sphere is the one whose unit vector has the larger dot product
    with the customer's: three products a store, instead of a haversine each; only the stores
    within the cosine's float precision of the best are measured exactly."""
    c = customer(ctx)
    if c is None or c.lat is None or c.lon is None:
        return None
    cache = ctx.ref.nearest
    where = (c.lat, c.lon)
    if where in cache:
        return cache[where]
    if len(cache) > 100_000:
        cache.clear()
    x, y, z = unit_vector(c.lat, c.lon)
    located = ctx.ref.located()
    dots = [x * sx + y * sy + z * sz for sx, sy, sz, _ in located]
    found = None
    if dots:
        # the dot products rank exactly up to the float precision of a cosine near 1 (a few
        # hundred metres): the stores that close to the best are decided by their haversine
        near = max(dots) - 1e-9
        best: tuple[float, str, ev.Store] | None = None
        for d, (_, _, _, store) in zip(dots, located, strict=True):
            if d >= near:
                km = haversine_km(c.lat, c.lon, store.lat, store.lon)  # type: ignore[arg-type]
                if best is None or (km, store.store_id) < best[:2]:
                    best = (km, store.store_id, store)
        assert best is not None
        found = (best[2], best[0])
    cache[where] = found
    return found


def cart_items(ctx: Ctx) -> dict[str, int]:
    if ctx.inst is None:
        return {}
    cart: dict[str, int] = ctx.inst.data.get("cart", {})
    return {sku: q for sku, q in cart.items() if q > 0}


def stock_of(ctx: Ctx, sku: str) -> int:
    facts = ctx.state.skus.get(sku)
    return facts.stock if facts is not None else 0


def low_threshold(ctx: Ctx) -> int:
    return int(ctx.params.get("low_stock_threshold", 5))


def in_stock_at_nearest(ctx: Ctx) -> list[str]:
    near = nearest_store(ctx)
    if near is None:
        return []
    store_id = near[0].store_id
    return [
        sku for sku in cart_items(ctx) if (f := ctx.state.skus.get(sku)) and f.stores.get(store_id, 0) > 0
    ]


def low_stock_items(ctx: Ctx) -> list[str]:
    t = low_threshold(ctx)
    return [sku for sku in cart_items(ctx) if 0 < stock_of(ctx, sku) <= t]


def alternatives(ctx: Ctx, n: int) -> list[ev.SkuFacts]:
    """In-stock SKUs of the cart's categories, never one of the cart's own, ranked by affinity."""
    items = cart_items(ctx)
    seen: set[str] = set(items)
    candidates: list[ev.SkuFacts] = []
    for sku in items:
        f = ctx.state.skus.get(sku)
        for alt in f.alternatives if f is not None else ():
            if alt.sku not in seen and alt.stock > 0:
                seen.add(alt.sku)
                candidates.append(alt)
    aff = ctx.state.affinity

    def score(a: ev.SkuFacts) -> tuple[float, int, str]:
        return (-(aff.get(f"c:{a.category}", 0.0) + aff.get(f"b:{a.brand}", 0.0)), -a.stock, a.sku)

    return sorted(candidates, key=score)[:n]


def viewed_in_stock(ctx: Ctx) -> list[str]:
    if ctx.inst is None:
        return []
    return [sku for sku in ctx.inst.data.get("viewed", {}) if stock_of(ctx, sku) > 0]


def _tier(v: Any) -> int:
    return TIER_ORDER.get(v, -1)


def _shipment_eta_later(ctx: Ctx) -> bool:
    now = _row(ctx, "orders.shipments", "shipment")
    before = ctx.prev.get("orders.shipments")
    a, b = _attr(before, "estimated_delivery"), _attr(now, "estimated_delivery")
    return a is not None and b is not None and b > a


def _order_categories(ctx: Ctx) -> str | None:
    order_id = ctx.inst.data.get("order_id") if ctx.inst is not None else None
    found = ctx.state.order_categories.get(order_id) if order_id else None
    return ", ".join(found[1]) if found else None


def _category_views(ctx: Ctx) -> int:
    e = ctx.event
    if type(e) is not ev.ClickEvent or e.item is None or not e.item.category:
        return 0
    return sum(1 for _, _, cat in ctx.state.views if cat == e.item.category)


def _event_name(ctx: Ctx) -> Any:
    e = ctx.event
    return e.event if type(e) is ev.ClickEvent else None


def _facts() -> dict[str, Fact]:
    crm, stock, stores, products = (
        "crm.customers",
        "inventory.stock_levels",
        "inventory.stores",
        "inventory.products",
    )
    tickets, ship, orders, apps = (
        "support.tickets",
        "orders.shipments",
        "orders.orders",
        "onboarding.applications",
    )

    def f(name: str, inputs: tuple[str, ...], get: Callable[[Ctx], Any], doc: str, **kw: Any) -> Fact:
        return Fact(name, frozenset(inputs), get, doc=doc, **kw)

    out = [
        f(
            "customer.vip",
            (crm,),
            lambda c: _attr(customer(c), "vip"),
            "the CRM's vip flag",
            before=lambda c: _attr(_prev_customer(c), "vip"),
        ),
        f(
            "customer.tier",
            (crm,),
            lambda c: _attr(customer(c), "loyalty_tier"),
            "loyalty tier: member < silver < gold < platinum",
            before=lambda c: _attr(_prev_customer(c), "loyalty_tier"),
            order=_tier,
        ),
        f(
            "customer.points",
            (crm,),
            lambda c: _attr(customer(c), "loyalty_points"),
            "loyalty points",
            before=lambda c: _attr(_prev_customer(c), "loyalty_points"),
        ),
        f("customer.timezone", (crm,), lambda c: _attr(customer(c), "timezone"), "IANA time zone"),
        f(
            "customer.preferred_channel",
            (crm,),
            lambda c: _attr(customer(c), "preferred_channel"),
            "preferred channel",
        ),
        f(
            "customer.open_priority_ticket",
            (crm, tickets),
            lambda c: any(p in ("high", "urgent") for p in c.state.tickets.values()),
            "an open or pending high/urgent ticket",
        ),
        f("cart.items", (CLICKS,), lambda c: len(cart_items(c)), "distinct SKUs in the cart"),
        f("cart.empty", (CLICKS,), lambda c: not cart_items(c), "the cart holds nothing"),
        f(
            "cart.in_stock_at_nearest_store",
            (CLICKS, stock, stores, crm),
            lambda c: bool(in_stock_at_nearest(c)),
            "an item of the cart is in stock at the customer's nearest store",
        ),
        f(
            "cart.low_stock",
            (CLICKS, stock),
            lambda c: bool(low_stock_items(c)),
            "an item of the cart has stock at or below params.low_stock_threshold (and above 0)",
        ),
        f(
            "cart.all_out_of_stock",
            (CLICKS, stock),
            lambda c: bool(cart_items(c)) and all(stock_of(c, s) <= 0 for s in cart_items(c)),
            "every item of the cart is out of stock",
        ),
        f(
            "cart.has_alternatives",
            (CLICKS, stock, products),
            lambda c: bool(alternatives(c, 1)),
            "an in-stock SKU of a cart item's category exists",
        ),
        f(
            "browse.viewed_in_stock",
            (CLICKS, stock),
            lambda c: len(viewed_in_stock(c)),
            "viewed products that are in stock",
        ),
        f(
            "shipment.status",
            (ship,),
            lambda c: _attr(_row(c, ship, "shipment"), "status"),
            "shipment status",
            before=lambda c: _attr(c.prev.get(ship), "status"),
        ),
        f(
            "shipment.estimated_delivery",
            (ship,),
            lambda c: _attr(_row(c, ship, "shipment"), "estimated_delivery"),
            "estimated delivery date (ISO)",
            before=lambda c: _attr(c.prev.get(ship), "estimated_delivery"),
        ),
        f(
            "shipment.delivered_at",
            (ship,),
            lambda c: _attr(_row(c, ship, "shipment"), "delivered_at"),
            "delivery time (ms), if delivered",
        ),
        f("shipment.eta_moved_later", (ship,), _shipment_eta_later, "this change moved the estimate later"),
        f("order.status", (orders,), lambda c: _attr(_row(c, orders, "order"), "status"), "order status"),
        f(
            "application.status",
            (apps,),
            lambda c: _attr(_row(c, apps, "application"), "verification_status"),
            "verification status",
            before=lambda c: _attr(c.prev.get(apps), "verification_status"),
        ),
        f(
            "application.missing_documents",
            (apps,),
            lambda c: ", ".join(_attr(_row(c, apps, "application"), "missing_documents") or ()),
            "missing documents, comma-separated",
        ),
        f(
            "application.jurisdiction",
            (apps,),
            lambda c: _attr(_row(c, apps, "application"), "jurisdiction"),
            "jurisdiction, e.g. DE, GB, US-NY",
        ),
        f(
            "application.product",
            (apps,),
            lambda c: _attr(_row(c, apps, "application"), "product"),
            "product",
        ),
        f(
            "order.categories",
            (CLICKS,),
            _order_categories,
            "categories of the instance's order, comma-separated",
        ),
        f(
            "browse.category_views",
            (CLICKS,),
            _category_views,
            "recent views of the viewed product's category, this one included",
        ),
        f("event.name", (CLICKS,), _event_name, "name of the click that triggered this evaluation"),
        f(
            "instance.step_visits",
            (),
            lambda c: c.inst.visits.get(c.inst.step, 0) if c.inst else 0,
            "how often the instance has entered its current step",
        ),
        f(
            "instance.touches",
            (),
            lambda c: c.inst.touches if c.inst else 0,
            "actions this instance decided on: sent, suppressed or deferred",
        ),
    ]
    return {x.name: x for x in out}


FACTS: dict[str, Fact] = _facts()
