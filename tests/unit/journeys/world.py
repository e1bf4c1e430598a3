"""A small world for engine tests: typed events, a fake clock (journey time in ms), the catalogue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from common import events as ev
from jobs.simulate import Simulation
from journeys.definition import Journey
from journeys.engine import EngineConfig
from journeys.loader import load_dir

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
#: 2026-11-23 10:00 in Berlin (09:00 UTC): outside quiet hours
T0 = int(datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp() * 1000)
BERLIN = (52.51, 13.39)
STORES = {"s-mitte": (52.52, 13.405), "s-munich": (48.137, 11.575)}


class World:
    def __init__(
        self,
        journeys: list[Journey] | None = None,
        config: EngineConfig | None = None,
        only: tuple[str, ...] | None = None,
    ) -> None:
        js = journeys if journeys is not None else load_dir()
        if only is not None:
            js = [j for j in js if j.id in only]
        self.sim = Simulation(js, config or EngineConfig())
        self.n = 0
        self.lsn = 0
        self.now = T0 - HOUR
        for sid, (lat, lon) in STORES.items():
            self.change("inventory.stores", "r", ev.Store(sid, sid, lat, lon))

    # ------------------------------------------------------------------ clock

    def at(self, t: int) -> World:
        self.now = t
        return self

    def run_until(self, t: int) -> None:
        self.sim.advance(t)
        self.now = max(self.now, t)

    # ------------------------------------------------------------------ inputs

    def change(self, table: str, op: str, row: Any, before: Any = None) -> None:
        self.lsn += 1
        self.sim.feed(
            ev.ChangeEvent(
                table,
                op,
                before if op != "c" else None,
                None if op == "d" else row,
                self.now,
                f"{table}:{self.lsn}",
            )
        )  # type: ignore[arg-type]

    def click(
        self, user: str, name: str, cart: str | None = None, sku: str | None = None, qty: int = 1, **kw: Any
    ) -> None:
        self.n += 1
        p = self.sim.catalog.product(sku) if sku else None
        item = (
            ev.Item(
                sku,
                category=p.category if p else None,
                brand=p.brand if p else None,
                name=p.name if p else None,
                price=p.price if p else None,
                quantity=qty,
            )
            if sku
            else None
        )
        self.sim.feed(
            ev.ClickEvent(
                kw.pop("message_id", f"m-{self.n}"), user, None, name, self.now, cart_id=cart, item=item, **kw
            )
        )

    def product(self, sku: str, category: str, stock: dict[str, int], brand: str = "N") -> None:
        self.change("inventory.products", "r", ev.Product(sku, sku, f"name {sku}", category, brand, 10.0))
        for loc, q in stock.items():
            self.stock(sku, loc, q)

    def stock(self, sku: str, location: str, quantity: int) -> None:
        self.change("inventory.stock_levels", "u", ev.StockLevel(sku, location, quantity, self.now))

    def customer(
        self,
        cid: str,
        where: tuple[float, float] = BERLIN,
        consent: tuple[str, ...] = ("email",),
        tz: str = "Europe/Berlin",
        **kw: Any,
    ) -> ev.Customer:
        row = ev.Customer(
            cid,
            f"{cid}@x.test",
            "+4915100000",
            tz,
            where[0],
            where[1],
            kw.pop("preferred", "email"),
            kw.pop("tier", "member"),
            0,
            kw.pop("vip", False),
        )
        self.change("crm.customers", "r", row)
        for ch in consent:
            self.consent(cid, ch, "marketing", True)
        return row

    def consent(self, cid: str, channel: str, purpose: str, granted: bool) -> None:
        self.change("crm.consents", "u", ev.Consent(cid, channel, purpose, granted, self.now))

    def feedback(self, action_id: str, cid: str, channel: str, event: str) -> None:
        self.sim.feed(ev.ChannelFeedback(action_id, cid, channel, event, self.now))

    # ------------------------------------------------------------------ outputs

    def actions(self, cid: str | None = None, journey: str | None = None) -> list[dict[str, Any]]:
        return [
            a
            for a in self.sim.actions
            if (cid is None or a["customer_id"] == cid) and (journey is None or a["journey_id"] == journey)
        ]

    def events(self, cid: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.sim.journey_events
            if (cid is None or e["customer_id"] == cid) and (kind is None or e["event_type"] == kind)
        ]

    def state(self, cid: str) -> Any:
        return self.sim.states.get(cid)
