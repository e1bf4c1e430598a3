"""The journey engine: one customer's state, one event or timer, out come actions and journey events.

    result = engine.on_event(state, event, now)   # an input event at journey time `now`
    result = engine.on_timer(state, now)          # the moment `engine.due(state)` said

Plain Python with no Flink import; the clock is the `now` it is given (event time). The Flink
operator stores `result.state` (None: clear it) and registers a timer for `result.next_due`.
Every action passes the decision layer when it is emitted: experiment holdout, consent and
channel choice, VIP service suppression, the frequency cap, quiet hours; each suppression or
deferral is a journey event with its reason. A deferred action belongs to the customer: it ends
in exactly one `action` or `suppressed` event, even after its instance has ended (see
docs/journeys.md, "Deferred messages").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common import events as ev
from journeys.definition import (
    ActionSpec,
    AllOf,
    AnyOf,
    Cancel,
    Condition,
    Exit,
    FactTest,
    Journey,
    Match,
    Step,
    duration_ms,
)
from journeys.facts import (
    FACTS,
    Ctx,
    Reference,
    alternatives,
    cart_items,
    customer,
    low_stock_items,
    nearest_store,
)
from journeys.state import AFFINITY_MEMORY_MS, STATE_VERSION, CustomerState, Instance, PendingAction, upgrade

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PRUNE_EVERY_MS = 60 * 60_000
#: the variant of instances in an experiment's holdout: they get nothing, and say so
HOLDOUT = "holdout"
_NO_PARAMS: dict[str, Any] = {}
#: what an instance follows besides its journey's matchers (see `_apply_instance_data`)
_FOLLOWS = {
    "cart": ("Product Added", "Product Removed"),
    "customer": ("Product Viewed",),
    "shipment": ("orders.shipments",),
    "application": ("onboarding.applications",),
    "order": ("orders.orders",),
}
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


@dataclass(frozen=True)
class EngineConfig:
    #: marketing actions per customer per rolling 24 h, across journeys
    cap_per_24h: int = 2
    quiet_start_hour: int = 21
    quiet_end_hour: int = 8
    bounce_window_ms: int = 7 * DAY_MS
    dedupe_window_ms: int = DAY_MS
    #: how long product views count towards a browse session
    view_window_ms: int = 2 * HOUR_MS
    #: how long `once` journeys remember an entry (the state's TTL bounds it too)
    keep_entries_ms: int = 180 * DAY_MS
    #: how long `once_per_key` journeys remember a key after entering: cart, order and shipment
    #: ids are not reused, so a week keeps redeliveries out without keeping state for ever
    keep_keys_ms: int = 7 * DAY_MS
    keep_orders_ms: int = 30 * DAY_MS
    default_timezone: str = "UTC"
    #: affinity half-life
    affinity_half_life_ms: int = 7 * DAY_MS
    #: steps one event may pass through before the engine calls it a loop
    max_transitions: int = 64


@dataclass(slots=True)
class Result:
    state: CustomerState | None
    actions: list[dict[str, Any]] = field(default_factory=list)
    journey_events: list[dict[str, Any]] = field(default_factory=list)
    next_due: int | None = None
    #: what happened to the input: applied, duplicate, erased, ignored
    outcome: str = "applied"


def customer_of(event: ev.EngineInput) -> str | None:
    if type(event) is ev.ClickEvent:
        return event.user_id
    if type(event) is ev.ChangeEvent:
        return getattr(event.row, "customer_id", None)
    if type(event) is ev.ChannelFeedback or type(event) is ev.StockNotice:
        return event.customer_id
    return None


def event_id(event: ev.EngineInput) -> str:
    if type(event) is ev.ClickEvent:
        return event.message_id
    if type(event) is ev.ChannelFeedback:
        return f"feedback:{event.action_id}:{event.event}:{event.occurred_at}"
    return event.event_id  # type: ignore[union-attr]


def event_time(event: ev.EngineInput) -> int:
    if type(event) is ev.ChannelFeedback:
        return event.occurred_at
    return event.ts_ms  # type: ignore[union-attr]


def _hash(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def bucket(customer_id: str, journey_id: str) -> int:
    """0-99, the same for a customer and journey on every run and machine."""
    return int(hashlib.sha256(f"{journey_id}|{customer_id}".encode()).hexdigest()[:8], 16) % 100


class Engine:
    def __init__(
        self,
        journeys: Iterable[Journey],
        config: EngineConfig | None = None,
        reference: Reference | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.reference = reference or Reference()
        self.versions: dict[tuple[str, int], Journey] = {}
        self.current: dict[str, Journey] = {}
        for j in journeys:
            self.versions[(j.id, j.version)] = j
            if j.id not in self.current or j.version > self.current[j.id].version:
                self.current[j.id] = j
        self._reacts: dict[tuple[str, int], frozenset[str]] = {}
        # most events can enter no journey at all: look candidates up by trigger, not one by one
        self.by_click: dict[str, list[Journey]] = {}
        self.by_table: dict[str, list[Journey]] = {}
        for j in self.current.values():
            if j.entry.click is not None:
                for name in j.entry.click:
                    self.by_click.setdefault(name, []).append(j)
            elif j.entry.change is not None:
                self.by_table.setdefault(j.entry.change, []).append(j)

    # ------------------------------------------------------------------ entry points

    def on_event(self, state: CustomerState | None, event: ev.EngineInput, now: int) -> Result:
        cid = customer_of(event)
        if cid is None:
            return Result(state, next_due=self.due(state), outcome="ignored")
        if state is None:
            state = CustomerState(cid)
        elif state.v != STATE_VERSION:
            state = upgrade(state)
        eid = event_id(event)
        if eid in state.seen:
            return Result(state, next_due=self.due(state), outcome="duplicate")
        run = _Run(self, state, now, event, eid)
        if state.erased:
            if type(event) is ev.ChangeEvent and event.table == "crm.customers" and event.op in ("c", "r"):
                state = CustomerState(cid)  # the customer was created again
                run = _Run(self, state, now, event, eid)
            else:
                return Result(state, next_due=None, outcome="erased")
        if type(event) is ev.ChangeEvent and event.table == "crm.customers" and event.op == "d":
            return run.erase()
        state.seen[eid] = now
        run.apply_profile()
        if state.deferred:
            run.review_deferred()
        run.update_instances()
        run.enter_journeys()
        return run.finish()

    def on_timer(self, state: CustomerState | None, now: int) -> Result:
        if state is None:
            return Result(None)
        if state.v != STATE_VERSION:
            state = upgrade(state)
        run = _Run(self, state, now, None, f"timer:{now}")
        run.fire_timers()
        return run.finish()

    def reacts_to(self, journey: Journey) -> frozenset[str]:
        """Click names and tables an instance of the journey can react to: its exits, activity
        and wait events, and the rows its key follows. Anything else passes it by."""
        found = self._reacts.get((journey.id, journey.version))
        if found is None:
            names: set[str] = set()
            waits = [o for st in journey.steps if st.wait for o in st.wait.events]
            for m in [*journey.exit, *journey.cancel, *journey.activity, *waits]:
                names.update(m.click or ())
                if m.change:
                    names.add(m.change)
            names.update(_FOLLOWS[journey.key])
            found = self._reacts[(journey.id, journey.version)] = frozenset(names)
        return found

    def due(self, state: CustomerState | None) -> int | None:
        """When to call `on_timer` next: an instance's wait or deferred action, or else the moment
        the first time-bound fact (a view, a dedupe id, a re-entry memory, a cap entry) ages out,
        so that state shrinks to nothing by itself once its instances have exited."""
        if state is None or state.erased:
            return None
        due = state.next_due()
        if due is not None:
            return due
        c = self.config
        # one cleanup when the last short-lived fact (dedupe id, view, cap entry) has aged out...
        short = []
        if state.seen:  # ids are remembered at the time they arrive: the newest is last_event
            short.append(state.last_event + c.dedupe_window_ms)
        if state.views:
            short.append(state.views[-1][0] + c.view_window_ms)
        if state.marketing_sent:
            short.append(state.marketing_sent[-1] + DAY_MS)
        if short:
            return max(short)
        # ...then one for each long-lived memory as it expires
        long = list(state.entries.values())
        if state.order_categories:
            long.append(min(t for t, _ in state.order_categories.values()) + c.keep_orders_ms)
        if state.affinity:
            long.append(state.affinity_at + AFFINITY_MEMORY_MS + 1)
        return min(long) if long else None

    def journey_for(self, inst: Instance) -> Journey:
        """The version the instance entered with; the current one if that version is gone."""
        return self.versions.get((inst.journey_id, inst.version)) or self.current[inst.journey_id]


class _Run:
    """One call of the engine: the state, the event and the clock, and what comes out."""

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
        self.cfg = engine.config
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

    def finish(self) -> Result:
        s = self.state
        s.last_event = max(s.last_event, self.now)
        # pruning walks every time-bound fact: on timers, when an instance ended, and otherwise at
        # most every PRUNE_EVERY of journey time (what it drops is harmless until then)
        if self.event is None or self.exited or self.now - s.pruned_at >= PRUNE_EVERY_MS:
            s.prune(self.now, self.cfg.dedupe_window_ms, self.cfg.view_window_ms, self.cfg.keep_orders_ms)
            s.pruned_at = self.now
        if s.journeys_empty() and s.profile_empty() and not s.erased:
            # only dedupe ids are left: nothing worth a state of its own
            return Result(None, self.actions, self.jevents, None)
        return Result(s, self.actions, self.jevents, self.e.due(s))

    def erase(self) -> Result:
        for p in self.state.deferred:
            inst = self._origin(p)
            self.journey_event(
                inst, self.e.journey_for(inst), "suppressed", reason="erasure", **_about(p.record)
            )
        for inst in self.state.instances:
            journey = self.e.journey_for(inst)
            self.journey_event(inst, journey, "exited", reason="erasure")
        # nothing of the customer is kept but the fact that they were erased (no personal data),
        # so that late events cannot bring them back
        return Result(
            CustomerState(self.state.customer_id, erased=True), [], self.jevents, None, outcome="erased"
        )

    # ------------------------------------------------------------------ profile facts

    def apply_profile(self) -> None:
        e, s = self.event, self.state
        if type(e) is ev.ClickEvent:
            item = e.item
            if e.event in ("Product Viewed", "Product Added") and item is not None:
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
        for k in (f"c:{item.category}" if item.category else None, f"b:{item.brand}" if item.brand else None):
            if k:
                s.affinity[k] = s.affinity.get(k, 0.0) + weight

    # ------------------------------------------------------------------ open instances

    def update_instances(self) -> None:
        e = self.event
        if type(e) is ev.ClickEvent:
            name: str = e.event
        elif type(e) is ev.ChangeEvent:
            name = e.table
        else:
            return  # feedback and stock notices change profile facts only
        for inst in list(self.state.instances):
            if inst not in self.state.instances:
                continue
            journey = self.e.journey_for(inst)
            if name not in self.e.reacts_to(journey):
                continue
            self._apply_instance_data(inst, journey)
            ctx = self.ctx(inst, journey)
            exit_ = next((x for x in journey.exit if self._matches(x, inst, ctx)), None)
            if exit_ is not None:
                if self.state.deferred:
                    self._cancel_deferred(inst, journey, exit_.reason)
                if exit_.goal:
                    self._converted(inst, journey)
                self._exit(inst, journey, exit_.reason)
                continue
            if self.state.deferred and journey.cancel:
                cancel = next((x for x in journey.cancel if self._matches(x, inst, ctx)), None)
                if cancel is not None:
                    self._cancel_deferred(inst, journey, cancel.reason)
            if any(self._matches(m, inst, ctx) for m in journey.activity):
                inst.last_activity = self.now
                step = journey.step(inst.step)
                if step.wait is not None and step.wait.quiet is not None:
                    inst.wake_at = self.now + duration_ms(step.wait.quiet)
            step = journey.step(inst.step)
            if step.wait is not None:
                for on in step.wait.events:
                    if self._matches(on, inst, ctx):
                        self._goto(inst, journey, on.goto, reason=f"event:{self._describe(self.event)}")
                        break

    def _apply_instance_data(self, inst: Instance, journey: Journey) -> None:
        e = self.event
        if (
            journey.key == "cart"
            and type(e) is ev.ClickEvent
            and e.cart_id == inst.key
            and e.item is not None
        ):
            cart: dict[str, int] = inst.data.setdefault("cart", {})
            if e.event == "Product Added":
                cart[e.item.sku] = cart.get(e.item.sku, 0) + e.item.quantity
            elif e.event == "Product Removed":
                left = cart.get(e.item.sku, 0) - e.item.quantity
                if left > 0:
                    cart[e.item.sku] = left
                else:
                    cart.pop(e.item.sku, None)
        elif type(e) is ev.ChangeEvent:
            for key, table, field_, slot in (
                ("shipment", "orders.shipments", "shipment_id", "shipment"),
                ("application", "onboarding.applications", "application_id", "application"),
                ("order", "orders.orders", "order_id", "order"),
            ):
                if journey.key == key and e.table == table and getattr(e.row, field_, None) == inst.key:
                    self.prev[table] = inst.data.get(slot)
                    if e.after is not None:
                        inst.data[slot] = e.after
        elif (
            journey.key == "customer"
            and type(e) is ev.ClickEvent
            and "viewed" in inst.data
            and e.event == "Product Viewed"
            and e.item is not None
            and e.item.category == inst.data.get("category")
        ):
            inst.data["viewed"][e.item.sku] = e.item.category

    # ------------------------------------------------------------------ deferred messages

    def review_deferred(self) -> None:
        """Deferred actions whose instance has ended follow their journey still: the event
        updates what the instance was about (its cart, its application) and, when it matches an
        exit or cancel condition, cancels them. Those of open instances are the instance's own
        business (`update_instances`)."""
        e = self.event
        name = e.event if type(e) is ev.ClickEvent else e.table if type(e) is ev.ChangeEvent else None
        if name is None:
            return
        done: set[tuple[str, str, int]] = set()
        for p in list(self.state.deferred):
            inst = p.origin
            ident = inst.ident
            if ident in done or self.state.is_open(ident) is not None:
                continue
            done.add(ident)
            journey = self.e.journey_for(inst)
            if name not in self.e.reacts_to(journey):
                continue
            self._apply_instance_data(inst, journey)
            ctx = self.ctx(inst, journey)
            conditions: list[Exit | Cancel] = [*journey.exit, *journey.cancel]
            why = next((m.reason for m in conditions if self._matches(m, inst, ctx)), None)
            if why is not None:
                self._cancel_deferred(inst, journey, why)

    def _cancel_deferred(self, inst: Instance, journey: Journey, why: str) -> None:
        ident = inst.ident
        keep: list[PendingAction] = []
        for p in self.state.deferred:
            if p.origin.ident == ident:
                self.journey_event(
                    inst,
                    journey,
                    "suppressed",
                    reason="cancelled",
                    attributes={"cancelled_by": why},
                    **_about(p.record),
                )
            else:
                keep.append(p)
        self.state.deferred = keep

    def _origin(self, p: PendingAction) -> Instance:
        """The instance a deferred action came from: the open one, or its last state."""
        return self.state.is_open(p.origin.ident) or p.origin

    def _send_deferred(self, p: PendingAction) -> None:
        """A deferred action is due: its content made again from the facts as they are now, then
        the decision layer, as for an action decided now."""
        inst = self._origin(p)
        journey = self.e.journey_for(inst)
        ctx = self.ctx(inst, journey)
        record = p.record
        try:
            step = journey.step(record["step_id"])
        except KeyError:
            step = None
        spec = (
            next((a for a in (step.actions or ()) if a.type == record["action_type"]), None) if step else None
        )
        if step is not None and spec is not None:
            fresh = self._build(inst, journey, step, spec, ctx)
            for k in ("action_id", "decided_at", "trigger_event_id", "variant", "expires_at"):
                fresh[k] = record[k]
            if "_once" in record["attributes"]:
                fresh["attributes"]["_once"] = record["attributes"]["_once"]
            if (
                (spec.items in ("cart_in_stock", "viewed_in_stock") and not fresh["items"])
                or (spec.alternatives and not fresh["alternatives"])
                or (spec.store and fresh["store"] is None)
            ):
                # what the message offered sold out while it waited: it must not promote it
                self.journey_event(inst, journey, "suppressed", reason="sold_out", **_about(record))
                return
            record = fresh
        expires = record["expires_at"]
        if expires is not None and expires < self.now:
            self.journey_event(inst, journey, "suppressed", reason="expired", **_about(record))
            return
        self._emit(inst, journey, record, ctx, deferred=True)

    # ------------------------------------------------------------------ entry

    def enter_journeys(self) -> None:
        e = self.event
        if type(e) is ev.ClickEvent:
            candidates = self.e.by_click.get(e.event, ())
        elif type(e) is ev.ChangeEvent:
            candidates = self.e.by_table.get(e.table, ())
        else:
            return
        for journey in candidates:
            # cheapest refusals first: most events of a trigger find the customer already in, or
            # inside a cool-down, and need no condition evaluated
            key = self._key_of(journey.key, e)
            if key is None or any(i.journey_id == journey.id and i.key == key for i in self.state.instances):
                continue
            if not self._may_enter(journey, key):
                continue
            if any(
                getattr(e, f, None) is None and getattr(getattr(e, "row", None), f, None) is None
                for f in journey.entry.require
            ):
                continue
            ctx = self.ctx(None, journey)
            if not self._matches(journey.entry, None, ctx, entry=True):
                continue
            if journey.audience is not None and not self.holds(journey.audience, ctx):
                continue
            self._enter(journey, key)

    def _may_enter(self, journey: Journey, key: str) -> bool:
        """Entries are remembered until they stop mattering: see `_remember`."""
        name = journey.id if journey.reentry.policy == "once" else f"{journey.id}|{key}"
        until = self.state.entries.get(name)
        return until is None or until <= self.now

    def _remember(self, journey: Journey, key: str) -> None:
        r = journey.reentry
        if r.policy == "once":
            self.state.entries[journey.id] = self.now + self.cfg.keep_entries_ms
        elif r.policy == "once_per_key":
            self.state.entries[f"{journey.id}|{key}"] = self.now + self.cfg.keep_keys_ms
        else:
            assert r.cooldown is not None
            self.state.entries[f"{journey.id}|{key}"] = self.now + duration_ms(r.cooldown)

    def _enter(self, journey: Journey, key: str) -> None:
        first = journey.steps[0].id
        inst = Instance(journey.id, journey.version, key, first, self.now, self.now, last_activity=self.now)
        e = self.event
        if (
            journey.key == "cart"
            and type(e) is ev.ClickEvent
            and e.item is not None
            and e.event == "Product Added"
        ):
            inst.data["cart"] = {e.item.sku: e.item.quantity}
        elif journey.key == "cart":
            inst.data["cart"] = {}
        elif type(e) is ev.ChangeEvent and journey.key in ("shipment", "application", "order") and e.after:
            inst.data[journey.key] = e.after
        if type(e) is ev.ChangeEvent and journey.key == "shipment":
            inst.data["order_id"] = getattr(e.after, "order_id", None)
        if journey.key == "customer" and type(e) is ev.ClickEvent and e.event == "Product Viewed" and e.item:
            cat = e.item.category
            inst.data["category"] = cat
            inst.data["viewed"] = {sku: c for _, sku, c in self.state.views if c == cat}
        split = next((st for st in journey.steps if st.split is not None), None)
        if split is not None:
            # assigned at entry, so that every journey event of the instance carries the arm
            self._assign(inst, split)
        self.state.instances.append(inst)
        self._remember(journey, key)
        self.journey_event(inst, journey, "entered", step_id=None)
        self._start_step(inst, journey, first)
        self._run(inst, journey)

    def _key_of(self, key: str, e: ev.EngineInput) -> str | None:
        if key == "customer":
            return customer_of(e)
        if type(e) is ev.ClickEvent:
            return {"cart": e.cart_id, "order": e.order_id}.get(key)
        if type(e) is ev.ChangeEvent:
            return getattr(e.row, f"{key}_id", None)
        return None

    # ------------------------------------------------------------------ matching and conditions

    def _matches(self, m: Match, inst: Instance | None, ctx: Ctx, entry: bool = False) -> bool:
        e = self.event
        if m.click is not None:
            if type(e) is not ev.ClickEvent or e.event not in m.click:
                return False
        else:
            if type(e) is not ev.ChangeEvent or e.table != m.change:
                return False
            ops = m.ops or ["c", "u", "r"]
            if e.op not in ops and not (e.op == "r" and "c" in ops):
                return False
        if (
            m.same is not None
            and inst is not None
            and (e is None or self._key_of(m.same, e) != self._instance_value(inst, m.same))
        ):
            return False
        return m.when is None or self.holds(m.when, ctx)

    def _instance_value(self, inst: Instance, key: str) -> str | None:
        """The instance's cart, order, shipment or application: its key, or what its data says."""
        if self.e.journey_for(inst).key == key:
            return inst.key
        if key == "customer":
            return self.state.customer_id
        value = inst.data.get(f"{key}_id")
        return str(value) if value is not None else None

    def holds(self, cond: Condition, ctx: Ctx) -> bool:
        if isinstance(cond, FactTest):
            return self._test(cond, ctx)
        if isinstance(cond, AllOf):
            return all(self.holds(c, ctx) for c in cond.all)
        if isinstance(cond, AnyOf):
            return any(self.holds(c, ctx) for c in cond.any)
        return not self.holds(cond.not_, ctx)

    def _test(self, t: FactTest, ctx: Ctx) -> bool:
        fact = FACTS[t.fact]
        value = fact.get(ctx)
        order = fact.order or (lambda v: v)
        if t.is_ is not None:
            return bool(value == t.is_)
        if t.in_ is not None:
            return value in t.in_
        if t.not_in is not None:
            return value not in t.not_in
        if value is None:
            return False
        if t.at_least is not None:
            return bool(order(value) >= order(t.at_least))
        if t.at_most is not None:
            return bool(order(value) <= order(t.at_most))
        before = fact.before(ctx) if fact.before is not None else None
        if t.changed is not None:
            return bool((before != value) == t.changed)
        if t.went_up is not None:
            up = before is not None and order(value) > order(before)
            return up == t.went_up
        return False

    # ------------------------------------------------------------------ steps

    def _start_step(self, inst: Instance, journey: Journey, step_id: str) -> None:
        inst.step = step_id
        inst.step_started = self.now
        inst.wake_at = None
        inst.visits[step_id] = inst.visits.get(step_id, 0) + 1
        self.journey_event(inst, journey, "step")

    def _goto(self, inst: Instance, journey: Journey, step_id: str, reason: str) -> None:
        self.journey_event(inst, journey, "branch", reason=reason, attributes={"to": step_id})
        self._start_step(inst, journey, step_id)
        self._run(inst, journey)

    def _advance(self, inst: Instance, journey: Journey, step: Step) -> bool:
        """Go to the step after `step`; False when the journey ends there."""
        nxt = journey.next_of(step)
        if nxt is None:
            self._exit(inst, journey, "completed")
            return False
        self._start_step(inst, journey, nxt)
        return True

    def _run(self, inst: Instance, journey: Journey) -> None:
        for _ in range(self.cfg.max_transitions):
            if inst not in self.state.instances:
                return
            step = journey.step(inst.step)
            ctx = self.ctx(inst, journey)
            if step.wait is not None:
                deadline = self._deadline(inst, journey, step, ctx)
                if deadline is not None and deadline <= self.now:
                    if not self._advance(inst, journey, step):
                        return
                    continue
                inst.wake_at = deadline
                self.journey_event(inst, journey, "waiting", wait_until=deadline)
                return
            if step.actions is not None:
                for spec in step.actions:
                    self._act(inst, journey, step, spec, ctx)
                    if inst not in self.state.instances:
                        return
                if not self._advance(inst, journey, step):
                    return
            elif step.branch is not None:
                arm = next(
                    (b for b in step.branch if b.otherwise or (b.when and self.holds(b.when, ctx))), None
                )
                if arm is None:
                    self._exit(inst, journey, f"no_branch:{step.id}")
                    return
                self.journey_event(inst, journey, "branch", reason=arm.goto, attributes={"to": arm.goto})
                self._start_step(inst, journey, arm.goto)
            elif step.split is not None:
                if inst.variant is None:
                    self._assign(inst, step)
                self.journey_event(inst, journey, "branch", reason=f"variant:{inst.variant}")
                if not self._advance(inst, journey, step):
                    return
            else:
                self._exit(inst, journey, step.exit or "exit")
                return
        self._exit(inst, journey, "loop")

    def _assign(self, inst: Instance, step: Step) -> None:
        assert step.split is not None
        b = bucket(self.state.customer_id, inst.journey_id)
        if b < step.split.holdout:
            inst.variant = HOLDOUT
        else:
            edge = step.split.holdout
            for name, share in sorted(step.split.variants.items()):
                edge += share
                if b < edge:
                    inst.variant = name
                    break

    def _deadline(self, inst: Instance, journey: Journey, step: Step, ctx: Ctx) -> int | None:
        w = step.wait
        assert w is not None
        if w.for_ is not None:
            return inst.step_started + duration_ms(w.for_)
        if w.quiet is not None:
            return max(inst.last_activity, inst.step_started) + duration_ms(w.quiet)
        if w.until_date is not None:
            day = FACTS[w.until_date].get(ctx)
            if day is None:
                return self.now
            assert w.local_time is not None
            hh, mm = (int(x) for x in w.local_time.split(":"))
            local = datetime.combine(date.fromisoformat(day), time(hh, mm), tzinfo=self._tz())
            return int(local.timestamp() * 1000)
        if w.until_time is not None:
            at = FACTS[w.until_time].get(ctx)
            if at is None:
                return None if w.events else self.now
            return int(at) + (duration_ms(w.after) if w.after else 0)
        return None

    def _tz(self) -> ZoneInfo:
        c = self.state.customer
        name = (c.timezone if c is not None else None) or self.cfg.default_timezone
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(self.cfg.default_timezone)

    def _exit(self, inst: Instance, journey: Journey, reason: str) -> None:
        self.journey_event(inst, journey, "exited", reason=reason)
        self.state.instances.remove(inst)
        self.exited = True
        ident = inst.ident
        for p in self.state.deferred:
            # its deferred actions outlive it, and go on numbering their events where it stopped
            if p.origin.ident == ident:
                p.origin = inst

    def _converted(self, inst: Instance, journey: Journey) -> None:
        e = self.event
        revenue = currency = order_id = None
        if type(e) is ev.ClickEvent:
            revenue, currency, order_id = e.total, e.currency, e.order_id
        elif type(e) is ev.ChangeEvent and type(e.after) is ev.Order:
            revenue, currency, order_id = e.after.total, e.after.currency, e.after.order_id
        self.journey_event(inst, journey, "converted", revenue=revenue, currency=currency, order_id=order_id)

    # ------------------------------------------------------------------ timers

    def fire_timers(self) -> None:
        s = self.state
        if s.deferred:
            due = [p for p in s.deferred if p.due <= self.now]
            if due:
                s.deferred = [p for p in s.deferred if p.due > self.now]
                for p in due:
                    self._send_deferred(p)
        for inst in list(self.state.instances):
            if inst not in self.state.instances:
                continue
            journey = self.e.journey_for(inst)
            if inst.wake_at is not None and inst.wake_at <= self.now and inst in self.state.instances:
                step = journey.step(inst.step)
                self.journey_event(
                    inst,
                    journey,
                    "branch",
                    reason="timeout",
                    attributes={"to": journey.next_of(step) or "end"},
                )
                if self._advance(inst, journey, step):
                    self._run(inst, journey)

    # ------------------------------------------------------------------ actions and the decision layer

    def _act(self, inst: Instance, journey: Journey, step: Step, spec: ActionSpec, ctx: Ctx) -> None:
        # a touch counts whether it is sent, suppressed or deferred: a series must end for the
        # holdout and for customers without consent too
        inst.touches += 1
        if spec.once_per:
            key = "|".join([spec.type, *(str(FACTS[f].get(ctx)) for f in spec.once_per)])
            if key in inst.sent:
                self.journey_event(
                    inst,
                    journey,
                    "suppressed",
                    reason="already_sent",
                    action_type=spec.type,
                    purpose=spec.purpose,
                )
                return
        record = self._build(inst, journey, step, spec, ctx)
        if spec.once_per:
            record["attributes"]["_once"] = key
        self._emit(inst, journey, record, ctx)

    def _build(
        self, inst: Instance, journey: Journey, step: Step, spec: ActionSpec, ctx: Ctx
    ) -> dict[str, Any]:
        s = self.state
        visit = inst.visits.get(step.id, 1)
        items: list[dict[str, Any]] = []
        if spec.items in ("cart", "cart_in_stock"):
            low = set(low_stock_items(ctx)) if spec.urgency == "low_stock" else set()
            for sku, qty in cart_items(ctx).items():
                f = s.skus.get(sku)
                stock = f.stock if f is not None else None
                if spec.items == "cart_in_stock" and not stock:
                    continue
                items.append(_item(sku, f, qty, stock))
            items.sort(key=lambda i: (i["sku"] not in low, i["sku"]))
        elif spec.items == "viewed_in_stock":
            for sku in sorted(inst.data.get("viewed", {})):
                f = s.skus.get(sku)
                if f is not None and f.stock > 0:
                    items.append(_item(sku, f, 1, f.stock))
        alts = (
            [_item(a.sku, a, 1, a.stock) for a in alternatives(ctx, spec.alternatives)]
            if spec.alternatives
            else []
        )
        store = None
        if spec.store:
            near = nearest_store(ctx)
            if near is not None:
                st, dist = near
                units = sum(
                    (s.skus[k].stores.get(st.store_id, 0) if k in s.skus else 0) for k in cart_items(ctx)
                )
                if units > 0:
                    store = {
                        "store_id": st.store_id,
                        "name": st.name,
                        "distance_km": round(dist, 2),
                        "stock": units,
                    }
        attributes = {k: _fill(v, ctx) for k, v in spec.attributes.items()}
        if journey.key != "customer":
            attributes.setdefault(f"{journey.key}_id", inst.key)
        reason = _fill(spec.reason, ctx) if spec.reason else f"{journey.id}/{step.id}"
        return {
            "action_id": _hash(
                s.customer_id, journey.id, inst.version, inst.key, inst.entered_at, step.id, visit, spec.type
            ),
            "customer_id": s.customer_id,
            "journey_id": journey.id,
            "journey_version": inst.version,
            "step_id": step.id,
            "action_type": spec.type,
            "channel": spec.channel,
            "purpose": spec.purpose,
            "variant": inst.variant,
            "items": items,
            "alternatives": alts,
            "store": store,
            "urgency": spec.urgency == "low_stock" and bool(low_stock_items(ctx)),
            "attributes": attributes,
            "reason": reason,
            "trigger_event_id": self.trigger,
            "decided_at": self.now,
            "send_after": self.now,
            "expires_at": self.now + duration_ms(spec.expires_after) if spec.expires_after else None,
        }

    def _emit(
        self, inst: Instance, journey: Journey, record: dict[str, Any], ctx: Ctx, deferred: bool = False
    ) -> None:
        """The decision layer, at the moment of emission."""
        purpose = record["purpose"]
        marketing = purpose == "marketing"
        base = _about(record)
        if inst.variant == HOLDOUT:
            self.journey_event(inst, journey, "suppressed", reason="holdout", **base)
            return
        channel, why = self._channel(record, journey, ctx)
        if channel is None:
            self.journey_event(inst, journey, "suppressed", reason=why, **base)
            return
        if marketing and self._service_ticket():
            self.journey_event(inst, journey, "suppressed", reason="service_ticket", channel=channel, **base)
            return
        if marketing:
            recent = [t for t in self.state.marketing_sent if t > self.now - DAY_MS]
            if len(recent) >= self.cfg.cap_per_24h:
                self.journey_event(inst, journey, "suppressed", reason="cap", channel=channel, **base)
                return
            quiet_until = self._quiet_until()
            if quiet_until is not None:
                # deferred again too if it is still night where the customer is now (a new time
                # zone, or a timer that fired late)
                self.state.deferred.append(PendingAction(quiet_until, record, inst))
                self.journey_event(
                    inst,
                    journey,
                    "deferred",
                    reason="quiet_hours",
                    wait_until=quiet_until,
                    channel=channel,
                    **base,
                )
                return
        once = record["attributes"].pop("_once", None)
        if once:
            inst.sent.add(once)
        out = {
            **record,
            "channel": channel,
            "decided_at": self.now if not deferred else record["decided_at"],
            "send_after": self.now,
        }
        self.actions.append(out)
        if marketing:
            self.state.marketing_sent.append(self.now)
        self.journey_event(inst, journey, "action", channel=channel, **base)

    def _channel(self, record: dict[str, Any], journey: Journey, ctx: Ctx) -> tuple[str | None, str]:
        s = self.state
        c = customer(ctx)
        marketing = record["purpose"] == "marketing"
        fixed = record["channel"]
        if fixed == "preferred":
            # the preferred channel if it can be used, else the best other one
            fixed = None
        candidates = [fixed] if fixed else list(ev.CHANNELS)
        jurisdiction = FACTS["application.jurisdiction"].get(ctx)
        forbidden = (
            set(journey.forbid_marketing.get(jurisdiction, ())) if marketing and jurisdiction else set()
        )
        usable: list[str] = []
        consent_blocked = jurisdiction_blocked = False
        for ch in candidates:
            if (ch == "email" and (c is None or not c.email)) or (ch == "sms" and (c is None or not c.phone)):
                continue
            if marketing and (s.consents.get(f"{ch}:marketing") is not True or ch in s.opted_out):
                consent_blocked = True
                continue
            if not marketing and s.consents.get(f"{ch}:transactional") is False:
                consent_blocked = True
                continue
            if ch in forbidden:
                jurisdiction_blocked = True
                continue
            bounced = s.bounced.get(ch)
            if bounced is not None and self.now - bounced < self.cfg.bounce_window_ms:
                continue
            usable.append(ch)
        if not usable:
            return (
                None,
                "jurisdiction" if jurisdiction_blocked else "consent" if consent_blocked else "no_channel",
            )
        preferred = c.preferred_channel if c is not None else None
        if record["channel"] == "preferred" and preferred in usable:
            return preferred, ""

        def score(ch: str) -> tuple[float, int]:
            delivered, engaged = s.engagement.get(ch, (0, 0))
            prior = 0.6 if ch == preferred else 0.4 if ch == "email" else 0.2
            return ((engaged + prior) / (delivered + 1), -ev.CHANNELS.index(ch))

        return max(usable, key=score), ""

    def _service_ticket(self) -> bool:
        c = self.state.customer
        vip = c is not None and (c.vip or (c.loyalty_tier in ("gold", "platinum")))
        return vip and any(p in ("high", "urgent") for p in self.state.tickets.values())

    def _quiet_until(self) -> int | None:
        tz = self._tz()
        local = datetime.fromtimestamp(self.now / 1000, tz=UTC).astimezone(tz)
        start, end = self.cfg.quiet_start_hour, self.cfg.quiet_end_hour
        if end <= local.hour < start:
            return None
        day = local.date() if local.hour < end else local.date() + timedelta(days=1)
        return int(datetime.combine(day, time(end, 0), tzinfo=tz).timestamp() * 1000)

    def _describe(self, e: ev.EngineInput | None) -> str:
        if type(e) is ev.ClickEvent:
            return e.event
        if type(e) is ev.ChangeEvent:
            return f"{e.table}:{e.op}"
        return type(e).__name__


def _about(record: dict[str, Any]) -> dict[str, Any]:
    """The fields a journey event about this action carries."""
    return {
        "action_id": record["action_id"],
        "action_type": record["action_type"],
        "purpose": record["purpose"],
        "step_id": record["step_id"],
    }


def _item(sku: str, f: ev.SkuFacts | None, qty: int, stock: int | None) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": f.name if f else None,
        "category": f.category if f else None,
        "price": f.price if f else None,
        "quantity": qty,
        "stock": stock,
    }


def _fill(template: str, ctx: Ctx) -> str:
    """`{fact.name}` placeholders replaced by the facts' values."""
    if "{" not in template:
        return template
    out = template
    for name, fact in FACTS.items():
        token = "{" + name + "}"
        if token in out:
            value = fact.get(ctx)
            out = out.replace(token, "" if value is None else str(value))
    return out
