"""The journey engine with a fake clock: every building block and every rule of the decision layer."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from common import events as ev
from journeys.engine import Engine, EngineConfig, bucket
from journeys.loader import load_dir, parse
from journeys.state import CustomerState
from tests.unit.journeys.world import BERLIN, DAY, HOUR, MIN, STORES, T0, World

CART = ("cart_abandonment",)
MUNICH = STORES["s-munich"]


def cart_world(**stock: dict[str, int]) -> World:
    w = World(only=CART)
    for sku, levels in stock.items():
        w.product(sku, "Jackets", levels)
    return w


def test_in_stock_at_the_nearest_store_gives_reserve_and_collect_after_30_quiet_minutes() -> None:
    w = cart_world(SKU1={"online": 10, "s-mitte": 2})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.run_until(T0 + 29 * MIN)
    assert w.actions() == []
    w.run_until(T0 + 30 * MIN)
    [a] = w.actions()
    assert (
        a["action_type"] == "reserve_and_collect" and a["channel"] == "email" and a["purpose"] == "marketing"
    )
    assert a["store"]["store_id"] == "s-mitte" and a["store"]["stock"] == 2
    assert a["items"][0]["sku"] == "SKU1" and a["items"][0]["stock"] == 12
    assert a["decided_at"] == T0 + 30 * MIN and a["attributes"]["cart_id"] == "k1"


def test_cart_activity_restarts_the_quiet_wait() -> None:
    w = cart_world(SKU1={"online": 10})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.at(T0 + 20 * MIN).click("c-1", "Cart Viewed", cart="k1")
    w.run_until(T0 + 45 * MIN)
    assert w.actions() == []
    w.run_until(T0 + 50 * MIN)
    assert [a["action_type"] for a in w.actions()] == ["cart_reminder"]


def test_low_stock_elsewhere_gives_an_urgent_reminder_low_stock_first() -> None:
    w = cart_world(SKU1={"online": 50}, SKU2={"online": 3})
    w.customer("c-1", where=MUNICH)
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.click("c-1", "Product Added", cart="k1", sku="SKU2")
    w.run_until(T0 + 31 * MIN)
    [a] = w.actions()
    assert a["action_type"] == "cart_reminder" and a["urgency"] is True
    assert [i["sku"] for i in a["items"]] == ["SKU2", "SKU1"]


def test_all_sold_out_gives_alternatives_ranked_by_affinity_never_the_sold_out_item() -> None:
    w = World(only=CART)
    w.product("OUT", "Boots", {"online": 0})
    w.product("A", "Boots", {"online": 50}, brand="Fjell")
    w.product("B", "Boots", {"online": 5}, brand="Nordwind")
    w.product("C", "Boots", {"online": 9}, brand="Other")
    w.product("D", "Boots", {"online": 7}, brand="Other2")
    w.customer("c-1", where=MUNICH)
    w.at(T0 - 10 * MIN).click("c-1", "Product Viewed", sku="B")  # affinity for Nordwind
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="OUT")
    w.run_until(T0 + 31 * MIN)
    [a] = w.actions()
    assert a["action_type"] == "cart_alternatives"
    assert [x["sku"] for x in a["alternatives"]] == ["B", "A", "C"]
    assert "OUT" not in {x["sku"] for x in a["alternatives"]}


def test_sold_out_with_no_alternative_sends_nothing_and_exits_with_the_reason() -> None:
    w = cart_world(SKU1={"online": 1})
    w.customer("c-1", where=MUNICH)
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.at(T0 + 10 * MIN).stock("SKU1", "online", 0)  # sells out during the wait
    w.run_until(T0 + 31 * MIN)
    assert w.actions() == []
    assert [e["reason"] for e in w.events("c-1", "exited")] == ["no_alternative_in_stock"]


def test_an_item_selling_out_at_the_store_during_the_wait_changes_the_decision() -> None:
    w = cart_world(SKU1={"online": 40, "s-mitte": 1})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.at(T0 + 5 * MIN).stock("SKU1", "s-mitte", 0)
    w.run_until(T0 + 31 * MIN)
    [a] = w.actions()
    assert a["action_type"] == "cart_reminder" and a["store"] is None


def test_exit_beats_wait_on_purchase_and_cancels_the_timer() -> None:
    w = cart_world(SKU1={"online": 10})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.at(T0 + 10 * MIN).click("c-1", "Order Completed", cart="k1", order_id="o-1", total=10.0, currency="EUR")
    assert w.state("c-1").next_due() is None
    w.run_until(T0 + 5 * DAY)
    assert w.actions() == []
    assert [(e["event_type"], e["revenue"]) for e in w.events("c-1") if e["event_type"] == "converted"] == [
        ("converted", 10.0)
    ]


def test_an_orders_row_with_the_cart_id_also_exits() -> None:
    w = cart_world(SKU1={"online": 10})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.at(T0 + 5 * MIN).change("orders.orders", "c", ev.Order("o-1", "c-1", "k1", "placed", 10.0, "EUR", None))
    w.run_until(T0 + DAY)
    assert w.actions() == [] and [e["reason"] for e in w.events("c-1", "exited")] == ["purchased"]


def test_emptying_the_cart_exits() -> None:
    w = cart_world(SKU1={"online": 10})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.at(T0 + 5 * MIN).click("c-1", "Product Removed", cart="k1", sku="SKU1")
    w.run_until(T0 + DAY)
    assert w.actions() == [] and [e["reason"] for e in w.events("c-1", "exited")] == ["cart_emptied"]


def test_second_and_third_touch_reread_stock_and_the_series_ends() -> None:
    w = cart_world(SKU1={"online": 40, "s-mitte": 2})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.run_until(T0 + 31 * MIN)
    w.at(T0 + 2 * HOUR).stock("SKU1", "s-mitte", 0)
    w.run_until(T0 + 4 * DAY)
    assert [(a["action_type"], round((a["decided_at"] - T0) / HOUR, 1)) for a in w.actions()] == [
        ("reserve_and_collect", 0.5),
        ("cart_reminder", 24.5),
        ("cart_reminder", 72.5),
    ]
    assert w.state("c-1") is not None and w.state("c-1").journeys_empty()


def test_one_instance_per_cart() -> None:
    w = cart_world(SKU1={"online": 10})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.at(T0 + 1 * MIN).click("c-1", "Checkout Started", cart="k1")
    w.at(T0 + 2 * MIN).click("c-1", "Product Added", cart="k2", sku="SKU1")
    assert sorted(i.key for i in w.state("c-1").instances) == ["k1", "k2"]
    assert len(w.events("c-1", "entered")) == 2


# ------------------------------------------------------------------ the decision layer


def test_marketing_needs_consent_at_emission_time_not_at_entry() -> None:
    w = cart_world(SKU1={"online": 10})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.at(T0 + 10 * MIN).consent("c-1", "email", "marketing", False)
    w.run_until(T0 + 31 * MIN)
    assert w.actions() == []
    assert [e["reason"] for e in w.events("c-1", "suppressed")] == ["consent"]


def test_transactional_needs_no_marketing_consent_but_respects_a_withdrawal() -> None:
    w = World(only=("loyalty_milestone",))
    row = w.customer("c-1", consent=(), tier="silver")
    w.at(T0).change("crm.customers", "u", ev.Customer(**{**_fields(row), "loyalty_tier": "gold"}))
    assert {a["action_type"] for a in w.actions()} == {"tier_recognition", "benefits_unlocked"}
    w.consent("c-1", "email", "transactional", False)
    w.consent("c-1", "in_app", "transactional", False)
    w.consent("c-1", "push", "transactional", False)
    w.consent("c-1", "sms", "transactional", False)
    w.at(T0 + HOUR).change("crm.customers", "u", ev.Customer(**{**_fields(row), "loyalty_tier": "platinum"}))
    assert len(w.actions()) == 2
    assert [e["reason"] for e in w.events("c-1", "suppressed")] == ["consent", "consent"]


def test_loyalty_recognition_is_sent_at_the_moment_of_the_change_with_the_new_tier() -> None:
    w = World(only=("loyalty_milestone",))
    row = w.customer("c-1", tier="silver", preferred="push", consent=("email", "push"))
    w.at(T0).change("crm.customers", "u", ev.Customer(**{**_fields(row), "loyalty_tier": "gold"}))
    rec = {a["action_type"]: a for a in w.actions()}
    assert rec["tier_recognition"]["channel"] == "push" and rec["tier_recognition"]["decided_at"] == T0
    assert rec["tier_recognition"]["attributes"]["new_tier"] == "gold"
    assert rec["benefits_unlocked"]["channel"] == "in_app"
    w.at(T0 + MIN).change(
        "crm.customers", "u", ev.Customer(**{**_fields(row), "loyalty_tier": "gold", "loyalty_points": 9})
    )
    assert len(w.actions()) == 2, "no tier change, no recognition"


def test_channel_choice_follows_engagement_skips_bounces_and_falls_back_to_preferred() -> None:
    w = World(only=("welcome_series",))
    w.customer("c-1", consent=("email", "push"), preferred="push")
    w.customer("c-2", consent=("email", "push"), preferred="push")
    w.customer("c-3", consent=("email", "push"), preferred="push")
    for _ in range(4):
        w.feedback("x", "c-2", "email", "delivered")
        w.feedback("x", "c-2", "email", "opened")
    w.feedback("x", "c-3", "push", "bounced")
    for cid in ("c-1", "c-2", "c-3"):
        w.at(T0).click(cid, "Signed Up")
    assert {a["customer_id"]: a["channel"] for a in w.actions()} == {
        "c-1": "push",
        "c-2": "email",
        "c-3": "email",
    }


def test_channels_with_equal_engagement_rates_tie_and_the_channel_order_decides() -> None:
    w = World(only=("welcome_series",))
    # email is preferred but not consented to: sms and push both start from the same prior
    w.customer("c-1", consent=("sms", "push"), preferred="email")
    for i in range(5):
        w.feedback(f"x{i}", "c-1", "sms", "delivered")
    w.feedback("x0", "c-1", "sms", "opened")
    w.at(T0).click("c-1", "Signed Up")
    # sms: (1 + 0.2) / (5 + 1) = 0.2, push untried: 0.2 / 1 = 0.2; in floats the first is below
    assert [a["channel"] for a in w.actions()] == ["sms"]


def test_vip_with_an_open_urgent_ticket_gets_no_marketing_but_transactional_still_goes() -> None:
    w = World(only=("welcome_series", "loyalty_milestone"))
    row = w.customer("c-1", vip=True, tier="silver")
    w.change("support.tickets", "c", ev.Ticket("t-1", "c-1", "urgent", "open", None))
    w.at(T0).click("c-1", "Signed Up")
    w.change("crm.customers", "u", ev.Customer(**{**_fields(row), "loyalty_tier": "gold"}))
    assert {a["action_type"] for a in w.actions()} == {"tier_recognition", "benefits_unlocked"}
    assert [e["reason"] for e in w.events("c-1", "suppressed")] == ["service_ticket"]
    w.at(T0 + 3 * DAY - MIN).change("support.tickets", "u", ev.Ticket("t-1", "c-1", "urgent", "solved", None))
    w.run_until(T0 + 3 * DAY + MIN)
    assert [a["attributes"].get("part") for a in w.actions() if a["action_type"] == "welcome"] == ["2"]


def test_frequency_cap_across_journeys() -> None:
    w = World(only=("welcome_series", "cart_abandonment"))
    w.product("SKU1", "Jackets", {"online": 10})
    w.customer("c-1", where=MUNICH)
    w.at(T0).click("c-1", "Signed Up")
    w.click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.click("c-1", "Product Added", cart="k2", sku="SKU1")
    w.run_until(T0 + 31 * MIN)
    assert len(w.actions()) == 2
    assert [e["reason"] for e in w.events("c-1", "suppressed")] == ["cap"]
    w.run_until(T0 + DAY + 31 * MIN)
    assert len([a for a in w.actions() if a["decided_at"] > T0 + DAY]) == 2, "the window rolls"


def test_quiet_hours_defer_to_eight_local_and_rules_apply_again_then() -> None:
    w = cart_world(SKU1={"online": 10})
    w.customer("c-1", where=MUNICH)
    late = int(datetime(2026, 11, 23, 22, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp() * 1000)
    w.at(late).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.run_until(late + 31 * MIN)
    assert w.actions() == []
    [d] = w.events("c-1", "deferred")
    eight = int(datetime(2026, 11, 24, 8, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp() * 1000)
    assert d["reason"] == "quiet_hours" and d["wait_until"] == eight
    w.run_until(eight)
    [a] = w.actions()
    assert a["send_after"] == eight and a["action_id"] == d["action_id"]


def test_quiet_hours_are_in_the_customers_own_time_zone() -> None:
    w = cart_world(SKU1={"online": 10})
    w.customer("c-ny", where=MUNICH, tz="America/New_York")
    w.at(T0).click("c-ny", "Product Added", cart="k1", sku="SKU1")  # 04:00 in New York
    w.run_until(T0 + 31 * MIN)
    assert w.actions() == [] and len(w.events("c-ny", "deferred")) == 1


def test_holdout_gets_nothing_and_every_event_says_so() -> None:
    holdout = next(f"c-{i}" for i in range(500) if bucket(f"c-{i}", "cart_abandonment") < 10)
    treated = next(f"c-{i}" for i in range(500) if bucket(f"c-{i}", "cart_abandonment") >= 10)
    w = cart_world(SKU1={"online": 10})
    for cid in (holdout, treated):
        w.customer(cid, where=MUNICH)
        w.at(T0).click(cid, "Product Added", cart=f"k-{cid}", sku="SKU1")
    w.run_until(T0 + 4 * DAY)
    assert {a["customer_id"] for a in w.actions()} == {treated}
    assert all(e["variant"] == "holdout" for e in w.events(holdout))
    assert [e["reason"] for e in w.events(holdout, "suppressed")] == ["holdout"] * 3
    assert {a["variant"] for a in w.actions()} <= {"control", "urgency_copy"}


def test_erasure_removes_everything_and_nothing_is_sent_afterwards() -> None:
    w = cart_world(SKU1={"online": 10})
    row = w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    w.at(T0 + MIN).change("crm.customers", "d", None, before=row)
    s = w.state("c-1")
    assert s.erased and s.customer is None and not s.instances and not s.consents and not s.seen
    assert [e["reason"] for e in w.events("c-1", "exited")] == ["erasure"]
    w.at(T0 + 2 * MIN).click("c-1", "Product Added", cart="k2", sku="SKU1")
    w.run_until(T0 + 5 * DAY)
    assert w.actions() == []


def test_a_redelivered_event_is_not_counted_twice() -> None:
    w = cart_world(SKU1={"online": 10})
    w.customer("c-1", where=MUNICH)
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1", message_id="same")
    w.at(T0 + MIN).click("c-1", "Product Added", cart="k1", sku="SKU1", message_id="same")
    w.run_until(T0 + 31 * MIN)
    assert w.actions()[0]["items"][0]["quantity"] == 1


def test_state_is_empty_after_the_last_instance_exits() -> None:
    w = cart_world(SKU1={"online": 10})
    w.at(T0).click("anon-ish", "Product Added", cart="k1", sku="SKU1")
    assert w.state("anon-ish") is not None
    w.at(T0 + MIN).click("anon-ish", "Order Completed", cart="k1", order_id="o")
    w.run_until(T0 + 3 * DAY)  # dedupe ids and order facts age out with the next event
    w.at(T0 + 40 * DAY).click("anon-ish", "Cart Viewed")
    assert w.state("anon-ish") is None


def test_instances_continue_on_the_version_they_entered_with() -> None:
    text = load_dir()[5].model_dump_json()  # welcome_series
    assert "welcome_series" in text
    v1 = next(j for j in load_dir() if j.id == "welcome_series")
    v2 = v1.model_copy(update={"version": 2})
    eng1 = Engine([v1])
    state = None
    cust = ev.Customer("c-1", "e@x", None, "UTC", None, None, "email", "member", 0, False)
    state = eng1.on_event(state, ev.ChangeEvent("crm.customers", "r", None, cust, T0, "x1"), T0).state
    state = eng1.on_event(
        state,
        ev.ChangeEvent(
            "crm.consents", "r", None, ev.Consent("c-1", "email", "marketing", True, None), T0, "x2"
        ),
        T0,
    ).state
    r = eng1.on_event(state, ev.ClickEvent("m1", "c-1", None, "Signed Up", T0), T0)
    assert r.actions[0]["journey_version"] == 1
    restored = pickle.loads(pickle.dumps(r.state))  # a savepoint
    eng2 = Engine([v1, v2])
    r2 = eng2.on_timer(restored, restored.next_due())
    assert [a["journey_version"] for a in r2.actions] == [1]
    r3 = eng2.on_event(None, ev.ClickEvent("m2", "c-2", None, "Signed Up", T0), T0)
    assert all(e["journey_version"] == 2 for e in r3.journey_events)


def test_the_same_input_gives_the_same_actions_and_ids() -> None:
    def run() -> list[dict[str, object]]:
        w = cart_world(SKU1={"online": 10, "s-mitte": 1})
        w.customer("c-1")
        w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
        w.run_until(T0 + 4 * DAY)
        return w.actions() + w.sim.journey_events

    assert run() == run()


def test_state_round_trips_through_pickle_and_is_small() -> None:
    w = cart_world(SKU1={"online": 10, "s-mitte": 1})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Added", cart="k1", sku="SKU1")
    s = w.state("c-1")
    blob = pickle.dumps(s, protocol=5)
    assert pickle.loads(blob) == s and isinstance(s, CustomerState)
    assert len(blob) < 4000


def test_onboarding_sends_each_nudge_once_per_status_and_at_most_two_reminders() -> None:
    w = World(only=("compliance_onboarding",))
    w.customer("c-1")
    app = ev.Application("a-1", "c-1", "current_account", "DE", "pending_documents", ("passport",), None)
    w.at(T0).change("onboarding.applications", "c", app)
    w.at(T0 + HOUR).change("onboarding.applications", "u", app)  # unchanged status: nothing new
    w.run_until(T0 + 10 * DAY)
    assert [a["action_type"] for a in w.actions()] == [
        "document_request",
        "document_reminder",
        "document_reminder",
    ]
    assert w.actions()[0]["attributes"]["documents"] == "passport"
    w.at(T0 + 11 * DAY).change(
        "onboarding.applications",
        "u",
        ev.Application(**{**_fields(app), "verification_status": "under_review"}),
    )
    w.run_until(T0 + 13 * DAY)
    assert w.actions()[-1]["action_type"] == "document_reminder", "under review: nothing is nudged"
    w.run_until(T0 + 15 * DAY)
    assert w.actions()[-1]["action_type"] == "review_status_update"
    w.at(T0 + 16 * DAY).change(
        "onboarding.applications", "u", ev.Application(**{**_fields(app), "verification_status": "rejected"})
    )
    assert w.actions()[-1]["action_type"] == "application_decision"
    assert w.actions()[-1]["purpose"] == "transactional"
    assert w.events("c-1", "exited")[-1]["reason"] == "rejected"


def test_no_sms_marketing_where_the_jurisdiction_forbids_it() -> None:
    w = World(only=("compliance_onboarding",))
    w.customer("c-1", consent=("sms",), preferred="sms")
    app = ev.Application("a-1", "c-1", "current_account", "DE", "verified", (), None)
    w.at(T0).change("onboarding.applications", "c", app)
    assert w.actions() == [] and [e["reason"] for e in w.events("c-1", "suppressed")] == ["jurisdiction"]


def test_delivery_delay_sends_an_update_at_once_and_moves_the_follow_up() -> None:
    w = World(only=("delivery_followup",))
    w.customer("c-1")
    w.at(T0).click("c-1", "Order Completed", order_id="o-1", products=(ev.Item("S", category="Boots"),))
    ship = ev.Shipment("sh-1", "o-1", "c-1", "created", "2026-11-25", None, "DHL")
    w.change("orders.shipments", "c", ship)
    w.at(T0 + DAY).change(
        "orders.shipments",
        "u",
        ev.Shipment(**{**_fields(ship), "status": "delayed", "estimated_delivery": "2026-11-27"}),
    )
    [update] = w.actions()
    assert (
        update["action_type"] == "delivery_status_update" and update["attributes"]["new_eta"] == "2026-11-27"
    )
    assert update["decided_at"] == T0 + DAY
    w.run_until(T0 + 3 * DAY + 12 * HOUR)
    assert len(w.actions()) == 1, "no follow-up on the old arrival day"
    w.run_until(T0 + 5 * DAY)
    follow = w.actions()[-1]
    ten_local = int(datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp() * 1000)
    assert follow["action_type"] == "delivery_followup" and follow["decided_at"] == ten_local
    assert follow["attributes"]["categories"] == "Boots"


def test_delivered_means_a_follow_up_two_hours_later_and_cancel_exits() -> None:
    w = World(only=("delivery_followup",))
    w.customer("c-1")
    ship = ev.Shipment("sh-1", "o-1", "c-1", "created", "2026-11-25", None, "DHL")
    w.at(T0).change("orders.shipments", "c", ship)
    t = T0 + DAY
    w.at(t).change(
        "orders.shipments", "u", ev.Shipment(**{**_fields(ship), "status": "delivered", "delivered_at": t})
    )
    w.run_until(t + 2 * HOUR)
    assert [(a["action_type"], a["decided_at"]) for a in w.actions()] == [("delivery_followup", t + 2 * HOUR)]
    ship2 = ev.Shipment("sh-2", "o-2", "c-1", "created", "2026-11-30", None, "DHL")
    w.at(t + 3 * HOUR).change("orders.shipments", "c", ship2)
    w.change("orders.orders", "u", ev.Order("o-2", "c-1", None, "cancelled", 1.0, "EUR", None))
    assert w.events("c-1", "exited")[-1]["reason"] == "order_cancelled"


def test_browse_needs_two_views_of_one_category_and_an_hour_of_quiet() -> None:
    w = World(only=("browse_abandonment",))
    w.product("A", "Jackets", {"online": 5})
    w.product("B", "Jackets", {"online": 0})
    w.product("C", "Boots", {"online": 5})
    w.customer("c-1")
    w.at(T0).click("c-1", "Product Viewed", sku="A")
    w.at(T0 + MIN).click("c-1", "Product Viewed", sku="C")
    assert w.events("c-1", "entered") == []
    w.at(T0 + 2 * MIN).click("c-1", "Product Viewed", sku="B")
    w.run_until(T0 + 62 * MIN)
    [a] = w.actions()
    assert a["action_type"] == "browse_reminder" and [i["sku"] for i in a["items"]] == ["A"]


def test_welcome_series_of_three_over_seven_days_skipped_after_an_order() -> None:
    w = World(only=("welcome_series",))
    w.customer("c-1")
    w.customer("c-2")
    w.at(T0).click("c-1", "Signed Up")
    w.click("c-2", "Signed Up")
    w.at(T0 + 4 * DAY).click("c-2", "Order Completed", order_id="o", total=5.0)
    w.run_until(T0 + 8 * DAY)
    days = {cid: [round((a["decided_at"] - T0) / DAY) for a in w.actions(cid)] for cid in ("c-1", "c-2")}
    assert days == {"c-1": [0, 3, 7], "c-2": [0, 3]}


def test_engine_config_defaults_match_the_spec() -> None:
    c = EngineConfig()
    assert (c.cap_per_24h, c.quiet_start_hour, c.quiet_end_hour) == (2, 21, 8)
    assert parse.__module__ == "journeys.loader" and BERLIN and UTC


def _fields(row: object) -> dict[str, object]:
    return {k: getattr(row, k) for k in row.__slots__}  # type: ignore[attr-defined]


VIP_ONLY = """
id: vip_welcome
version: 1
name: VIP welcome
entry: {click: Signed Up}
key: customer
reentry: {policy: cooldown, cooldown: 2d}
audience:
  any:
    - {fact: customer.vip, is: true}
    - {fact: customer.tier, at_least: gold}
