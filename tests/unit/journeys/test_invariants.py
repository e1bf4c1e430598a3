"""Property tests: random event sequences through every shipped journey, and the invariants
SCENARIOS.md asks of every journey, checked from the outside (actions and journey events)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common import events as ev
from journeys.engine import EngineConfig, cleanup_moment
from tests.unit.journeys.world import DAY, HOUR, MIN, T0, World

# c-11 falls in the cart journey's holdout
CUSTOMERS = ("c-1", "c-2", "c-11")
SKUS = {"S1": "Jackets", "S2": "Jackets", "S3": "Boots"}
CHANNELS = ("email", "sms", "push", "in_app")

op = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(CUSTOMERS), st.sampled_from(sorted(SKUS)), st.integers(1, 2)),
    st.tuples(st.just("remove"), st.sampled_from(CUSTOMERS), st.sampled_from(sorted(SKUS)), st.just(1)),
    st.tuples(st.just("view"), st.sampled_from(CUSTOMERS), st.sampled_from(sorted(SKUS)), st.just(0)),
    st.tuples(st.just("order"), st.sampled_from(CUSTOMERS), st.just(""), st.just(0)),
    st.tuples(st.just("signup"), st.sampled_from(CUSTOMERS), st.just(""), st.just(0)),
    st.tuples(st.just("consent"), st.sampled_from(CUSTOMERS), st.sampled_from(CHANNELS), st.booleans()),
    st.tuples(st.just("tier"), st.sampled_from(CUSTOMERS), st.sampled_from(ev.LOYALTY_TIERS), st.just(0)),
    st.tuples(st.just("ticket"), st.sampled_from(CUSTOMERS), st.sampled_from(("open", "solved")), st.just(0)),
    st.tuples(st.just("stock"), st.just(""), st.sampled_from(sorted(SKUS)), st.integers(0, 8)),
    st.tuples(st.just("bounce"), st.sampled_from(CUSTOMERS), st.sampled_from(CHANNELS), st.just(0)),
    st.tuples(st.just("erase"), st.sampled_from(CUSTOMERS), st.just(""), st.just(0)),
    st.tuples(st.just("recreate"), st.sampled_from(CUSTOMERS), st.just(""), st.just(0)),
    st.tuples(
        st.just("ship"),
        st.sampled_from(CUSTOMERS),
        st.sampled_from(("created", "delayed", "delivered")),
        st.integers(0, 3),
    ),
    st.tuples(
        st.just("apply"),
        st.sampled_from(CUSTOMERS),
        st.sampled_from(("pending_documents", "under_review", "verified", "rejected")),
        st.just(0),
    ),
)
step = st.tuples(op, st.sampled_from([1, 7, 13 * MIN, 31 * MIN, 3 * HOUR, 11 * HOUR, DAY + 1]))


def run(steps: list[tuple[tuple[str, str, Any, int], int]]) -> tuple[World, dict[str, list[tuple[int, Any]]]]:
    """The steps through a world; returns it and the ground truth timelines the checks need."""
    w = World(config=EngineConfig())
    for sku, cat in SKUS.items():
        w.product(sku, cat, {"online": 5, "s-mitte": 1})
    truth: dict[str, list[tuple[int, Any]]] = {"consent": [], "erased": [], "order": []}
    rows: dict[str, ev.Customer] = {}
    for cid in CUSTOMERS:
        rows[cid] = w.customer(cid, consent=("email", "push"))
        truth["consent"] += [(w.now, (cid, "email", True)), (w.now, (cid, "push", True))]
    t = T0
    for n, ((kind, cid, arg, num), gap) in enumerate(steps):
        t += gap
        w.run_until(t - 1)
        w.at(t)
        if kind == "add":
            w.click(cid, "Product Added", cart=f"cart-{cid}", sku=arg, qty=num)
        elif kind == "remove":
            w.click(cid, "Product Removed", cart=f"cart-{cid}", sku=arg, qty=num)
        elif kind == "view":
            w.click(cid, "Product Viewed", sku=arg)
        elif kind == "order":
            w.click(cid, "Order Completed", cart=f"cart-{cid}", order_id=f"o-{n}", total=10.0)
            truth["order"].append((t, cid))
        elif kind == "signup":
            w.click(cid, "Signed Up")
        elif kind == "consent":
            w.consent(cid, arg, "marketing", num)
            truth["consent"].append((t, (cid, arg, bool(num))))
        elif kind == "tier":
            rows[cid] = ev.Customer(**{**_fields(rows[cid]), "loyalty_tier": arg})
            w.change("crm.customers", "u", rows[cid])
        elif kind == "ticket":
            w.change("support.tickets", "u", ev.Ticket(f"t-{cid}", cid, "urgent", arg, None))
        elif kind == "stock":
            w.stock(arg, "online", num)
        elif kind == "bounce":
            w.feedback("x", cid, arg, "bounced")
        elif kind == "erase":
            w.change("crm.customers", "d", None, before=rows[cid])
            truth["erased"].append((t, (cid, True)))
        elif kind == "recreate":
            w.change("crm.customers", "c", rows[cid])
            truth["erased"].append((t, (cid, False)))
        elif kind == "ship":
            w.change(
                "orders.shipments",
                "c" if arg == "created" else "u",
                ev.Shipment(
                    f"sh-{cid}",
                    f"o-{cid}",
                    cid,
                    arg,
                    f"2026-11-{25 + num}",
                    t if arg == "delivered" else None,
                    "DHL",
                ),
            )
        elif kind == "apply":
            w.change(
                "onboarding.applications",
                "u" if w.events(cid, "entered") else "c",
                ev.Application(f"a-{cid}", cid, "account", "GB", arg, ("passport",), None),
            )
    w.run_until(t + 60 * DAY)
    return w, truth


def _fields(row: object) -> dict[str, Any]:
    return {k: getattr(row, k) for k in row.__slots__}  # type: ignore[attr-defined]


def _as_of(timeline: list[tuple[int, Any]], t: int, match: Any) -> list[Any]:
    """Values of the timeline entries for `match` that happened before `t`, in order."""
    return [v for at, v in timeline if at < t and match(v)]


SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(step, min_size=1, max_size=40))
def test_invariants_hold_for_any_sequence(steps: list[tuple[tuple[str, str, Any, int], int]]) -> None:
    w, truth = run(steps)
    actions = w.sim.actions

    # 1. no marketing action without a granted marketing consent on its channel when emitted
    for a in actions:
        if a["purpose"] != "marketing":
            continue
        cid, ch, at = a["customer_id"], a["channel"], a["send_after"]
        changes = _as_of(truth["consent"], at, lambda v, cid=cid, ch=ch: v[0] == cid and v[1] == ch)
        assert changes and changes[-1][2] is True, f"marketing on {ch} to {cid} at {at} without consent"

    # 2. never more than the cap of marketing actions in any rolling 24 h
    cap = EngineConfig().cap_per_24h
    for cid in CUSTOMERS:
        times = sorted(
            a["send_after"] for a in actions if a["customer_id"] == cid and a["purpose"] == "marketing"
        )
        for i, t in enumerate(times):
            assert sum(1 for u in times[: i + 1] if u > t - DAY) <= cap, f"{cid} over the cap at {t}"

    # 3. every action the engine decides ends in exactly one journey event: sent (`action`, and
    # then one action record) or `suppressed` with a reason; a deferral is not an end
    events = w.sim.journey_events
    ends: Counter[str] = Counter()
    for e in events:
        if e["event_type"] == "suppressed":
            assert e["reason"], e
        if e["event_type"] in ("action", "suppressed") and e["action_id"]:
            ends[e["action_id"]] += 1
    decided = {e["action_id"] for e in events if e["action_id"]}
    assert {a: ends[a] for a in decided if ends[a] != 1} == {}, "decisions without exactly one end"
    assert sorted(a["action_id"] for a in actions) == sorted(
        e["action_id"] for e in events if e["event_type"] == "action"
    )

    # 4. nothing of an instance after its exit but the end of what it deferred before, and never
    # after an exit condition (a purchase, an order, a return...), which cancels what it deferred
    exit_conditions = {x.reason for j in w.sim.journeys for x in j.exit}
    exited: dict[str, str] = {}
    deferred_before_exit: set[str] = set()
    for e in events:
        inst = e["event_id"].rsplit("/", 1)[0]  # customer/journey/key/entered_at
        if e["event_type"] == "exited":
            exited[inst] = e["reason"]
        elif inst not in exited:
            if e["event_type"] == "deferred":
                deferred_before_exit.add(e["action_id"])
        else:
            assert e["event_type"] in ("action", "suppressed", "deferred"), f"{e} after {inst} exited"
            assert e["action_id"] in deferred_before_exit, f"{e} after {inst} exited"
            if e["event_type"] != "suppressed":
                assert exited[inst] not in exit_conditions, f"{e} after {inst} exited: {exited[inst]}"

    # ... and a message deferred overnight is cancelled by an order before it is due, even when
    # its instance ended meanwhile (the cart's last touch, the welcome series' first message)
    deferred_at = {e["action_id"]: e["occurred_at"] for e in events if e["event_type"] == "deferred"}
    for a in actions:
        since = deferred_at.get(a["action_id"])
        if since is None or a["journey_id"] not in ("cart_abandonment", "welcome_series"):
            continue
        cid = a["customer_id"]
        orders = [t for t, c in truth["order"] if c == cid and since < t <= a["send_after"]]
        assert not orders, f"{a['action_id']} sent after the order at {orders[0]} cancelled it"

    # 5. nothing to an erased customer
    for a in actions:
        cid = a["customer_id"]
        erased = _as_of(truth["erased"], a["send_after"] + 1, lambda v, cid=cid: v[0] == cid)
        assert not (erased and erased[-1][1]), f"action to erased {cid}"

    # 6. once every instance has exited (60 days on, all have), nothing of any journey is left:
    # what remains is the CRM's own facts and the bounded re-entry memory (`once` journeys), whose
    # expiry (on the hour after it) is the only timer still pending
    for cid, state in w.sim.states.items():
        assert state.journeys_empty(), cid
        assert not (state.seen or state.views or state.marketing_sent or state.affinity), cid
        expiry = min(state.entries.values(), default=None)
        assert w.sim.engine.due(state) == (None if expiry is None else cleanup_moment(expiry)), cid


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=30))
def test_the_same_input_gives_the_same_output(steps: list[tuple[tuple[str, str, Any, int], int]]) -> None:
    a, _ = run(steps)
    b, _ = run(steps)
    assert a.sim.actions == b.sim.actions
    assert a.sim.journey_events == b.sim.journey_events
