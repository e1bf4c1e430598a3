"""A customer's address on a channel: from a pattern (the demo's made-up addresses) or from the
CRM's `customers` table (email and phone), as a channel team would look it up."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from common.settings import Settings
from senders.providers import Permanent, Transient


class Contacts(Protocol):
    def address(self, customer_id: str, channel: str) -> str: ...

    def close(self) -> None: ...


class PatternContacts:
    def __init__(self, patterns: dict[str, str]) -> None:
        self._patterns = patterns

    def address(self, customer_id: str, channel: str) -> str:
        pattern = self._patterns.get(channel)
        if not pattern:
            raise Permanent(f"no address pattern for {channel} (JOURNEY_SENDER__ADDRESS_PATTERNS)")
        return pattern.format(customer_id=customer_id)

    def close(self) -> None:
        pass


class CrmContacts:
    """Email (email channel) and phone (sms) from crm.customers; push and in-app go to the
    customer_id, which the app knows. Looked up once per customer and kept (most recent 10,000):
    an address that changes is seen after the sender restarts or the customer drops out."""

    _COLUMN = {"email": "email", "sms": "phone"}

    def __init__(self, settings: Settings, keep: int = 10_000) -> None:
        import psycopg

        self._dsn = settings.sources.dsn("crm")
        self._conn: psycopg.Connection[tuple[str | None, str | None]] | None = None
        self._cache: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self._keep = keep

    def _row(self, customer_id: str) -> tuple[str | None, str | None]:
        hit = self._cache.get(customer_id)
        if hit is not None:
            self._cache.move_to_end(customer_id)
            return hit
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._dsn, autocommit=True)
            row = self._conn.execute(
                "SELECT email, phone FROM customers WHERE customer_id = %s", (customer_id,)
            ).fetchone()
        except psycopg.OperationalError as e:
            self._conn = None
            raise Transient(f"cannot read crm.customers: {e}") from None
        found = (row[0], row[1]) if row else (None, None)
        self._cache[customer_id] = found
        if len(self._cache) > self._keep:
            self._cache.popitem(last=False)
        return found

    def address(self, customer_id: str, channel: str) -> str:
        column = self._COLUMN.get(channel)
        if column is None:
            return customer_id
        email, phone = self._row(customer_id)
        found = email if column == "email" else phone
        if not found:
            raise Permanent(f"crm.customers has no {column} for {customer_id}")
        return found

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def contacts_for(settings: Settings) -> Contacts:
    if settings.sender.contacts == "crm":
        return CrmContacts(settings)
    return PatternContacts(settings.sender.address_patterns)
