"""The journey engine: one customer's state, one event or timer, out come actions and journey events.

    result = engine.on_event(state, event, now)   # an input event at journey time `now`
    result = engine.on_timer(state, now)          # the moment `engine.due(state)` said

Plain Python with no Flink import; the clock is the `now` it is given (event time). The Flink
operator stores `result.state` (None: clear it) and registers a timer for `result.next_due`.

The work is split by concern: `journeys.matching` compiles the definitions when they load,
`journeys.run` keeps the bookkeeping and the profile facts, `journeys.decisions` is the decision
layer every action passes, `journeys.stepping` enters and steps instances, `journeys.localtime`
is the customer's clock. This module is the entry point and the engine's own timekeeping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from common import events as ev
from common.settings import JourneySettings
from journeys.definition import Journey
from journeys.facts import Reference
from journeys.matching import Compiled, compile_journey
from journeys.run import DAY_MS, HOUR_MS, Result
from journeys.state import AFFINITY_MEMORY_MS, STATE_VERSION, CustomerState, Instance, upgrade
from journeys.stepping import Stepping, bucket

__all__ = [
    "Engine",
    "EngineConfig",
    "Result",
    "bucket",
    "cleanup_moment",
    "customer_of",
    "event_id",
    "event_time",
]


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
    #: a `step` journey event each time an instance enters a step: half of all journey events,
    #: and every one of them says what the `branch` or `waiting` event beside it already says
    step_events: bool = False

    @classmethod
    def from_settings(cls, s: JourneySettings) -> EngineConfig:
        return cls(step_events=s.step_events)


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


#: cleanups happen on the hour after what they drop has aged out: the moment then stays put while
#: a customer is active (every event moves the dedupe horizon), so the operator's timer does too
CLEANUP_SLOT_MS = HOUR_MS


def cleanup_moment(t: int) -> int:
    return -(-t // CLEANUP_SLOT_MS) * CLEANUP_SLOT_MS


class Engine:
    def __init__(
        self,
        journeys: Iterable[Journey],
        config: EngineConfig | None = None,
        reference: Reference | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.reference = reference or Reference()
        self.versions: dict[tuple[str, int], Compiled] = {}
        self.current: dict[str, Compiled] = {}
        for j in journeys:
            c = self.versions[(j.id, j.version)] = compile_journey(j)
            if j.id not in self.current or j.version > self.current[j.id].journey.version:
                self.current[j.id] = c
        # most events can enter no journey at all: look candidates up by trigger, not one by one
        self.triggers: dict[str, list[Compiled]] = {}
        for c in self.current.values():
            entry = c.journey.entry
            for name in entry.click or (() if entry.change is None else (entry.change,)):
                self.triggers.setdefault(name, []).append(c)

    # ------------------------------------------------------------------ entry points

    def on_event(self, state: CustomerState | None, event: ev.EngineInput, now: int) -> Result:
        kind = type(event)
        name: str | None
        if kind is ev.ClickEvent:
            cid, eid, name = event.user_id, event.message_id, event.event  # type: ignore[union-attr]
        elif kind is ev.ChangeEvent:
            cid, eid, name = getattr(event.row, "customer_id", None), event.event_id, event.table  # type: ignore[union-attr]
        else:
            # feedback and stock notices change profile facts only
            cid, eid, name = customer_of(event), event_id(event), None
        if cid is None:
            return Result(state, next_due=self.due(state), outcome="ignored")
        if state is None:
            state = CustomerState(cid)
        elif state.v != STATE_VERSION:
            state = self.upgraded(state)
        if eid in state.seen:
            return Result(state, next_due=state.due, outcome="duplicate")
        if state.erased:
            if kind is ev.ChangeEvent and name == "crm.customers" and event.op in ("c", "r"):  # type: ignore[union-attr]
                state = CustomerState(cid)  # the customer was created again
            else:
                return Result(state, next_due=None, outcome="erased")
        run = Stepping(self, state, now, event, eid)
        if name == "crm.customers" and event.op == "d":  # type: ignore[union-attr]
            return run.erase()
        state.seen[eid] = now
        run.apply_profile()
        if name is not None:
            if state.deferred:
                run.review_deferred()
            if state.instances:
                run.update_instances(name)
            candidates = self.triggers.get(name)
            if candidates:
                run.enter_journeys(candidates)
        return run.finish()

    def on_timer(self, state: CustomerState | None, now: int) -> Result:
        if state is None:
            return Result(None)
        if state.v != STATE_VERSION:
            state = self.upgraded(state)
        run = Stepping(self, state, now, None, f"timer:{now}")
        run.fire_timers()
        return run.finish()

    # ------------------------------------------------------------------ time

    def due(self, state: CustomerState | None) -> int | None:
        """When to call `on_timer` next (kept in the state by every call that changes it)."""
        if state is None:
            return None
        if state.v != STATE_VERSION:
            state = self.upgraded(state)
        return state.due

    def next_due(self, state: CustomerState) -> int | None:
        """An instance's wait or deferred action, or else the moment the first time-bound fact (a
        view, a dedupe id, a re-entry memory, a cap entry) ages out, so that state shrinks to
        nothing by itself once its instances have exited."""
        if state.erased:
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
            return cleanup_moment(max(short))
        # ...then one for each long-lived memory as it expires
        long = list(state.entries.values())
        if state.order_categories:
            long.append(min(t for t, _ in state.order_categories.values()) + c.keep_orders_ms)
        if state.affinity:
            long.append(state.affinity_at + AFFINITY_MEMORY_MS + 1)
        return cleanup_moment(min(long)) if long else None

    def upgraded(self, state: CustomerState) -> CustomerState:
        """A state of an older version (from a savepoint) in this version's shape."""
        state = upgrade(state)
        state.due = self.next_due(state)
        return state

    # ------------------------------------------------------------------ definitions

    def compiled_for(self, inst: Instance) -> Compiled:
        """The version the instance entered with; the current one if that version is gone."""
        return self.versions.get((inst.journey_id, inst.version)) or self.current[inst.journey_id]

    def journey_for(self, inst: Instance) -> Journey:
        return self.compiled_for(inst).journey

    def reacts_to(self, journey: Journey) -> frozenset[str]:
        """Click names and tables an instance of the journey can react to."""
        return self.versions[(journey.id, journey.version)].reacts
