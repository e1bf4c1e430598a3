"""The decision layer: every action an instance decides passes it at the moment of emission.

Experiment holdout; consent and channel choice (engagement from channel feedback, smoothed so a
new customer gets the preferred channel, then email; recent bounces skipped; jurisdiction rules);
VIP service suppression; the frequency cap; quiet hours, which defer a marketing action to 08:00
local. Each suppression or deferral is a journey event with its reason. A deferred action belongs
to the customer and ends in exactly one `action` or `suppressed` event, even after its instance
has ended (docs/journeys.md, "Deferred messages").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache
from typing import Any

from common import events as ev
from journeys.definition import ActionSpec, Journey, Step, duration_ms
from journeys.facts import FACTS, Ctx, alternatives, cart_items, customer, low_stock_items, nearest_store
from journeys.localtime import quiet_until
from journeys.run import DAY_MS, RunBase, about
from journeys.state import Instance, PendingAction

#: the variant of instances in an experiment's holdout: they get nothing, and say so
HOLDOUT = "holdout"


def _hash(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


class Decisions(RunBase):
    __slots__ = ()

    # ------------------------------------------------------------------ deciding an action

    def act(self, inst: Instance, journey: Journey, step: Step, spec: ActionSpec, ctx: Ctx) -> None:
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
        record = self.build(inst, journey, step, spec, ctx)
        if spec.once_per:
            record["attributes"]["_once"] = key
        self.emit(inst, journey, record, ctx)

    def build(
        self, inst: Instance, journey: Journey, step: Step, spec: ActionSpec, ctx: Ctx
    ) -> dict[str, Any]:
        """The action's content, from the facts as they are now."""
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

    def emit(
        self, inst: Instance, journey: Journey, record: dict[str, Any], ctx: Ctx, deferred: bool = False
    ) -> None:
        """The decision layer, at the moment of emission."""
        purpose = record["purpose"]
        marketing = purpose == "marketing"
        base = about(record)
        if inst.variant == HOLDOUT:
            self.journey_event(inst, journey, "suppressed", reason="holdout", **base)
            return
        channel, why = self.channel(record, journey, ctx)
        if channel is None:
            self.journey_event(inst, journey, "suppressed", reason=why, **base)
            return
        if marketing and self.service_ticket():
            self.journey_event(inst, journey, "suppressed", reason="service_ticket", channel=channel, **base)
            return
        if marketing:
            horizon = self.now - DAY_MS
            recent = sum(1 for t in self.state.marketing_sent if t > horizon)
            if recent >= self.cfg.cap_per_24h:
                self.journey_event(inst, journey, "suppressed", reason="cap", channel=channel, **base)
                return
            until = quiet_until(self.now, self.tz(), self.cfg.quiet_start_hour, self.cfg.quiet_end_hour)
            if until is not None:
                # deferred again too if it is still night where the customer is now (a new time
                # zone, or a timer that fired late)
                self.state.deferred.append(PendingAction(until, record, inst))
                self.journey_event(
                    inst,
                    journey,
                    "deferred",
                    reason="quiet_hours",
                    wait_until=until,
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

    def channel(self, record: dict[str, Any], journey: Journey, ctx: Ctx) -> tuple[str | None, str]:
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

        def score(ch: str) -> tuple[Fraction, int]:
            delivered, engaged = s.engagement.get(ch, (0, 0))
            prior_tenths = 6 if ch == preferred else 4 if ch == "email" else 2
            # exact, so that equal rates tie and the channel order decides: in floats 1.2/6 is
            # below 0.2/1, and a channel engaged once in five lost to one never tried
            return (Fraction(10 * engaged + prior_tenths, 10 * (delivered + 1)), -ev.CHANNELS.index(ch))

        return max(usable, key=score), ""

    def service_ticket(self) -> bool:
        c = self.state.customer
        vip = c is not None and (c.vip or (c.loyalty_tier in ("gold", "platinum")))
        return vip and any(p in ("high", "urgent") for p in self.state.tickets.values())

    # ------------------------------------------------------------------ deferred messages

    def review_deferred(self) -> None:
        """Deferred actions whose instance has ended follow their journey still: the event
        updates what the instance was about (its cart, its application) and, when it matches an
        exit or cancel condition, cancels them. Those of open instances are the instance's own
        business (`Stepping.update_instances`)."""
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
            compiled = self.e.compiled_for(inst)
            if name not in compiled.reacts:
                continue
            journey = compiled.journey
            self.apply_instance_data(inst, journey)
            ctx = self.ctx(inst, journey)
            why = next((reason for reason, test in compiled.wrongs if test(ctx)), None)
            if why is not None:
                self.cancel_deferred(inst, journey, why)

    def cancel_deferred(self, inst: Instance, journey: Journey, why: str) -> None:
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
                    **about(p.record),
                )
            else:
                keep.append(p)
        self.state.deferred = keep

    def send_deferred(self, p: PendingAction) -> None:
        """A deferred action is due: its content made again from the facts as they are now, then
        the decision layer, as for an action decided now."""
        inst = self.origin(p)
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
            fresh = self.build(inst, journey, step, spec, ctx)
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
                self.journey_event(inst, journey, "suppressed", reason="sold_out", **about(record))
                return
            record = fresh
        expires = record["expires_at"]
        if expires is not None and expires < self.now:
            self.journey_event(inst, journey, "suppressed", reason="expired", **about(record))
            return
        self.emit(inst, journey, record, ctx, deferred=True)


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
    for token, get in _placeholders(template):
        value = get(ctx)
        out = out.replace(token, "" if value is None else str(value))
    return out


@lru_cache(maxsize=4096)
def _placeholders(template: str) -> tuple[tuple[str, Callable[[Ctx], Any]], ...]:
    """The facts a template names, found once per template (definitions hold a few dozen)."""
    return tuple(("{" + name + "}", fact.get) for name, fact in FACTS.items() if "{" + name + "}" in template)
