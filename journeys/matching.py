"""Journey definitions compiled for the engine: every event match and condition becomes a closure
when the journeys load, and each journey version knows up front which events can concern it.

A definition is data (pydantic models); walking it for each event cost the engine a dozen
attribute lookups and type tests per match. `compile_journey` does that walk once: a match is a
function of the facts' view (`Ctx`) that answers with no further look at the definition, and
`reacts` names every click and table an open instance of the journey can react to, so that
anything else passes it by without a look.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common import events as ev
from journeys.definition import (
    AllOf,
    AnyOf,
    Cancel,
    Condition,
    Exit,
    FactTest,
    Journey,
    Match,
    On,
    Step,
)
from journeys.facts import FACTS, Ctx

#: a compiled condition or match: true or false for the facts as they are now
Test = Callable[[Ctx], bool]

#: what an instance follows besides its journey's matchers (`Run.apply_instance_data`)
FOLLOWS = {
    "cart": ("Product Added", "Product Removed"),
    "customer": ("Product Viewed",),
    "shipment": ("orders.shipments",),
    "application": ("onboarding.applications",),
    "order": ("orders.orders",),
}


def key_of(key: str, e: ev.EngineInput | None) -> str | None:
    """The cart, order, shipment, application or customer an event is about."""
    if type(e) is ev.ClickEvent:
        if key == "customer":
            return e.user_id
        return e.cart_id if key == "cart" else e.order_id if key == "order" else None
    if type(e) is ev.ChangeEvent:
        return getattr(e.row, f"{key}_id", None)
    if key == "customer" and (type(e) is ev.ChannelFeedback or type(e) is ev.StockNotice):
        return e.customer_id
    return None


def compile_condition(cond: Condition) -> Test:
    if isinstance(cond, FactTest):
        return _compile_test(cond)
    if isinstance(cond, AllOf):
        parts = tuple(compile_condition(c) for c in cond.all)
        return lambda ctx: all(p(ctx) for p in parts)
    if isinstance(cond, AnyOf):
        parts = tuple(compile_condition(c) for c in cond.any)
        return lambda ctx: any(p(ctx) for p in parts)
    inner = compile_condition(cond.not_)
    return lambda ctx: not inner(ctx)


def _compile_test(t: FactTest) -> Test:
    fact = FACTS[t.fact]
    get = fact.get
    order: Callable[[Any], Any] = fact.order or (lambda v: v)
    if t.is_ is not None:
        want = t.is_
        return lambda ctx: bool(get(ctx) == want)
    if t.in_ is not None:
        among = list(t.in_)
        return lambda ctx: get(ctx) in among
    if t.not_in is not None:
        outside = list(t.not_in)
        return lambda ctx: get(ctx) not in outside
    if t.at_least is not None:
        low = order(t.at_least)

        def at_least(ctx: Ctx) -> bool:
            v = get(ctx)
            return v is not None and bool(order(v) >= low)

        return at_least
    if t.at_most is not None:
        high = order(t.at_most)

        def at_most(ctx: Ctx) -> bool:
            v = get(ctx)
            return v is not None and bool(order(v) <= high)

        return at_most
    before = fact.before
    if t.changed is not None:
        changed = t.changed

        def test_changed(ctx: Ctx) -> bool:
            v = get(ctx)
            if v is None:
                return False
            return bool(((before(ctx) if before is not None else None) != v) == changed)

        return test_changed
    went_up = t.went_up

    def test_went_up(ctx: Ctx) -> bool:
        v = get(ctx)
        if v is None:
            return False
        b = before(ctx) if before is not None else None
        return (b is not None and order(v) > order(b)) == went_up

    return test_went_up


def compile_match(m: Match, journey_key: str | None) -> Test:
    """A match of the event in `ctx`; `journey_key`: the key of the journey whose instances it is
    about (for `same`), None for an entry (no instance yet)."""
    when = compile_condition(m.when) if m.when is not None else None
    same = m.same if journey_key is not None else None
    if m.click is not None:
        names = frozenset(m.click)

        def about(ctx: Ctx) -> bool:
            e = ctx.event
            return type(e) is ev.ClickEvent and e.event in names
    else:
        table = m.change
        ops = frozenset(m.ops or ("c", "u", "r"))
        if "c" in ops:
            ops |= {"r"}  # a snapshot read is an insert

        def about(ctx: Ctx) -> bool:
            e = ctx.event
            return type(e) is ev.ChangeEvent and e.table == table and e.op in ops

    if same is None and when is None:
        return about
    value = _instance_value(same, journey_key) if same is not None else None

    def test(ctx: Ctx) -> bool:
        if not about(ctx):
            return False
        if value is not None and ctx.inst is not None and key_of(same, ctx.event) != value(ctx):  # type: ignore[arg-type]
            return False
        return when is None or when(ctx)

    return test


def _instance_value(key: str, journey_key: str | None) -> Callable[[Ctx], str | None]:
    """The instance's cart, order, shipment or application: its key, or what its data says."""
    if key == journey_key:
        return lambda ctx: ctx.inst.key if ctx.inst is not None else None
    if key == "customer":
        return lambda ctx: ctx.state.customer_id
    field = f"{key}_id"

    def from_data(ctx: Ctx) -> str | None:
        v = ctx.inst.data.get(field) if ctx.inst is not None else None
        return str(v) if v is not None else None

    return from_data


@dataclass(frozen=True, slots=True)
class Compiled:
    """One journey version, ready for the engine."""

    journey: Journey
    entry: Test
    audience: Test | None
    exits: tuple[tuple[Exit, Test], ...]
    cancels: tuple[tuple[Cancel, Test], ...]
    #: exits and cancels together: what makes a deferred message of the journey wrong
    wrongs: tuple[tuple[str, Test], ...]
    activity: tuple[Test, ...]
    #: step id -> its wait's events, each with its match
    waits: dict[str, tuple[tuple[On, Test], ...]]
    #: step id -> compiled branch arms (condition None: otherwise)
    branches: dict[str, tuple[tuple[Test | None, str], ...]]
    #: click names and tables an open instance can react to; anything else passes it by
    reacts: frozenset[str]
    #: the split step, if the journey is an experiment (the arm is assigned at entry)
    split: Step | None


def compile_journey(j: Journey) -> Compiled:
    key = j.key
    exits = tuple((x, compile_match(x, key)) for x in j.exit)
    cancels = tuple((c, compile_match(c, key)) for c in j.cancel)
    waits = {
        st.id: tuple((on, compile_match(on, key)) for on in st.wait.events)
        for st in j.steps
        if st.wait is not None and st.wait.events
    }
    branches = {
        st.id: tuple(
            (None if b.otherwise else compile_condition(b.when), b.goto)  # type: ignore[arg-type]
            for b in st.branch
        )
        for st in j.steps
        if st.branch is not None
    }
    names: set[str] = set(FOLLOWS[key])
    for m in [*j.exit, *j.cancel, *j.activity, *(on for st in j.steps if st.wait for on in st.wait.events)]:
        names.update(m.click or ())
        if m.change:
            names.add(m.change)
    return Compiled(
        journey=j,
        entry=compile_match(j.entry, None),
        audience=compile_condition(j.audience) if j.audience is not None else None,
        exits=exits,
        cancels=cancels,
        wrongs=tuple((x.reason, t) for x, t in exits) + tuple((c.reason, t) for c, t in cancels),
        activity=tuple(compile_match(a, key) for a in j.activity),
        waits=waits,
        branches=branches,
        reacts=frozenset(names),
        split=next((st for st in j.steps if st.split is not None), None),
    )
