"""Journey engine throughput, events/s on one core (`python -m benchmarks.engine`), no Flink, no Kafka.

A deterministic shop (10,000 customers, 1,000 SKUs in 20 categories, 30 stores) produces typed
events directly, without JSON decoding (measured in `benchmarks.codecs`): mostly clickstream in
browsing sessions, plus CDC of customers, consents, orders, shipments, applications and stock
levels, and channel feedback. Event time runs over several simulated days, so the 30-minute
quiet waits, 24 h / 48 h waits, quiet-hour deferrals and delivery dates fire as timers during
the run. The catalogue, stores and the CRM snapshot (customers, consents) are loaded before the
clock starts.

Three rows, each the best of three rounds with fresh states (fewer when the rounds of a row pass
BUDGET_S, so that a slow engine still reports in about two minutes):

- the engine alone, over exactly the inputs the engine was handed in the other row: what the SKU
  stage sends the customer-keyed operator (clicks carrying their stock facts, notices to the
  customers with the SKU in a cart instead of stock changes). It keeps states and one timer per
  customer as the Flink operator does, without state (de)serialisation; its events are the
  engine's inputs;
- the journey stage's Python work over the same inputs (`benchmarks.core`): `JourneyCore` with
  the customer's state stored as Flink stores it (codec bytes, pickled), one timer per customer,
  outputs encoded for the JVM: the engine row plus what the operator adds around it;
- the engine with the catalogue, as `journeyctl simulate` runs it (`Simulation.feed`): the SKU
  stage's work (stock per SKU, enrichment of clicks, alternatives, notices) is included; its
  events are the generated ones.

The engine rows must report the same actions, journey events and timers: the engine is
deterministic. Targets (issue 14): twice the figures of 2026-12-02 at 30,000 events.
"""

from __future__ import annotations

import heapq
import random
import time
from bisect import bisect
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import accumulate

from benchmarks.core import CORE, core_row
from common import events as ev
from jobs.simulate import Simulation
from journeys.codec import encode
from journeys.definition import Journey
from journeys.engine import Engine, EngineConfig, Result, customer_of, event_time
from journeys.facts import Reference
from journeys.loader import load_dir
from journeys.state import CustomerState

ENGINE_ALONE = "engine alone (SKU stage's inputs)"
WITH_CATALOG = "engine + catalogue (Simulation.feed)"
#: issue 14: twice the figures of 2026-12-02 at 30,000 events (35,600 and 12,900 events/s); issue
#: 5's 200,000 for the engine alone stays out of reach of CPython (docs/performance.md)
TARGETS = {ENGINE_ALONE: 71_200, WITH_CATALOG: 25_800}
#: timed seconds per row after which no further round starts, to keep a slow run to ~2 minutes
BUDGET_S = 40.0

T0 = int(datetime(2026, 11, 23, 7, 0, tzinfo=UTC).timestamp() * 1000)  # 08:00 in Berlin
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
#: a browsing session: about this many clicks over about this much journey time
SESSION_EVENTS = 12
SESSION_MS = 40 * MIN

