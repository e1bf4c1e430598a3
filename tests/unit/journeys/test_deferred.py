"""Messages deferred by quiet hours: they outlive the instance that decided them, meet the
decision layer again when due, and end in exactly one journey event (docs/journeys.md,
"Deferred messages")."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from common import events as ev
from journeys.engine import Engine
from journeys.loader import load_dir
from journeys.state import STATE_VERSION, CustomerState, PendingAction, upgrade
from tests.unit.journeys.world import DAY, HOUR, World

BERLIN = ZoneInfo("Europe/Berlin")


def local(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 11, day, hour, minute, tzinfo=BERLIN).timestamp() * 1000)


def ends(w: World, cid: str) -> list[tuple[str, str | None]]:
    """What became of each decided action: (event type, reason), in order; deferrals left out."""
    return [
        (e["event_type"], e["reason"])
        for e in w.events(cid)
        if e["event_type"] in ("action", "suppressed") and e["action_id"]
    ]


def application(status: str) -> ev.Application:
    return ev.Application("a-1", "c-1", "current_account", "GB", status, (), None)


def verified_at_nine_pm() -> World:
    w = World(only=("compliance_onboarding",))
    w.at(local(23, 9)).customer("c-1")
    w.at(local(23, 21)).change("onboarding.applications", "c", application("verified"))
    return w


def test_a_fast_track_verified_at_night_goes_out_at_eight_after_its_instance_exited() -> None:
    w = verified_at_nine_pm()
    assert [
        (e["event_type"], e["reason"]) for e in w.events("c-1") if e["event_type"] in ("deferred", "exited")
    ] == [
        ("deferred", "quiet_hours"),
        ("exited", "verified"),
    ]
    assert w.actions() == []
    w.run_until(local(24, 8))
    [a] = w.actions()
    assert a["action_type"] == "activation_fast_track" and a["send_after"] == local(24, 8)
    assert a["decided_at"] == local(23, 21)
    assert ends(w, "c-1") == [("action", None)]
    # its journey events go on numbering where the instance stopped
    ids = [e["event_id"] for e in w.events("c-1")]
    assert len(ids) == len(set(ids))
    state = w.state("c-1")
    assert state is None or (not state.deferred and state.journeys_empty())


def test_a_rejection_overnight_cancels_the_deferred_fast_track() -> None:
    w = verified_at_nine_pm()
    w.at(local(23, 23)).change("onboarding.applications", "u", application("rejected"), before=None)
    w.run_until(local(24, 9))
    assert w.actions() == []
    [c] = [e for e in w.events("c-1", "suppressed")]
    assert c["reason"] == "cancelled" and c["attributes"] == {"cancelled_by": "status_changed"}
    assert c["action_type"] == "activation_fast_track"
    assert ends(w, "c-1") == [("suppressed", "cancelled")]


def test_the_decision_layer_applies_again_when_it_is_due() -> None:
    # consent withdrawn overnight
    w = verified_at_nine_pm()
    w.at(local(23, 23)).consent("c-1", "email", "marketing", False)
    w.run_until(local(24, 9))
    assert w.actions() == [] and ends(w, "c-1") == [("suppressed", "consent")]
    # a VIP opened an urgent ticket overnight
    w = verified_at_nine_pm()
    vip = ev.Customer("c-1", "c-1@x.test", "+49151", "Europe/Berlin", 52.5, 13.4, "email", "gold", 0, True)
    w.at(local(23, 22)).change("crm.customers", "u", vip)
    w.change("support.tickets", "c", ev.Ticket("t-1", "c-1", "urgent", "open", None))
    w.run_until(local(24, 9))
    assert w.actions() == [] and ends(w, "c-1") == [("suppressed", "service_ticket")]
    # erased overnight: nothing goes, and the end is said
    w = verified_at_nine_pm()
    w.at(local(23, 23)).change("crm.customers", "d", None, before=ev.Customer("c-1", *[None] * 8, False))
    w.run_until(local(24, 9))
    assert w.actions() == [] and ends(w, "c-1") == [("suppressed", "erasure")]


def test_the_frequency_cap_counts_at_the_moment_of_sending() -> None:
    w = World(only=("compliance_onboarding", "welcome_series"))
    w.at(local(23, 9)).customer("c-1")
    w.at(local(23, 21, 30)).click("c-1", "Signed Up")  # welcome part 1: deferred
    w.at(local(23, 22)).change("onboarding.applications", "c", application("verified"))  # deferred
    w.run_until(local(24, 8))
    assert sorted(a["action_type"] for a in w.actions()) == ["activation_fast_track", "welcome"]
    # two more the same morning would be over the cap of 2 per 24 h
    w2 = World(only=("compliance_onboarding", "welcome_series", "browse_abandonment"))
    w2.product("S1", "Boots", {"online": 5})
    w2.product("S2", "Boots", {"online": 5})
    w2.at(local(23, 9)).customer("c-1")
    w2.at(local(23, 20)).click("c-1", "Product Viewed", sku="S1")
    w2.click("c-1", "Product Viewed", sku="S2")  # browse reminder due 21:00: deferred
    w2.at(local(23, 21, 30)).click("c-1", "Signed Up")
    w2.at(local(23, 22)).change("onboarding.applications", "c", application("verified"))
    w2.run_until(local(24, 9))
    assert len(w2.actions()) == 2
    assert [r for _, r in ends(w2, "c-1")] == [None, None, "cap"]  # in the order they were deferred
    assert [e["action_type"] for e in w2.events("c-1", "suppressed")] == ["activation_fast_track"]


def deferred_last_touch() -> tuple[World, int]:
    """A cart whose third touch falls at 21:30: deferred, and the series ends."""
    w = World(only=("cart_abandonment",))
    w.product("S1", "Jackets", {"online": 10})
    w.at(local(23, 9)).customer("c-2")  # c-2 is not in the holdout
    w.at(local(23, 21)).click("c-2", "Product Added", cart="k1", sku="S1")
    w.run_until(local(26, 21, 31))
    return w, local(27, 8)


def test_the_cart_series_last_touch_is_sent_after_the_series_ended() -> None:
    w, eight = deferred_last_touch()
    assert w.events("c-2", "exited")[-1]["reason"] == "series_complete"
    assert len(w.events("c-2", "deferred")) == 3  # every touch fell at 21:30
    sent_before = len(w.actions())
    w.run_until(eight)
    assert len(w.actions()) == sent_before + 1
    assert w.actions()[-1]["send_after"] == eight
    assert [t for t, _ in ends(w, "c-2")] == ["action"] * 3


def test_a_purchase_overnight_cancels_the_last_touch() -> None:
    w, eight = deferred_last_touch()
    sent_before = len(w.actions())
    w.at(eight - 2 * HOUR).click("c-2", "Order Completed", cart="k1", order_id="o-1", total=10.0)
    w.run_until(eight + HOUR)
    assert len(w.actions()) == sent_before
    assert ends(w, "c-2")[-1] == ("suppressed", "cancelled")
    assert w.events("c-2", "suppressed")[-1]["attributes"] == {"cancelled_by": "purchased"}


def test_an_item_that_sold_out_overnight_is_never_promoted() -> None:
    w, eight = deferred_last_touch()
    sent_before = len(w.actions())
    w.at(eight - HOUR).stock("S1", "online", 0)
    w.run_until(eight + HOUR)
    assert len(w.actions()) == sent_before
    assert ends(w, "c-2")[-1] == ("suppressed", "sold_out")


def test_stock_is_read_again_when_the_deferred_touch_goes_out() -> None:
    w, eight = deferred_last_touch()
    w.at(eight - HOUR).stock("S1", "online", 2)  # low now
    w.run_until(eight)
    a = w.actions()[-1]
    assert a["items"][0]["stock"] == 2 and a["urgency"] is False  # a plain reminder promises no urgency
    assert a["decided_at"] == local(26, 21, 30)


def test_a_delivery_follow_up_due_at_half_past_nine_goes_out_at_eight() -> None:
    w = World(only=("delivery_followup",))
    w.at(local(23, 9)).customer("c-1")
    w.click("c-1", "Order Completed", order_id="o-1", products=(ev.Item("S", category="Boots"),))
    ship = ev.Shipment("sh-1", "o-1", "c-1", "created", "2026-11-25", None, "DHL")
    w.change("orders.shipments", "c", ship)
    t = local(24, 19, 30)
    w.at(t).change("orders.shipments", "u", _with(ship, status="delivered", delivered_at=t))
    w.run_until(local(24, 21, 31))
    assert w.events("c-1", "exited")[-1]["reason"] == "followed_up" and w.actions() == []
    w.run_until(local(25, 8))
    [a] = w.actions()
    assert a["action_type"] == "delivery_followup" and a["attributes"]["categories"] == "Boots"


def test_a_return_overnight_cancels_the_deferred_follow_up() -> None:
    w = World(only=("delivery_followup",))
    w.at(local(23, 9)).customer("c-1")
    ship = ev.Shipment("sh-1", "o-1", "c-1", "created", "2026-11-25", None, "DHL")
    w.change("orders.shipments", "c", ship)
    t = local(24, 19, 30)
    w.at(t).change("orders.shipments", "u", _with(ship, status="delivered", delivered_at=t))
    w.at(local(24, 23)).change("orders.shipments", "u", _with(ship, status="returned", delivered_at=t))
    w.run_until(local(25, 9))
    assert w.actions() == []
    assert ends(w, "c-1") == [("suppressed", "cancelled")]
    assert w.events("c-1", "suppressed")[-1]["attributes"] == {"cancelled_by": "returned"}


def test_a_move_to_another_time_zone_defers_again_to_eight_there() -> None:
    w = verified_at_nine_pm()
    moved = ev.Customer(
        "c-1", "c-1@x.test", "+49151", "America/New_York", 52.5, 13.4, "email", "member", 0, False
    )
    w.at(local(23, 23)).change("crm.customers", "u", moved)
    w.run_until(local(24, 8))  # 02:00 in New York
    assert w.actions() == [] and len(w.events("c-1", "deferred")) == 2
    eight_ny = int(datetime(2026, 11, 24, 8, 0, tzinfo=ZoneInfo("America/New_York")).timestamp() * 1000)
    assert w.events("c-1", "deferred")[-1]["wait_until"] == eight_ny
    w.run_until(eight_ny)
    assert len(w.actions()) == 1 and ends(w, "c-1") == [("action", None)]


def test_a_state_of_version_1_is_upgraded_with_its_deferred_actions() -> None:
    """A savepoint of the job before this change kept deferred actions on their instance."""
    w = verified_at_nine_pm()
    state: CustomerState = w.state("c-1")
    [p] = state.deferred
    # the shape version 1 pickled: no `deferred` on the customer, the action on its instance
    old = CustomerState("c-1", v=1, customer=state.customer, consents=dict(state.consents))
    del old.deferred
    inst = p.origin  # as if still open: in version 1 nothing outlived its instance
    inst.deferred = [PendingAction.__new__(PendingAction)]
    inst.deferred[0].due, inst.deferred[0].record = p.due, p.record
    old.instances = [inst]
    new = upgrade(old)
    assert new.v == STATE_VERSION and [(q.due, q.origin) for q in new.deferred] == [(p.due, inst)]
    assert inst.deferred == []
    r = Engine(load_dir()).on_timer(new, p.due)
    assert [a["action_type"] for a in r.actions] == ["activation_fast_track"]


def _with(row: Any, **changes: Any) -> Any:
    return type(row)(**{**{k: getattr(row, k) for k in row.__slots__}, **changes})


def test_nothing_is_left_once_deferred_actions_are_resolved() -> None:
    w, eight = deferred_last_touch()
    w.run_until(eight + 10 * DAY)
    state = w.state("c-2")
    assert state is None or (state.journeys_empty() and not state.deferred)
