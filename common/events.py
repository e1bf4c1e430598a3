"""The engine's input vocabulary: typed clickstream and change events.

Connectors decode Kafka records into these; the engine and `simulate` consume them. Plain
slotted dataclasses, cheap to build and to pickle into Flink state. Treat them as immutable:
they are not frozen only because a frozen dataclass costs five times as much to construct, and
decoding must run at 100k+ records/s per core. Times are epoch milliseconds (UTC); dates are ISO strings
(`YYYY-MM-DD`), money is float.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Op = Literal["c", "u", "d", "r", "t"]

#: the captured tables of CONTRACTS.md, as `<system>.<table>`
CDC_TABLES = (
    "inventory.products",
    "inventory.stores",
    "inventory.stock_levels",
    "orders.orders",
    "orders.shipments",
    "crm.customers",
    "crm.consents",
    "support.tickets",
    "onboarding.applications",
)
#: their primary-key columns: the Debezium key struct of each topic
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "inventory.products": ("sku",),
    "inventory.stores": ("store_id",),
    "inventory.stock_levels": ("sku", "location_id"),
    "orders.orders": ("order_id",),
    "orders.shipments": ("shipment_id",),
    "crm.customers": ("customer_id",),
    "crm.consents": ("customer_id", "channel", "purpose"),
    "support.tickets": ("ticket_id",),
    "onboarding.applications": ("application_id",),
}
LOYALTY_TIERS = ("member", "silver", "gold", "platinum")
CHANNELS = ("email", "sms", "push", "in_app")
PURPOSES = ("marketing", "transactional")
ORDER_STATUSES = ("placed", "paid", "cancelled", "returned")
SHIPMENT_STATUSES = (
    "created",
    "in_transit",
    "delayed",
    "out_for_delivery",
    "delivered",
    "exception",
    "returned",
)
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("open", "pending", "solved", "closed")
VERIFICATION_STATUSES = ("started", "pending_documents", "under_review", "verified", "rejected")
#: CONTRACTS.md's six, then this project's extensions, written by its sender (senders/): `expired`
#: (past `expires_at`, not sent) and `failed` (the provider kept failing, or a crash left it
#: unknown whether it was sent; never sent again); neither says anything about engagement
FEEDBACK_EVENTS = (
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "complained",
    "unsubscribed",
    "expired",
    "failed",
)


@dataclass(slots=True)
class Item:
    """A product line of a click (`properties` or one entry of `properties.products`)."""

    sku: str
    product_id: str | None = None
    category: str | None = None
    brand: str | None = None
    name: str | None = None
    price: float | None = None
    quantity: int = 1


@dataclass(slots=True)
class SkuFacts:
    """What is known about one SKU right now: the catalogue entry and its stock per location.

    The SKU stage attaches these to cart events and sends them to the customers whose open
    carts hold the SKU when its stock crosses a threshold, so the engine decides on current
    stock without a catalogue of its own.
    """

    sku: str
    name: str | None = None
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    online: int = 0
    #: store_id -> units
    stores: dict[str, int] = field(default_factory=dict)
    #: in-stock SKUs of the same category (their own alternatives left empty), best stocked first;
    #: only sent along when this SKU sold out
    alternatives: tuple[SkuFacts, ...] = ()
    #: the SKU's change count: a customer keeps the newest facts whatever path they came by
    version: int = 0

    @property
    def stock(self) -> int:
        return self.online + sum(self.stores.values())


@dataclass(slots=True)
class ClickEvent:
    """A Segment-style `track` call."""

    message_id: str
    user_id: str | None
    anonymous_id: str | None
    event: str
    ts_ms: int
    cart_id: str | None = None
    order_id: str | None = None
    item: Item | None = None
    products: tuple[Item, ...] = ()
    total: float | None = None
    currency: str | None = None
    channel: str | None = None
    timezone: str | None = None
    #: properties the contract does not name, kept for journeys that branch on them
    extra: dict[str, Any] = field(default_factory=dict)
    #: the stock facts of the SKU it names, as the SKU stage knew them at the click's time
    #: (attached on the way to the customer; see `journeys.catalog.route_click`)
    facts: tuple[SkuFacts, ...] = ()


# ---------------------------------------------------------------- rows of the operational tables


@dataclass(slots=True)
class Product:
    sku: str
    product_id: str | None
    name: str | None
    category: str | None
    brand: str | None
    price: float | None


@dataclass(slots=True)
class Store:
    store_id: str
    name: str | None
    lat: float | None
    lon: float | None


@dataclass(slots=True)
class StockLevel:
    sku: str
    #: `online` or a store_id
    location_id: str
    quantity: int
    updated_at: int | None


@dataclass(slots=True)
class Order:
    order_id: str
    customer_id: str
    cart_id: str | None
    status: str
    total: float | None
    currency: str | None
    created_at: int | None


@dataclass(slots=True)
class Shipment:
    shipment_id: str
    order_id: str
    customer_id: str
    status: str
    #: ISO date
    estimated_delivery: str | None
    delivered_at: int | None
    carrier: str | None


@dataclass(slots=True)
class Customer:
    customer_id: str
    email: str | None
    phone: str | None
    timezone: str | None
    lat: float | None
    lon: float | None
    preferred_channel: str | None
    loyalty_tier: str | None
    loyalty_points: int | None
    vip: bool


@dataclass(slots=True)
class Consent:
    customer_id: str
    channel: str
    purpose: str
    granted: bool
    updated_at: int | None


@dataclass(slots=True)
class Ticket:
    ticket_id: str
    customer_id: str
    priority: str
    status: str
    created_at: int | None


@dataclass(slots=True)
class Application:
    application_id: str
    customer_id: str
    product: str | None
    jurisdiction: str | None
    verification_status: str
    missing_documents: tuple[str, ...]
    updated_at: int | None


Row = Product | Store | StockLevel | Order | Shipment | Customer | Consent | Ticket | Application


@dataclass(slots=True)
class ChangeEvent:
    """One Debezium change of one row of an operational table."""

    #: `<system>.<table>`, e.g. `inventory.stock_levels`
    table: str
    op: Op
    before: Row | None
    after: Row | None
    ts_ms: int
    #: stable identity of this change: topic, partition and offset, or the source position
    event_id: str

    @property
    def row(self) -> Row | None:
        """The row as it is now (after), or as it was before a delete; None for a truncate.

        For a delete under REPLICA IDENTITY DEFAULT, `before` holds only the key columns: the
        other fields are None whatever their type says.
        """
        return self.after if self.after is not None else self.before


@dataclass(slots=True)
class ChannelFeedback:
    action_id: str
    customer_id: str
    channel: str
    event: str
    occurred_at: int


@dataclass(slots=True)
class StockNotice:
    """A SKU in one of this customer's open carts crossed a stock threshold (low, out, back)."""

    customer_id: str
    facts: SkuFacts
    ts_ms: int
    event_id: str


Event = ClickEvent | ChangeEvent | ChannelFeedback
EngineInput = ClickEvent | ChangeEvent | ChannelFeedback | StockNotice
