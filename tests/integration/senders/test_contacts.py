"""Addresses from the CRM database, as a channel team looks them up."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from common.settings import Settings
from senders.contacts import CrmContacts
from senders.providers import Permanent


def test_email_and_phone_come_from_crm_customers(settings: Settings) -> None:
    ann, bob = f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(settings.sources.dsn("crm"), autocommit=True) as db:
        db.execute(
            "INSERT INTO customers (customer_id, email, phone, vip)"
            " VALUES (%s, %s, %s, false), (%s, NULL, NULL, false)",
            (ann, f"{ann}@example.test", "+4915100000", bob),
        )
    contacts = CrmContacts(settings)
    try:
        assert contacts.address(ann, "email") == f"{ann}@example.test"
        assert contacts.address(ann, "sms") == "+4915100000"
        assert contacts.address(ann, "push") == ann  # the app knows its customers by id
        with pytest.raises(Permanent, match="no email"):
            contacts.address(bob, "email")
        with pytest.raises(Permanent, match="no phone"):
            contacts.address(f"c-nobody-{uuid.uuid4().hex[:6]}", "sms")
    finally:
        contacts.close()
