from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from common.sender_settings import EngagementRates, SimulatorSettings
from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.avro import Encoder, RegistryClient, load_schema
from tests.kafka_helpers import produce
from tests.smtp_server import PASSWORD, USER, Mailbox, free_port, smtp_server


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, Controller]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def sender_settings(
    settings: Settings, unique: Callable[[str], str], tmp_path: Path, smtp: tuple[Mailbox, Controller]
) -> Settings:
    """Topics of the test's own; email through the loopback SMTP server, the rest to files;
    customers `c-push-*` open and click every push, nobody opens email."""
    _, server = smtp
    topics = settings.topics.renamed(unique)
    s = settings.sender
    sender = s.model_copy(
        update={
            "group_prefix": unique("sender"),
            "ledger_dir": str(tmp_path / "ledger"),
            "outbox_dir": str(tmp_path / "outbox"),
            "metrics_port": free_port(),
            "providers": {"email": "smtp", "sms": "file", "push": "file", "in_app": "file"},
            "smtp": s.smtp.model_copy(
                update={
                    "port": server.port,
                    "username": USER,
                    "password": SecretStr(PASSWORD),
                    "timeout_s": 5,
                }
            ),
            "simulator": SimulatorSettings(
                enabled=True,
                delay_ms=200,
                segments={
                    "c-push-*": {"push": EngagementRates(open=1, click=1), "email": EngagementRates(open=0)},
                    "*": {"email": EngagementRates(open=0), "push": EngagementRates(open=0)},
                },
            ),
            "retry_backoff_ms": 200,
            "commit_interval_ms": 100,
        }
    )
    out = settings.model_copy(update={"topics": topics, "sender": sender})
    ensure_topics(out, [*topics.actions.values(), topics.channel_feedback, topics.dead_letter])
    return out


def action(
    n: int | str,
    channel: str,
    customer: str = "c-1",
    send_after: int | None = None,
    expires_at: int | None = None,
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "action_id": f"act-{n}",
        "customer_id": customer,
        "journey_id": "cart_abandonment",
        "journey_version": 1,
        "step_id": "remind",
        "action_type": "cart_reminder",
        "channel": channel,
        "purpose": "marketing",
        "variant": None,
        "items": [
            {"sku": "S-1", "name": "Kettle", "category": "kitchen", "price": 30.0, "quantity": 1, "stock": 3}
        ],
        "alternatives": [],
        "store": None,
        "urgency": False,
        "attributes": {},
        "reason": "test",
        "trigger_event_id": f"e-{n}",
        "decided_at": now,
        "send_after": send_after if send_after is not None else now,
        "expires_at": expires_at,
    }


def write_actions(settings: Settings, channel: str, actions: Iterable[dict[str, Any] | bytes]) -> int:
    topic = settings.topics.actions[channel]
    encoder = Encoder(RegistryClient(settings.registry.client_config()), topic, load_schema("action"))
    return produce(
        settings,
        topic,
        (
            (a["customer_id"].encode(), encoder.encode(a)) if isinstance(a, dict) else (b"bad", a)
            for a in actions
        ),
    )
