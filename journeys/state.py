"""One customer's state: what the business knows about them, and their open journey instances.

The Flink operator stores the whole object as one value (one read and one write per event).
Two parts:

- **profile facts**, kept across journeys: the CRM row, consents, open tickets, channel
  engagement and bounces, recent marketing sends (for the cap), affinity, re-entry history.
  They age out with the state's TTL.
- **journey part**: the open instances with everything they carry (cart contents, the
  shipment or application row), and the actions deferred by quiet hours, which belong to the
  customer, not to an instance: one can outlive the instance that decided it (docs/journeys.md).
  It is empty once every instance has exited and every deferred action is resolved; `prune` drops
  what no instance needs any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.events import Customer, SkuFacts

#: 2: deferred actions moved from the instance to the customer (`upgrade` moves them)
#: 3: the state keeps its own next due moment (`due`)
STATE_VERSION = 3
DAY_MS = 86_400_000
AFFINITY_MEMORY_MS = 30 * DAY_MS


@dataclass(slots=True)
class Instance:
    journey_id: str
    version: int
    #: the cart, order, shipment or application id; the customer id for customer-keyed journeys
    key: str
    step: str
    entered_at: int
    step_started: int
    wake_at: int | None = None
    #: the experiment arm; "holdout" for the holdout
    variant: str | None = None
    last_activity: int = 0
    touches: int = 0
    visits: dict[str, int] = field(default_factory=dict)
    #: `once_per` keys of actions already sent
    sent: set[str] = field(default_factory=set)
    #: what the instance is about: cart items (sku -> quantity), a shipment or application row,
    #: the products viewed
    data: dict[str, Any] = field(default_factory=dict)
    #: state version 1 kept deferred actions here; `upgrade` moves them to the customer
    deferred: list[PendingAction] = field(default_factory=list)

    @property
    def ident(self) -> tuple[str, str, int]:
        """What tells one instance from every other of the customer, open or ended."""
        return (self.journey_id, self.key, self.entered_at)


@dataclass(slots=True)
class PendingAction:
    """A marketing action deferred by quiet hours: sent when it is due, the decision layer applied
    again then, or suppressed; cancelled before that by an exit or cancel condition of its
    journey. `origin` is the instance that decided it, as it was last seen: the open instance
    itself while it runs, its last state once it has ended (for those conditions, for the
    message's content, and for the numbering of its journey events)."""

    due: int
    record: dict[str, Any]
    origin: Instance


@dataclass(slots=True)
class CustomerState:
    customer_id: str
    v: int = STATE_VERSION
    customer: Customer | None = None
    #: "channel:purpose" -> granted
    consents: dict[str, bool] = field(default_factory=dict)
    #: channels the customer unsubscribed from or complained about through the channel itself
    opted_out: set[str] = field(default_factory=set)
    #: channel -> [delivered, opened or clicked]
    engagement: dict[str, list[int]] = field(default_factory=dict)
    #: channel -> last bounce (ms)
    bounced: dict[str, int] = field(default_factory=dict)
    #: open or pending ticket id -> priority
    tickets: dict[str, str] = field(default_factory=dict)
    #: times of marketing actions sent (ms), for the rolling cap
    marketing_sent: list[int] = field(default_factory=list)
    #: "c:<category>" / "b:<brand>" -> recency-weighted score, scaled to affinity_base (only ratios
    #: mean anything); affinity_at is the last update
    affinity: dict[str, float] = field(default_factory=dict)
    affinity_at: int = 0
    affinity_base: int = 0
    #: "journey_id|key" (or "journey_id" for `once`) -> until when entering again is refused
    entries: dict[str, int] = field(default_factory=dict)
    #: ids of events already applied -> their time; a redelivered event is not counted twice
    seen: dict[str, int] = field(default_factory=dict)
    #: recent product views (ts, sku, category) for browse journeys
    views: list[tuple[int, str, str]] = field(default_factory=list)
    #: stock of SKUs the open instances are about
    skus: dict[str, SkuFacts] = field(default_factory=dict)
    #: order id -> (when, categories of its products) from Order Completed, for cross-sell
    order_categories: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    instances: list[Instance] = field(default_factory=list)
    erased: bool = False
    last_event: int = 0
    pruned_at: int = 0
    #: actions deferred by quiet hours, in the order they were deferred
    deferred: list[PendingAction] = field(default_factory=list)
    #: when the engine wants `on_timer` next (`Engine.next_due`), kept by every call that changes
    #: the state, so that the operator knows its timer without working it out again
    due: int | None = None

    def next_due(self) -> int | None:
        due: int | None = None
        for inst in self.instances:  # plain loops: this runs on every event
            t = inst.wake_at
            if t is not None and (due is None or t < due):
                due = t
        for p in self.deferred:
            if due is None or p.due < due:
                due = p.due
        return due

    def is_open(self, ident: tuple[str, str, int]) -> Instance | None:
        for inst in self.instances:
            if inst.journey_id == ident[0] and inst.key == ident[1] and inst.entered_at == ident[2]:
                return inst
        return None

    def journeys_empty(self) -> bool:
        """Nothing of any journey is left: no instance, deferred action, or SKU they needed."""
        return not self.instances and not self.skus and not self.deferred

    def profile_empty(self) -> bool:
        return (
            self.customer is None
            and not self.consents
            and not self.opted_out
            and not self.engagement
            and not self.bounced
            and not self.tickets
            and not self.marketing_sent
            and not self.affinity
            and not self.entries
            and not self.views
            and not self.order_categories
        )

    def prune(self, now: int, dedupe_window_ms: int, view_window_ms: int, keep_orders_ms: int) -> None:
        """Drop what has aged out and what no open instance needs. Each part is rebuilt only when
        something in it has aged out: most calls find nothing to drop."""
        horizon = now - dedupe_window_ms
        if self.seen and min(self.seen.values()) <= horizon:
            self.seen = {k: t for k, t in self.seen.items() if t > horizon}
        day_ago = now - DAY_MS
        if self.marketing_sent and min(self.marketing_sent) <= day_ago:
            self.marketing_sent = [t for t in self.marketing_sent if t > day_ago]
        views_from = now - view_window_ms
        if self.views and min(v[0] for v in self.views) <= views_from:
            self.views = [v for v in self.views if v[0] > views_from]
        if self.entries and min(self.entries.values()) <= now:
            self.entries = {k: until for k, until in self.entries.items() if until > now}
        if self.affinity and now - self.affinity_at > AFFINITY_MEMORY_MS:
            self.affinity = {}  # a month without views or adds: nothing left worth ranking by
        if self.order_categories:
            orders_from = now - keep_orders_ms
            if min(v[0] for v in self.order_categories.values()) <= orders_from:
                self.order_categories = {k: v for k, v in self.order_categories.items() if v[0] > orders_from}
        if self.skus:
            needed: set[str] = {sku for _, sku, _ in self.views}
            for inst in self.instances:
                needed.update(inst.data.get("cart", ()))
                needed.update(inst.data.get("viewed", ()))
            for p in self.deferred:
                needed.update(p.origin.data.get("cart", ()))
                needed.update(p.origin.data.get("viewed", ()))
            if any(k not in needed for k in self.skus):
                self.skus = {k: v for k, v in self.skus.items() if k in needed}


def upgrade(state: CustomerState) -> CustomerState:
    """A state written by an older version of the job (restored from a savepoint), brought to
    this one. Version 1 had no `deferred` on the customer (pickle leaves a slot added at the end
    unset) and kept deferred actions on their instance, without an origin."""
    if state.v < 2:
        if not hasattr(state, "deferred"):
            state.deferred = []
        for inst in state.instances:
            for p in inst.deferred:
                state.deferred.append(PendingAction(p.due, p.record, inst))
            inst.deferred = []
        state.deferred.sort(key=lambda p: p.due)
    if state.v < 3:
        state.due = None  # the caller works it out (`Engine.next_due`)
    state.v = STATE_VERSION
    return state
