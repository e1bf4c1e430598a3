"""The catalogue stages' logic: one SKU's book, one category's ranking, and both in one process."""

from __future__ import annotations

from common import events as ev
from journeys.catalog import (
    WATCH_MS,
    Catalog,
    FactsRequest,
    Ranking,
    RankUpdate,
    SkuBook,
    needs_alternatives,
    requests,
    route_click,
)

T0 = 1_700_000_000_000


def product(sku: str, category: str = "shoes") -> ev.ChangeEvent:
    return ev.ChangeEvent(
        "inventory.products",
        "r",
        None,
        ev.Product(sku, sku, f"name {sku}", category, "N", 10.0),
        T0,
        f"p:{sku}",
    )


def stock(sku: str, location: str, quantity: int, t: int = T0, n: int = 0) -> ev.ChangeEvent:
    return ev.ChangeEvent(
        "inventory.stock_levels", "u", None, ev.StockLevel(sku, location, quantity, t), t, f"s:{sku}:{n}:{t}"
    )


def click(name: str, *skus: str, user: str | None = "c-1", t: int = T0) -> ev.ClickEvent:
    item = ev.Item(skus[0]) if len(skus) == 1 else None
    products = tuple(ev.Item(s) for s in skus) if len(skus) > 1 else ()
    return ev.ClickEvent(f"m-{name}-{t}", user, None, name, t, cart_id="k1", item=item, products=products)


def test_a_click_asks_once_per_sku_it_names_and_an_anonymous_one_asks_nothing() -> None:
    assert [r.sku for r in requests(click("Checkout Started", "A", "B", "A"))] == ["A", "B"]
    assert requests(click("Product Viewed", "A", user=None)) == []


def test_a_cart_event_makes_a_watcher_who_gets_the_facts_and_an_order_ends_the_watch() -> None:
    book = SkuBook("A")
    book.apply(product("A"), 5)
    book.apply(stock("A", "online", 9), 5)
    notice = book.request(FactsRequest("A", "c-1", "Product Added", "m-1", T0))
    assert notice is not None
    assert (notice.customer_id, notice.facts.online, notice.facts.category) == ("c-1", 9, "shoes")
    assert notice.event_id == "m-1>A"
    assert book.watchers == {"c-1": T0 + WATCH_MS}
    assert book.request(FactsRequest("A", "c-1", "Order Completed", "m-2", T0)) is None
    assert book.watchers == {}


def test_a_view_gets_the_facts_without_watching() -> None:
    book = SkuBook("A")
    assert book.request(FactsRequest("A", "c-1", "Product Viewed", "m-1", T0)) is not None
    assert book.watchers == {}


def test_watchers_hear_of_threshold_crossings_only_and_each_change_bumps_the_version() -> None:
    book = SkuBook("A")
    book.apply(product("A"), 5)
    book.apply(stock("A", "online", 20), 5)
    book.request(FactsRequest("A", "c-2", "Product Added", "m-1", T0))
    book.request(FactsRequest("A", "c-1", "Cart Viewed", "m-2", T0))
    v = book.version
    assert book.apply(stock("A", "online", 10, n=1), 5)[0] == []  # still in stock
    low, _ = book.apply(stock("A", "online", 3, n=2), 5)
    assert [n.customer_id for n in low] == ["c-1", "c-2"]
    assert low[0].facts.stock == 3 and low[0].facts.version == v + 2
    out, _ = book.apply(stock("A", "online", 0, n=3), 5)
    assert [n.facts.stock for n in out] == [0, 0]


def test_a_store_running_out_is_a_crossing_even_with_stock_elsewhere() -> None:
    book = SkuBook("A")
    book.apply(stock("A", "online", 50), 5)
    book.apply(stock("A", "store-1", 2, n=1), 5)
    book.request(FactsRequest("A", "c-1", "Product Added", "m-1", T0))
    notices, _ = book.apply(stock("A", "store-1", 0, n=2), 5)
    assert [n.facts.stores for n in notices] == [{"store-1": 0}]


