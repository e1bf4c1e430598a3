"""One call of the engine (`RunBase`): the state, the event and the clock, and what comes out;
the profile facts an event updates, and what an instance follows of the events about it.

The decision layer (`journeys.decisions`) and the stepping of instances (`journeys.stepping`)
build on it, in that order: stepping decides actions through the decision layer, never the
other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from common import events as ev
from journeys.definition import Journey
from journeys.facts import Ctx
from journeys.localtime import zone
from journeys.state import CustomerState, Instance, PendingAction

if TYPE_CHECKING:
    from journeys.engine import Engine, EngineConfig

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PRUNE_EVERY_MS = 60 * 60_000
_NO_PARAMS: dict[str, Any] = {}
_JOURNEY_EVENT: dict[str, Any] = dict.fromkeys(
    (
        "event_id",
        "customer_id",
        "journey_id",
        "journey_version",
        "instance_key",
        "event_type",
        "step_id",
        "reason",
        "variant",
        "action_id",
        "action_type",
        "channel",
        "purpose",
        "wait_until",
        "revenue",
        "currency",
        "order_id",
        "trigger_event_id",
        "occurred_at",
        "attributes",
    )
)


@dataclass(slots=True)
class Result:
    state: CustomerState | None
    actions: list[dict[str, Any]] = field(default_factory=list)
    journey_events: list[dict[str, Any]] = field(default_factory=list)
    next_due: int | None = None
    #: what happened to the input: applied, duplicate, erased, ignored
    outcome: str = "applied"


class RunBase:
    __slots__ = (
        "_ctx",
        "actions",
        "cfg",
        "e",
        "event",
        "exited",
        "jevents",
        "now",
        "prev",
        "state",
        "trigger",
    )

    def __init__(
        self, engine: Engine, state: CustomerState, now: int, event: ev.EngineInput | None, trigger: str
    ) -> None:
        self.e = engine
        self.cfg: EngineConfig = engine.config
        self.state = state
        self.now = now
        self.event = event
        self.trigger = trigger
        self.actions: list[dict[str, Any]] = []
        self.jevents: list[dict[str, Any]] = []
        self.prev: dict[str, ev.Row | None] = {}
        self.exited = False
        self._ctx: Ctx | None = None  # made on first use: most calls evaluate no fact at all

    # ------------------------------------------------------------------ bookkeeping

    def ctx(self, inst: Instance | None, journey: Journey | None) -> Ctx:
        """The facts' view of this call for one instance. One object per call, re-pointed at the
        instance being looked at: a fact reads it while it is evaluated and never keeps it."""
        c = self._ctx
        if c is None:
            c = self._ctx = Ctx(
                self.state, inst, self.event, _NO_PARAMS, self.e.reference, self.now, self.prev
            )
        c.inst = inst
        c.params = journey.params if journey else _NO_PARAMS
        return c

    def journey_event(self, inst: Instance, journey: Journey, event_type: str, **fields: Any) -> None:
        seq = inst.data.get("_seq", 0) + 1
        inst.data["_seq"] = seq
        record = _JOURNEY_EVENT.copy()  # a C-level copy of the defaults beats a 20-key literal
        # unique and the same on a replay; readable beats opaque for an audit log
        record["event_id"] = f"{self.state.customer_id}/{inst.journey_id}/{inst.key}/{inst.entered_at}/{seq}"
        record["customer_id"] = self.state.customer_id
        record["journey_id"] = journey.id
        record["journey_version"] = inst.version
        record["instance_key"] = inst.key
        record["event_type"] = event_type
        record["step_id"] = fields.pop("step_id", inst.step)
        record["variant"] = inst.variant
        record["trigger_event_id"] = None if self.event is None else self.trigger
        record["occurred_at"] = self.now
        record["attributes"] = {}
        record.update(fields)
        self.jevents.append(record)

    def tz(self) -> ZoneInfo:
        c = self.state.customer
        return zone(c.timezone if c is not None else None, self.cfg.default_timezone)

    def finish(self) -> Result:
        s = self.state
        s.last_event = max(s.last_event, self.now)
        # pruning walks every time-bound fact: on timers, when an instance ended, and otherwise at
        # most every PRUNE_EVERY of journey time (what it drops is harmless until then)
        if self.event is None or self.exited or self.now - s.pruned_at >= PRUNE_EVERY_MS:
            s.prune(self.now, self.cfg.dedupe_window_ms, self.cfg.view_window_ms, self.cfg.keep_orders_ms)
            s.pruned_at = self.now
        if not (s.instances or s.skus or s.deferred or s.erased) and s.profile_empty():
            # only dedupe ids are left: nothing worth a state of its own
            return Result(None, self.actions, self.jevents, None)
        s.due = self.e.next_due(s)
        return Result(s, self.actions, self.jevents, s.due)

    def erase(self) -> Result:
        for p in self.state.deferred:
            inst = self.origin(p)
            self.journey_event(
                inst, self.e.journey_for(inst), "suppressed", reason="erasure", **about(p.record)
            )
        for inst in self.state.instances:
            self.journey_event(inst, self.e.journey_for(inst), "exited", reason="erasure")
        # nothing of the customer is kept but the fact that they were erased (no personal data),
        # so that late events cannot bring them back
        return Result(
            CustomerState(self.state.customer_id, erased=True), [], self.jevents, None, outcome="erased"
        )

    def origin(self, p: PendingAction) -> Instance:
        """The instance a deferred action came from: the open one, or its last state."""
        return self.state.is_open(p.origin.ident) or p.origin

    # ------------------------------------------------------------------ profile facts

    def apply_profile(self) -> None:
        e, s = self.event, self.state
        if type(e) is ev.ClickEvent:
            for f in e.facts:
                old = s.skus.get(f.sku)
                if old is None or old.version <= f.version:
                    s.skus[f.sku] = f
            item = e.item
            if item is not None and (e.event == "Product Viewed" or e.event == "Product Added"):
                self._affinity(item, 3.0 if e.event == "Product Added" else 1.0)
                if e.event == "Product Viewed" and item.category:
                    s.views.append((self.now, item.sku, item.category))
            if e.event == "Order Completed" and e.order_id:
                s.order_categories[e.order_id] = (
                    self.now,
                    sorted({p.category for p in e.products if p.category}),
                )
        elif type(e) is ev.ChangeEvent:
            row = e.after
            if e.table == "crm.customers":
                self.prev["crm.customers"] = (
                    e.before
                    if e.before is not None
                    and e.op == "u"
                    and getattr(e.before, "loyalty_tier", None) is not None
                    else s.customer
                )
                if type(row) is ev.Customer:
                    s.customer = row
            elif e.table == "crm.consents":
                if type(row) is ev.Consent:
                    s.consents[f"{row.channel}:{row.purpose}"] = row.granted
                    if row.purpose == "marketing" and row.granted:
                        s.opted_out.discard(row.channel)
                elif e.op == "d" and type(e.before) is ev.Consent:
                    # no row, no consent: a deleted grant stops counting (its key says which)
                    s.consents.pop(f"{e.before.channel}:{e.before.purpose}", None)
            elif e.table == "support.tickets":
                t = e.row
                if t is not None and type(t) is ev.Ticket:
                    if e.op != "d" and t.status in ("open", "pending"):
                        s.tickets[t.ticket_id] = t.priority
                    else:
                        s.tickets.pop(t.ticket_id, None)
        elif type(e) is ev.ChannelFeedback:
            counts = s.engagement.setdefault(e.channel, [0, 0])
            if e.event == "delivered":
                counts[0] += 1
            elif e.event in ("opened", "clicked"):
                counts[1] += 1
            elif e.event == "bounced":
                s.bounced[e.channel] = e.occurred_at
            elif e.event in ("unsubscribed", "complained"):
                s.opted_out.add(e.channel)
        elif type(e) is ev.StockNotice:
            old = s.skus.get(e.facts.sku)
            if old is None or old.version <= e.facts.version:
                s.skus[e.facts.sku] = e.facts

    def _affinity(self, item: ev.Item, weight: float) -> None:
        # Recency weighting without touching old scores: a new weight is scaled up by 2^(age of the
        # reference time / half-life) instead of every old score being scaled down. Only ratios are
        # ever used (ranking), and they come out the same. Rebased long before floats overflow.
        s = self.state
        if not s.affinity:
            s.affinity_base = self.now
        halves = (self.now - s.affinity_base) / self.cfg.affinity_half_life_ms
        if halves > 60:
            shrink = 0.5**halves
            s.affinity = {k: v * shrink for k, v in s.affinity.items()}
            s.affinity_base, halves = self.now, 0.0
        weight *= 2.0**halves
        s.affinity_at = max(s.affinity_at, self.now)
        if item.category:
            k = f"c:{item.category}"
            s.affinity[k] = s.affinity.get(k, 0.0) + weight
        if item.brand:
            k = f"b:{item.brand}"
            s.affinity[k] = s.affinity.get(k, 0.0) + weight

    # ------------------------------------------------------------------ what an instance follows

    def apply_instance_data(self, inst: Instance, journey: Journey) -> None:
        e = self.event
        key = journey.key
        if type(e) is ev.ClickEvent:
            if key == "cart":
                if e.cart_id == inst.key and e.item is not None:
                    cart: dict[str, int] = inst.data.setdefault("cart", {})
                    if e.event == "Product Added":
                        cart[e.item.sku] = cart.get(e.item.sku, 0) + e.item.quantity
                    elif e.event == "Product Removed":
                        left = cart.get(e.item.sku, 0) - e.item.quantity
                        if left > 0:
                            cart[e.item.sku] = left
                        else:
                            cart.pop(e.item.sku, None)
            elif (
                key == "customer"
                and e.event == "Product Viewed"
                and "viewed" in inst.data
                and e.item is not None
                and e.item.category == inst.data.get("category")
            ):
                inst.data["viewed"][e.item.sku] = e.item.category
        elif type(e) is ev.ChangeEvent:
            follows = _FOLLOWED_ROWS.get(key)
            if follows is not None and e.table == follows[0] and getattr(e.row, follows[1], None) == inst.key:
                self.prev[e.table] = inst.data.get(key)
                if e.after is not None:
                    inst.data[key] = e.after


#: journey key -> (the table of the row an instance follows, its key column); the row is kept in
#: the instance's data under the journey key
_FOLLOWED_ROWS = {
    "shipment": ("orders.shipments", "shipment_id"),
    "application": ("onboarding.applications", "application_id"),
    "order": ("orders.orders", "order_id"),
}


def about(record: dict[str, Any]) -> dict[str, Any]:
    """The fields a journey event about this action carries."""
    return {
        "action_id": record["action_id"],
        "action_type": record["action_type"],
        "purpose": record["purpose"],
        "step_id": record["step_id"],
    }