steps:
  - id: hello
    action: {type: vip_hello, purpose: transactional}
    next: done
  - id: done
    exit: done
"""


def test_audience_and_cooldown() -> None:
    w = World(journeys=[parse(VIP_ONLY, "vip.yaml")])
    w.customer("c-vip", vip=True)
    w.customer("c-gold", tier="platinum")
    w.customer("c-member")
    for cid in ("c-vip", "c-gold", "c-member"):
        w.at(T0).click(cid, "Signed Up")
    assert sorted(a["customer_id"] for a in w.actions()) == ["c-gold", "c-vip"]
    w.at(T0 + DAY).click("c-vip", "Signed Up")
    assert len(w.actions("c-vip")) == 1, "within the cool-down"
    w.at(T0 + 2 * DAY).click("c-vip", "Signed Up")
    assert len(w.actions("c-vip")) == 2, "after the cool-down"


def test_once_means_once() -> None:
    w = World(only=("welcome_series",))
    w.customer("c-1")
    w.at(T0).click("c-1", "Signed Up")
    w.run_until(T0 + 8 * DAY)
    w.at(T0 + 9 * DAY).click("c-1", "Signed Up")
    w.run_until(T0 + 20 * DAY)
    assert len(w.events("c-1", "entered")) == 1


def test_affinity_prefers_what_was_viewed_lately_over_what_was_viewed_often_long_ago() -> None:
    w = World(only=CART)
    w.product("OUT", "Boots", {"online": 0})
    w.product("OLD", "Boots", {"online": 5}, brand="Old")
    w.product("NEW", "Boots", {"online": 5}, brand="New")
    w.customer("c-1", where=STORES["s-munich"])
    for i in range(3):  # three views of Old four weeks earlier: 3 * 2^-4 < 1 view of New
        w.at(T0 + i).click("c-1", "Product Viewed", sku="OLD")
    later = T0 + 28 * DAY
    w.at(later - MIN).click("c-1", "Product Viewed", sku="NEW")
    w.at(later).click("c-1", "Product Added", cart="k1", sku="OUT")
    w.run_until(later + 31 * MIN)
    assert [x["sku"] for x in w.actions()[0]["alternatives"]] == ["NEW", "OLD"]