CATEGORIES = (
    "Jackets",
    "Boots",
    "Socks",
    "Shirts",
    "Trousers",
    "Backpacks",
    "Tents",
    "Sleeping bags",
    "Gloves",
    "Hats",
    "Base layers",
    "Fleeces",
    "Shorts",
    "Sandals",
    "Headlamps",
    "Bottles",
    "Poles",
    "Stoves",
    "Maps",
    "Sunglasses",
)
BRANDS = ("Nordwind", "Fjell", "Alpkraft", "Seeblick", "Talweg", "Bergholz", "Kammlinie", "Wildbach")
CITIES = (
    ("Berlin", 52.520, 13.405),
    ("Hamburg", 53.551, 9.994),
    ("Muenchen", 48.137, 11.575),
    ("Koeln", 50.938, 6.960),
    ("Frankfurt", 50.110, 8.682),
    ("Stuttgart", 48.776, 9.183),
    ("Duesseldorf", 51.227, 6.774),
    ("Leipzig", 51.340, 12.375),
    ("Dresden", 51.050, 13.738),
    ("Hannover", 52.375, 9.732),
    ("Nuernberg", 49.452, 11.077),
    ("Bremen", 53.079, 8.802),
    ("Freiburg", 47.999, 7.842),
    ("Kiel", 54.323, 10.123),
    ("Rostock", 54.092, 12.099),
)
TIMEZONES = (("Europe/Berlin", 92), ("Europe/London", 4), ("America/New_York", 2), (None, 2))
TIERS = (("member", 60), ("silver", 25), ("gold", 12), ("platinum", 3))
PREFERRED = (("email", 55), ("push", 20), ("in_app", 15), ("sms", 10))
FEEDBACK = (
    ("delivered", 55),
    ("opened", 25),
    ("clicked", 12),
    ("bounced", 5),
    ("unsubscribed", 2),
    ("complained", 1),
)
#: the mix asked for; a kind that has nothing to act on (a removal from an empty cart, a
#: shipment update with no open shipment) falls back to a product view or a CRM update
MIX = (
    ("Product Viewed", 53.0),
    ("Signed Up", 0.5),
    ("Product Added", 15.0),
    ("Cart Viewed", 5.0),
    ("Product Removed", 3.0),
    ("Checkout Started", 3.0),
    ("Order Completed", 3.0),
    ("orders.orders", 1.5),
    ("crm.customers", 3.0),
    ("crm.consents", 2.0),
    ("inventory.stock_levels", 5.0),
    ("orders.shipments", 2.0),
    ("onboarding.applications", 1.0),
    ("channel-feedback", 3.0),
)
_KINDS = tuple(k for k, _ in MIX)
_CUM = tuple(accumulate(w for _, w in MIX))


def _weighted(rng: random.Random, options: tuple[tuple[str | None, int], ...]) -> str | None:
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


# ------------------------------------------------------------------------------------ the shop


@dataclass(slots=True)
class _Customer:
    cid: str
    row: ev.Customer | None
    cart_id: str | None = None
    cart: dict[str, int] = field(default_factory=dict)
    carts: int = 0
    application: ev.Application | None = None


@dataclass(slots=True)
class _Session:
    cid: str
    category: str
    views: list[str] = field(default_factory=list)


@dataclass
class Workload:
    #: the catalogue and the CRM snapshot, loaded before the clock starts
    setup: list[ev.EngineInput]
    #: the timed events, in event-time order
    stream: list[ev.EngineInput]
    stores: dict[str, ev.Store]
    mix: Counter[str]