def test_watchers_expire_when_their_cart_went_quiet() -> None:
    book = SkuBook("A")
    book.apply(stock("A", "online", 20), 5)
    book.request(FactsRequest("A", "c-1", "Product Added", "m-1", T0))
    notices, _ = book.apply(stock("A", "online", 0, t=T0 + WATCH_MS + 1), 5)
    assert notices == [] and book.watchers == {}


def test_rank_updates_follow_stock_and_category_moves() -> None:
    book = SkuBook("A")
    assert book.apply(stock("A", "online", 4), 5)[1] == []  # no category known yet
    _, ranks = book.apply(product("A", "shoes"), 5)
    assert [(u.category, u.facts is not None) for u in ranks] == [("shoes", True)]
    _, ranks = book.apply(product("A", "boots"), 5)
    assert [(u.category, u.facts is not None) for u in ranks] == [("shoes", False), ("boots", True)]
    _, ranks = book.apply(stock("A", "online", 0, n=1), 5)
    assert [(u.category, u.facts) for u in ranks] == [("boots", None)]


def test_a_ranking_offers_the_best_stocked_others_never_the_sku_itself() -> None:
    r = Ranking("shoes")
    for sku, n in (("A", 5), ("B", 50), ("C", 20), ("D", 20)):
        r.update(RankUpdate("shoes", sku, ev.SkuFacts(sku, category="shoes", online=n)))
    r.update(RankUpdate("shoes", "C", None))
    assert [f.sku for f in r.alternatives("B", 2)] == ["D", "A"]
    assert [f.sku for f in r.alternatives("X", 10)] == ["B", "D", "A"]


def test_only_a_sold_out_sku_of_a_known_category_takes_the_category_detour() -> None:
    def notice(stock: int, category: str | None) -> ev.StockNotice:
        return ev.StockNotice("c-1", ev.SkuFacts("A", category=category, online=stock), T0, "x")

    assert needs_alternatives(notice(0, "shoes"))
    assert not needs_alternatives(notice(1, "shoes"))
    assert not needs_alternatives(notice(0, None))


def test_the_catalog_attaches_alternatives_when_a_watched_sku_sells_out() -> None:
    cat = Catalog()
    for sku, n in (("A", 3), ("B", 30), ("C", 10)):
        cat.apply(product(sku))
        cat.apply(stock(sku, "online", n))
    added = click("Product Added", "A")
    assert cat.enrich(added) == []  # one SKU: its facts ride with the click
    [facts] = added.facts
    assert (facts.sku, facts.online, facts.alternatives) == ("A", 3, ())  # in stock: nothing to replace
    [sold_out] = cat.apply(stock("A", "online", 0, n=1))
    assert [a.sku for a in sold_out.facts.alternatives] == ["B", "C"]
    # a sold-out SKU's click carries its alternatives too
    viewed = click("Product Viewed", "A", t=T0 + 1)
    assert cat.enrich(viewed) == []
    assert [a.sku for a in viewed.facts[0].alternatives] == ["B", "C"]
    assert cat.enrich(click("Order Completed", "A")) == []
    assert cat.apply(stock("A", "online", 7, n=2)) == []  # no watcher left


def test_a_click_naming_several_skus_goes_straight_to_its_customer_and_their_facts_follow() -> None:
    cat = Catalog()
    for sku, n in (("A", 3), ("B", 30)):
        cat.apply(product(sku))
        cat.apply(stock(sku, "online", n))
    checkout = click("Checkout Started", "A", "B")
    assert route_click(checkout) == (None, requests(checkout))
    notices = cat.enrich(checkout)
    assert checkout.facts == ()
    assert [(n.customer_id, n.facts.sku, n.facts.online) for n in notices] == [
        ("c-1", "A", 3),
        ("c-1", "B", 30),
    ]
    # an order's products end their watch and need no facts
    order = click("Order Completed", "A", "B")
    assert route_click(order)[0] is None and cat.enrich(order) == []
    assert route_click(click("Product Viewed", "A")) == ("A", [])
