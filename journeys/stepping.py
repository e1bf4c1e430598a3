"""Stepping instances: entry, the events an open instance reacts to, its steps, its timers.

Exit beats wait: an exit condition ends the instance the moment its event arrives. A step runs
until it waits (its deadline in the future), ends the instance, or passes the bound on steps one
call may take. Actions go through the decision layer (`journeys.decisions`).
"""

from __future__ import annotations

import hashlib

from common import events as ev
from journeys.decisions import HOLDOUT, Decisions
from journeys.definition import Journey, Step, duration_ms
from journeys.facts import FACTS, Ctx
from journeys.localtime import local_moment
from journeys.matching import Compiled, key_of
from journeys.state import Instance


def bucket(customer_id: str, journey_id: str) -> int:
    """0-99, the same for a customer and journey on every run and machine."""
    return int(hashlib.sha256(f"{journey_id}|{customer_id}".encode()).hexdigest()[:8], 16) % 100


class Stepping(Decisions):
    __slots__ = ()

    # ------------------------------------------------------------------ open instances

    def update_instances(self, name: str) -> None:
        """The event (click `name` or table `name`) for every open instance that can react to it."""
        instances = self.state.instances
        for inst in list(instances):
            if not _holds(instances, inst):
                continue
            compiled = self.e.compiled_for(inst)
            if name not in compiled.reacts:
                continue
            journey = compiled.journey
            self.apply_instance_data(inst, journey)
            ctx = self.ctx(inst, journey)
            exit_ = next((x for x, test in compiled.exits if test(ctx)), None)
            if exit_ is not None:
                if self.state.deferred:
                    self.cancel_deferred(inst, journey, exit_.reason)
                if exit_.goal:
                    self._converted(inst, journey)
                self._exit(inst, journey, exit_.reason)
                continue
            if self.state.deferred and compiled.cancels:
                cancel = next((c for c, test in compiled.cancels if test(ctx)), None)
                if cancel is not None:
                    self.cancel_deferred(inst, journey, cancel.reason)
            step = journey.step(inst.step)
            if compiled.activity and any(test(ctx) for test in compiled.activity):
                inst.last_activity = self.now
                if step.wait is not None and step.wait.quiet is not None:
                    inst.wake_at = self.now + duration_ms(step.wait.quiet)
            for on, test in compiled.waits.get(inst.step, ()):
                if test(ctx):
                    self._goto(inst, compiled, on.goto, reason=f"event:{_describe(self.event)}")
                    break

    # ------------------------------------------------------------------ entry

    def enter_journeys(self, candidates: list[Compiled]) -> None:
        e = self.event
        for compiled in candidates:
            journey = compiled.journey
            # cheapest refusals first: most events of a trigger find the customer already in, or
            # inside a cool-down, and need no condition evaluated
            key = key_of(journey.key, e)
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
            if not compiled.entry(ctx):
                continue
            if compiled.audience is not None and not compiled.audience(ctx):
                continue
            self._enter(compiled, key)

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

    def _enter(self, compiled: Compiled, key: str) -> None:
        journey = compiled.journey
        first = journey.steps[0].id
        inst = Instance(journey.id, journey.version, key, first, self.now, self.now, last_activity=self.now)
        e = self.event
        if journey.key == "cart":
            added = type(e) is ev.ClickEvent and e.item is not None and e.event == "Product Added"
            inst.data["cart"] = {e.item.sku: e.item.quantity} if added else {}  # type: ignore[union-attr]
        elif type(e) is ev.ChangeEvent and journey.key in ("shipment", "application", "order") and e.after:
            inst.data[journey.key] = e.after
        if type(e) is ev.ChangeEvent and journey.key == "shipment":
            inst.data["order_id"] = getattr(e.after, "order_id", None)
        if journey.key == "customer" and type(e) is ev.ClickEvent and e.event == "Product Viewed" and e.item:
            cat = e.item.category
            inst.data["category"] = cat
            inst.data["viewed"] = {sku: c for _, sku, c in self.state.views if c == cat}
        if compiled.split is not None:
            # assigned at entry, so that every journey event of the instance carries the arm
            self._assign(inst, compiled.split)
        self.state.instances.append(inst)
        self._remember(journey, key)
        self.journey_event(inst, journey, "entered", step_id=None)
        self._start_step(inst, journey, first)
        self._run(inst, compiled)

    # ------------------------------------------------------------------ steps

    def _start_step(self, inst: Instance, journey: Journey, step_id: str) -> None:
        inst.step = step_id
        inst.step_started = self.now
        inst.wake_at = None
        inst.visits[step_id] = inst.visits.get(step_id, 0) + 1
        if self.cfg.step_events:
            self.journey_event(inst, journey, "step")

    def _goto(self, inst: Instance, compiled: Compiled, step_id: str, reason: str) -> None:
        self.journey_event(inst, compiled.journey, "branch", reason=reason, attributes={"to": step_id})
        self._start_step(inst, compiled.journey, step_id)
        self._run(inst, compiled)

    def _advance(self, inst: Instance, journey: Journey, step: Step) -> bool:
        """Go to the step after `step`; False when the journey ends there."""
        nxt = journey.next_of(step)
        if nxt is None:
            self._exit(inst, journey, "completed")
            return False
        self._start_step(inst, journey, nxt)
        return True

    def _run(self, inst: Instance, compiled: Compiled) -> None:
        journey = compiled.journey
        instances = self.state.instances
        for _ in range(self.cfg.max_transitions):
            if not _holds(instances, inst):
                return
            step = journey.step(inst.step)
            ctx = self.ctx(inst, journey)
            if step.wait is not None:
                deadline = self._deadline(inst, step, ctx)
                if deadline is not None and deadline <= self.now:
                    if not self._advance(inst, journey, step):
                        return
                    continue
                inst.wake_at = deadline
                self.journey_event(inst, journey, "waiting", wait_until=deadline)
                return
            if step.actions is not None:
                for spec in step.actions:
                    self.act(inst, journey, step, spec, ctx)
                    if not _holds(instances, inst):
                        return
                if not self._advance(inst, journey, step):
                    return
            elif step.branch is not None:
                goto = next((g for when, g in compiled.branches[step.id] if when is None or when(ctx)), None)
                if goto is None:
                    self._exit(inst, journey, f"no_branch:{step.id}")
                    return
                self.journey_event(inst, journey, "branch", reason=goto, attributes={"to": goto})
                self._start_step(inst, journey, goto)
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

    def _deadline(self, inst: Instance, step: Step, ctx: Ctx) -> int | None:
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
            return local_moment(day, w.local_time, self.tz())
        if w.until_time is not None:
            at = FACTS[w.until_time].get(ctx)
            if at is None:
                return None if w.events else self.now
            return int(at) + (duration_ms(w.after) if w.after else 0)
        return None

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
                    self.send_deferred(p)
        instances = self.state.instances
        for inst in list(instances):
            if inst.wake_at is None or inst.wake_at > self.now or not _holds(instances, inst):
                continue
            compiled = self.e.compiled_for(inst)
            journey = compiled.journey
            step = journey.step(inst.step)
            self.journey_event(
                inst,
                journey,
                "branch",
                reason="timeout",
                attributes={"to": journey.next_of(step) or "end"},
            )
            if self._advance(inst, journey, step):
                self._run(inst, compiled)


def _holds(instances: list[Instance], inst: Instance) -> bool:
    """Whether the instance is still open: by identity (a dataclass compares field by field)."""
    for i in instances:  # noqa: SIM110 (a plain loop: `any` over a generator costs twice as much here)
        if i is inst:
            return True
    return False


def _describe(e: ev.EngineInput | None) -> str:
    if type(e) is ev.ClickEvent:
        return e.event
    if type(e) is ev.ChangeEvent:
        return f"{e.table}:{e.op}"
    return type(e).__name__