class _Shop:
    def __init__(self, seed: int, customers: int, skus: int) -> None:
        self.rng = random.Random(seed)
        self.lsn = 0
        self.n_customers = customers
        self.n_skus = skus
        self.stores: dict[str, ev.Store] = {}
        self.products: dict[str, ev.Product] = {}
        self.items: dict[str, ev.Item] = {}
        self.by_category: dict[str, list[str]] = {c: [] for c in CATEGORIES}
        self.stock: dict[tuple[str, str], int] = {}
        self.sku_stores: dict[str, list[str]] = {}
        self.customers: dict[str, _Customer] = {}
        self.ids: list[str] = []
        self.unregistered: list[str] = []
        self.unrecorded_orders: list[ev.Order] = []
        self.orders: list[ev.Order] = []
        self.to_ship: list[ev.Order] = []
        self.shipments: list[ev.Shipment] = []
        self.applications: list[str] = []
        self.mix: Counter[str] = Counter()

    def _change(
        self, table: str, op: ev.Op, before: ev.Row | None, after: ev.Row, ts: int, key: str
    ) -> ev.ChangeEvent:
        self.lsn += 8
        return ev.ChangeEvent(table, op, before, after, ts, f"{table}:{self.lsn}:{op}:{key}")

    # -------------------------------------------------------------------------------- snapshot

    def setup(self) -> list[ev.EngineInput]:
        rng, t = self.rng, T0 - HOUR
        out: list[ev.EngineInput] = []
        for i in range(30):
            city, lat, lon = CITIES[i % len(CITIES)]
            store = ev.Store(
                f"s-{i:02d}", f"{city} {i // len(CITIES) + 1}", lat + rng.uniform(-0.05, 0.05), lon
            )
            self.stores[store.store_id] = store
            out.append(self._change("inventory.stores", "r", None, store, t, store.store_id))
        store_ids = list(self.stores)
        for i in range(self.n_skus):
            sku, category = f"SKU-{i:04d}", CATEGORIES[i % len(CATEGORIES)]
            brand, price = rng.choice(BRANDS), round(rng.uniform(5, 300), 2)
            p = ev.Product(sku, f"p-{i}", f"{category} {i}", category, brand, price)
            self.products[sku] = p
            self.items[sku] = ev.Item(sku, p.product_id, category, brand, p.name, price, 1)
            self.by_category[category].append(sku)
            out.append(self._change("inventory.products", "r", None, p, t, sku))
            r = rng.random()
            online = 0 if r < 0.08 else rng.randint(1, 5) if r < 0.25 else rng.randint(6, 60)
            self.stock[(sku, "online")] = online
            out.append(
                self._change(
                    "inventory.stock_levels", "r", None, ev.StockLevel(sku, "online", online, t), t, sku
                )
            )
            self.sku_stores[sku] = rng.sample(store_ids, 3)
            for sid in self.sku_stores[sku]:
                q = rng.choice((0, 0, 1, 2, 3, 5, 8))
                self.stock[(sku, sid)] = q
                out.append(
                    self._change(
                        "inventory.stock_levels", "r", None, ev.StockLevel(sku, sid, q, t), t, f"{sku}|{sid}"
                    )
                )
        for i in range(self.n_customers):
            cid = f"c-{i}"
            row = self._new_customer(cid)
            self.customers[cid] = _Customer(cid, row)
            self.ids.append(cid)
            out.append(self._change("crm.customers", "r", None, row, t, cid))
            for ch in ("email", "push", "in_app", "sms"):
                if rng.random() < 0.7:
                    consent = ev.Consent(cid, ch, "marketing", rng.random() < 0.85, t)
                    out.append(self._change("crm.consents", "r", None, consent, t, f"{cid}|{ch}|marketing"))
            if rng.random() < 0.1:
                consent = ev.Consent(cid, "sms", "transactional", False, t)
                out.append(self._change("crm.consents", "r", None, consent, t, f"{cid}|sms|transactional"))
        return out

    def _new_customer(self, cid: str) -> ev.Customer:
        rng = self.rng
        _, lat, lon = rng.choice(CITIES)
        return ev.Customer(
            cid,
            f"{cid}@example.com" if rng.random() < 0.95 else None,
            f"+49151{rng.randrange(10**7):07d}" if rng.random() < 0.7 else None,
            _weighted(rng, TIMEZONES),
            lat + rng.uniform(-0.3, 0.3),
            lon + rng.uniform(-0.3, 0.3),
            _weighted(rng, PREFERRED),
            _weighted(rng, TIERS),
            rng.randrange(20_000),
            rng.random() < 0.02,
        )

    # -------------------------------------------------------------------------------- the stream

    def _pick(self) -> str:
        """A customer, the first ones more active than the rest."""
        return self.ids[int(len(self.ids) * self.rng.random() ** 1.3)]

    def _session(self) -> _Session:
        return _Session(self._pick(), self.rng.choice(CATEGORIES))

    def stream(self, n: int, days: float) -> list[ev.EngineInput]:
        rng = self.rng
        gap = max(1, int(days * DAY) // n)
        sessions = [self._session() for _ in range(min(2000, max(8, SESSION_MS // (SESSION_EVENTS * gap))))]
        out: list[ev.EngineInput] = []
        ts = T0
        for i in range(n):
            ts += rng.randint(0, 2 * gap)
            kind = _KINDS[bisect(_CUM, rng.random() * _CUM[-1])]
            if kind == "channel-feedback" or "." in kind:
                e = self._other(kind, i, ts)
            else:
                k = rng.randrange(len(sessions))
                if kind in ("Cart Viewed", "Product Removed", "Checkout Started"):
                    # cart clicks come from sessions with a cart: look at a few
                    for _ in range(8):
                        if self.customers[sessions[k].cid].cart:
                            break
                        k = rng.randrange(len(sessions))
                e = self._click(kind, sessions[k], i, ts)
                if e.event == "Order Completed" or rng.random() < 1 / SESSION_EVENTS:
                    sessions[k] = self._session()
            out.append(e)
        return out

    def _click(self, kind: str, s: _Session, i: int, ts: int) -> ev.ClickEvent:
        rng = self.rng
        if kind == "Signed Up":
            cid = f"c-{len(self.ids)}"
            self.customers[cid] = _Customer(cid, None)
            self.ids.append(cid)
            self.unregistered.append(cid)
            s.cid, s.views = cid, []
        c = self.customers[s.cid]
        # a cart click with no cart to act on is a product view
        if (kind == "Cart Viewed" and c.cart_id is None) or (
            kind in ("Product Removed", "Checkout Started") and not c.cart
        ):
            kind = "Product Viewed"
        self.mix[kind] += 1
        tz = c.row.timezone if c.row is not None else None
        click = ev.ClickEvent(f"m-{i}", s.cid, f"anon-{s.cid}", kind, ts, channel="web", timezone=tz)
        if kind == "Product Viewed":
            if rng.random() < 0.2:
                s.category = rng.choice(CATEGORIES)
            sku = rng.choice(self.by_category[s.category])
            s.views = [*s.views[-4:], sku]
            click.item, click.cart_id = self.items[sku], c.cart_id
        elif kind == "Product Added":
            sku = (
                rng.choice(s.views)
                if s.views and rng.random() < 0.7
                else rng.choice(self.by_category[s.category])
            )
            if c.cart_id is None:
                c.carts += 1
                c.cart_id = f"cart-{c.cid}-{c.carts}"
            qty = 2 if rng.random() < 0.1 else 1
            c.cart[sku] = c.cart.get(sku, 0) + qty
            click.item = self.items[sku] if qty == 1 else replace(self.items[sku], quantity=qty)
            click.cart_id = c.cart_id
        elif kind == "Cart Viewed":
            click.cart_id = c.cart_id
        elif kind == "Product Removed":
            sku = rng.choice(sorted(c.cart))
            click.item = replace(self.items[sku], quantity=c.cart.pop(sku))
            click.cart_id = c.cart_id
        elif kind == "Checkout Started":
            click.cart_id = c.cart_id
            click.products = tuple(replace(self.items[k], quantity=q) for k, q in c.cart.items())
        elif kind == "Order Completed":
            if c.cart:
                lines = dict(c.cart)
                click.cart_id = c.cart_id
                c.cart, c.cart_id = {}, None
            else:  # buy now
                lines = {rng.choice(s.views or self.by_category[s.category]): 1}
            click.order_id = f"o-{i}"
            click.products = tuple(replace(self.items[k], quantity=q) for k, q in lines.items())
            click.total = round(sum((p.price or 0.0) * p.quantity for p in click.products), 2)
            click.currency = "EUR"
            if c.row is not None:
                self.unrecorded_orders.append(
                    ev.Order(click.order_id, c.cid, click.cart_id, "paid", click.total, "EUR", ts)
                )
        return click

    def _other(self, kind: str, i: int, ts: int) -> ev.EngineInput:
        rng = self.rng
        e: ev.EngineInput | None = None
        if kind == "orders.orders":
            e = self._order(ts)
        elif kind == "orders.shipments":
            e = self._shipment(ts)
        elif kind == "onboarding.applications":
            e = self._application(ts)
        if e is not None:
            self.mix[kind] += 1
            return e
        if kind not in ("crm.consents", "inventory.stock_levels", "channel-feedback"):
            kind = "crm.customers"  # nothing to act on: a CRM update instead
        self.mix[kind] += 1
        if kind == "crm.customers":
            return self._customer(ts)
        if kind == "crm.consents":
            cid = self._pick()
            ch = rng.choice(ev.CHANNELS)
            purpose = "marketing" if rng.random() < 0.85 else "transactional"
            consent = ev.Consent(cid, ch, purpose, rng.random() < 0.85, ts)
            return self._change(kind, "u", None, consent, ts, f"{cid}|{ch}|{purpose}")
        if kind == "inventory.stock_levels":
            sku = f"SKU-{int(self.n_skus * rng.random() ** 1.5):04d}"
            loc = "online" if rng.random() < 0.6 else rng.choice(self.sku_stores[sku])
            old_q, r = self.stock[(sku, loc)], rng.random()
            if r < 0.1:
                q = 0  # sold out, or the last units sold at once
            elif r < 0.3:
                q = old_q + rng.randint(10, 40)  # restocked
            else:
                q = max(0, old_q - rng.randint(1, 3))  # sold
            self.stock[(sku, loc)] = q
            return self._change(kind, "u", None, ev.StockLevel(sku, loc, q, ts), ts, f"{sku}|{loc}")
        channel = _weighted(rng, (("email", 50), ("push", 25), ("in_app", 15), ("sms", 10)))
        event = _weighted(rng, FEEDBACK)
        assert channel is not None and event is not None
        return ev.ChannelFeedback(f"a-{i}", self._pick(), channel, event, ts)

    def _order(self, ts: int) -> ev.ChangeEvent | None:
        """The order row of an earlier Order Completed, or a cancellation or return."""
        rng = self.rng
        if self.unrecorded_orders and (not self.orders or rng.random() < 0.8):
            order = self.unrecorded_orders.pop(rng.randrange(len(self.unrecorded_orders)))
            self.orders.append(order)
            self.to_ship.append(order)
            return self._change("orders.orders", "c", None, order, ts, order.order_id)
        if not self.orders:
            return None
        old = self.orders.pop(rng.randrange(len(self.orders)))
        new = replace(old, status="cancelled" if rng.random() < 0.6 else "returned")
        if old in self.to_ship:
            self.to_ship.remove(old)
        return self._change("orders.orders", "u", old, new, ts, new.order_id)

    def _shipment(self, ts: int) -> ev.ChangeEvent | None:
        """A recorded order ships, or a shipment moves on (in transit, delayed, delivered)."""
        rng = self.rng
        if self.to_ship and (not self.shipments or rng.random() < 0.3):
            order = self.to_ship.pop(rng.randrange(len(self.to_ship)))
            eta = datetime.fromtimestamp((ts + rng.randint(1, 4) * DAY) / 1000, tz=UTC).date()
            sh = ev.Shipment(
                f"sh-{order.order_id}",
                order.order_id,
                order.customer_id,
                "created",
                eta.isoformat(),
                None,
                "DHL",
            )
            self.shipments.append(sh)
            return self._change("orders.shipments", "c", None, sh, ts, sh.shipment_id)
        if not self.shipments:
            return None
        k = rng.randrange(len(self.shipments))
        old = self.shipments[k]
        new = self._ship(old, ts)
        if new.status == "returned" or (new.status == "delivered" and rng.random() < 0.95):
            self.shipments.pop(k)
        else:
            self.shipments[k] = new
        return self._change("orders.shipments", "u", old, new, ts, new.shipment_id)

    def _application(self, ts: int) -> ev.ChangeEvent | None:
        """A new application, or the next step of an open one."""
        rng = self.rng
        c = self.customers[self._pick()]
        if c.application is None and c.row is not None:
            status = _weighted(rng, (("pending_documents", 60), ("under_review", 20), ("started", 20)))
            assert status is not None
            docs = ("passport", "proof_of_address") if status == "pending_documents" else ()
            jurisdiction = _weighted(rng, (("DE", 80), ("GB", 15), ("US-NY", 5)))
            app = ev.Application(f"a-{c.cid}", c.cid, "current_account", jurisdiction, status, docs, ts)
            c.application = app
            self.applications.append(c.cid)
            return self._change("onboarding.applications", "c", None, app, ts, app.application_id)
        if not self.applications:
            return None
        c = self.customers[rng.choice(self.applications)]
        assert c.application is not None
        old = c.application
        new = self._review(old, ts)
        c.application = new
        if new.verification_status in ("verified", "rejected"):
            self.applications.remove(c.cid)
        return self._change("onboarding.applications", "u", old, new, ts, new.application_id)

    def _customer(self, ts: int) -> ev.ChangeEvent:
        """A signed-up customer's CRM row, or an update: a tier up, points, channel, phone."""
        rng = self.rng
        if self.unregistered and rng.random() < 0.3:
            cid = self.unregistered.pop(0)
            row = self._new_customer(cid)
            self.customers[cid].row = row
            return self._change("crm.customers", "c", None, row, ts, cid)
        c = self.customers[f"c-{int(self.n_customers * rng.random() ** 1.3)}"]
        assert c.row is not None
        old, r = c.row, rng.random()
        tier = old.loyalty_tier or "member"
        points = (old.loyalty_points or 0) + rng.randint(10, 500)
        if r < 0.25 and tier != "platinum":
            up = ev.LOYALTY_TIERS[ev.LOYALTY_TIERS.index(tier) + 1]
            new = replace(old, loyalty_tier=up, loyalty_points=points)
        elif r < 0.6:
            new = replace(old, loyalty_points=points)
        elif r < 0.8:
            new = replace(old, preferred_channel=_weighted(rng, PREFERRED))
        else:
            new = replace(old, phone=old.phone or f"+49152{rng.randrange(10**7):07d}")
        c.row = new
        return self._change("crm.customers", "u", old, new, ts, c.cid)

    def _ship(self, old: ev.Shipment, ts: int) -> ev.Shipment:
        rng = self.rng
        if old.status in ("created", "delayed"):
            return replace(old, status="in_transit")
        if old.status == "in_transit":
            if rng.random() < 0.15:
                assert old.estimated_delivery is not None
                later = datetime.fromisoformat(old.estimated_delivery).date().toordinal() + rng.randint(1, 2)
                return replace(
                    old, status="delayed", estimated_delivery=datetime.fromordinal(later).date().isoformat()
                )
            return replace(old, status="out_for_delivery")
        if old.status == "out_for_delivery":
            return replace(old, status="delivered", delivered_at=ts)
        return replace(old, status="returned")

    def _review(self, old: ev.Application, ts: int) -> ev.Application:
        rng = self.rng
        status, docs = old.verification_status, old.missing_documents
        if status == "started":
            status, docs = "pending_documents", ("passport",)
        elif status == "pending_documents" and len(docs) > 1:
            docs = docs[1:]
        elif status == "pending_documents":
            status, docs = "under_review", ()
        else:
            status = "verified" if rng.random() < 0.8 else "rejected"
        return replace(old, verification_status=status, missing_documents=docs, updated_at=ts)


def workload(
    n: int, customers: int = 10_000, skus: int = 1_000, days: float = 4.0, seed: int = 7
) -> Workload:
    shop = _Shop(seed, customers, skus)
    setup = shop.setup()
    stream = shop.stream(n, days)
    return Workload(setup, stream, shop.stores, shop.mix)


# ------------------------------------------------------------------------------------ measuring


class _Recording(Engine):
    """The engine, keeping every input it is handed: after the catalogue, that is what the SKU
    stage sends the customer-keyed operator (clicks with their stock, notices instead of stock
    changes). One list append per input, next to tens of microseconds of engine work."""

    def __init__(self, journeys: list[Journey], config: EngineConfig, reference: Reference) -> None:
        super().__init__(journeys, config, reference)
        self.inputs: list[ev.EngineInput] = []

    def on_event(self, state: CustomerState | None, event: ev.EngineInput, now: int) -> Result:
        self.inputs.append(event)
        return super().on_event(state, event, now)


@dataclass(slots=True)
class Figures:
    name: str
    events: int
    rounds: int
    seconds: float = float("inf")
    actions: int = 0
    journey_events: int = 0
    timers: int = 0
    peak_states: int = 0
    states: int = 0
    state_bytes_avg: float = 0.0
    #: output records (actions and journey events as the JVM gets them), for the JourneyCore row
    outputs: int = 0
    state_bytes_max: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def sizes(self, states: dict[str, CustomerState]) -> None:
        self.byte_sizes([len(encode(s)) for s in states.values()])

    def byte_sizes(self, sizes: list[int]) -> None:
        self.states = len(sizes)
        self.state_bytes_avg = sum(sizes) / len(sizes) if sizes else 0.0
        self.state_bytes_max = max(sizes, default=0)


def _with_catalog(
    journeys: list[Journey], w: Workload, rounds: int, budget_s: float
) -> tuple[Figures, list[ev.EngineInput], list[ev.EngineInput]]:
    """Rows through `Simulation.feed`; also what the engine was handed, for `_alone`."""
    fig = Figures(WITH_CATALOG, len(w.stream), 0)
    preload: list[ev.EngineInput] = []
    inputs: list[ev.EngineInput] = []
    spent = 0.0
    while fig.rounds < rounds and (fig.rounds == 0 or spent + fig.seconds <= budget_s):
        fig.rounds += 1
        sim = Simulation(journeys)
        sim.engine = engine = _Recording(journeys, sim.config, sim.catalog.reference)
        for e in w.setup:
            sim.feed(e)
        preload, engine.inputs = engine.inputs, []
        sim.actions.clear()
        sim.journey_events.clear()
        sim.counts.clear()
        feed, states, peak = sim.feed, sim.states, 0
        start = time.perf_counter()
        for i, e in enumerate(w.stream):
            feed(e)
            if not i & 1023:
                peak = max(peak, len(states))
        spent += time.perf_counter() - start
        fig.seconds = min(fig.seconds, time.perf_counter() - start)
        fig.actions, fig.journey_events = len(sim.actions), len(sim.journey_events)
        fig.timers, fig.peak_states = sim.counts["timers"], max(peak, len(states))
        inputs = engine.inputs
    fig.sizes(sim.states)
    return fig, preload, inputs


def _alone(
    journeys: list[Journey],
    stores: dict[str, ev.Store],
    preload: list[ev.EngineInput],
    inputs: list[ev.EngineInput],
    rounds: int,
    budget_s: float,
) -> Figures:
    """The engine over the SKU stage's output, keeping states and timers as the operator does:
    one timer per customer, at the `next_due` of the last result (an older one is stale)."""
    fig = Figures(ENGINE_ALONE, len(inputs), 0)
    spent = 0.0
    while fig.rounds < rounds and (fig.rounds == 0 or spent + fig.seconds <= budget_s):
        fig.rounds += 1
        engine = Engine(journeys, EngineConfig(), Reference(stores=dict(stores)))
        on_event, on_timer = engine.on_event, engine.on_timer
        states: dict[str, CustomerState] = {}
        due_of: dict[str, int | None] = {}
        timers: list[tuple[int, str]] = []
        clock = 0
        for e in preload:
            cid = customer_of(e)
            assert cid is not None
            clock = max(clock, event_time(e))
            r = on_event(states.get(cid), e, clock)
            if r.state is not None:
                states[cid] = r.state
            due_of[cid] = r.next_due
            if r.next_due is not None:
                heapq.heappush(timers, (r.next_due, cid))
        actions = jevents = fired = peak = 0
        push, pop = heapq.heappush, heapq.heappop
        start = time.perf_counter()
        for i, e in enumerate(inputs):
            t = event_time(e)
            while timers and timers[0][0] <= t:
                due, cid = pop(timers)
                state = states.get(cid)
                if state is None or due_of.get(cid) != due:
                    continue  # stale: the state moved its timer
                r = on_timer(state, due)
                fired += 1
                if r.state is None:
                    del states[cid]
                else:
                    states[cid] = r.state
                due_of[cid] = r.next_due
                if r.next_due is not None:
                    push(timers, (r.next_due, cid))
                actions += len(r.actions)
                jevents += len(r.journey_events)
            if t > clock:
                clock = t
            cid = customer_of(e)
            if cid is None:
                continue
            r = on_event(states.get(cid), e, clock)
            if r.state is None:
                states.pop(cid, None)
            else:
                states[cid] = r.state
            due_of[cid] = r.next_due
            if r.next_due is not None:
                push(timers, (r.next_due, cid))
            actions += len(r.actions)
            jevents += len(r.journey_events)
            if not i & 1023:
                peak = max(peak, len(states))
        spent += time.perf_counter() - start
        fig.seconds = min(fig.seconds, time.perf_counter() - start)
        fig.actions, fig.journey_events, fig.timers = actions, jevents, fired
        fig.peak_states = max(peak, len(states))
    fig.sizes(states)
    return fig


def run(
    n: int = 200_000,
    rounds: int = 3,
    customers: int = 10_000,
    skus: int = 1_000,
    days: float = 4.0,
    budget_s: float = BUDGET_S,
) -> tuple[Workload, list[Figures]]:
    """Each row is the best of `rounds`, fewer when the next round would take its timed rounds
    past `budget_s` (at the target rate a round takes about a second)."""
    journeys = load_dir()
    w = workload(n, customers, skus, days)
    with_catalog, preload, inputs = _with_catalog(journeys, w, rounds, budget_s)
    alone = _alone(journeys, w.stores, preload, inputs, rounds, budget_s)
    core = Figures(CORE, len(inputs), 0)
    while core.rounds < rounds and (core.rounds == 0 or core.seconds * (core.rounds + 1) <= budget_s):
        core.rounds += 1
        seconds, core.outputs, core.timers, sizes = core_row(journeys, w.stores, preload, inputs)
        core.seconds = min(core.seconds, seconds)
    core.byte_sizes(sizes)
    return w, [alone, core, with_catalog]


def main(n: int = 200_000) -> int:
    customers, skus, days = 10_000, 1_000, 4.0
    print(
        f"engine: {n:,} events, {customers:,} customers, {skus:,} SKUs in {len(CATEGORIES)} categories, "
        f"{days:g} simulated days, one core, best of 3 (fewer past {BUDGET_S:g} s of timed rounds)",
        flush=True,
    )
    w, rows = run(n, 3, customers, skus, days)
    total = sum(w.mix.values())
    print("  mix: " + ", ".join(f"{k} {v / total:.1%}" for k, v in w.mix.most_common()))
    failed = False
    for f in rows:
        target = TARGETS.get(f.name)
        verdict = ""
        if target:
            ok = f.rate >= target
            failed |= not ok
            verdict = f"  target {target:,}/s: {'met' if ok else 'MISSED'}"
        print(
            f"  {f.name:40s} {f.rate:>10,.0f} events/s"
            f" ({f.events:,} inputs in {f.seconds:.2f} s, best of {f.rounds}){verdict}"
        )
        if f.name == CORE:
            print(f"    {'output records to the JVM':38s} {f.outputs:>10,}")
        else:
            print(f"    {'actions emitted':38s} {f.actions:>10,}")
            print(f"    {'journey events emitted':38s} {f.journey_events:>10,}")
            print(f"    {'peak customer states held':38s} {f.peak_states:>10,}")
        print(f"    {'timers fired':38s} {f.timers:>10,}")
        print(
            f"    {'state bytes (journeys.codec), avg / max':38s} {f.state_bytes_avg:>10,.0f} B"
            f" / {f.state_bytes_max:,} B over {f.states:,} states at the end"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
