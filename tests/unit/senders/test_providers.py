"""The providers against the real thing: the SMTP provider talks to an SMTP server (aiosmtpd) on
loopback; the file provider writes real files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from common.sender_settings import SmtpSettings
from senders.providers import FileProvider, Permanent, SmtpProvider, Transient
from senders.templates import Message
from tests.smtp_server import PASSWORD, USER, Mailbox, smtp_server
from tests.smtp_server import controller as controller_for


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, Controller]]:
    with smtp_server() as server:
        yield server


def _message(n: int = 1, address: str = "ann@example.test") -> Message:
    return Message("email", address, "Your cart", "Still there.", f"act-{n}")


def _settings(controller: Controller, **more: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=controller.port, username=USER, password=PASSWORD, **more)


def test_a_message_arrives_with_the_action_id_in_its_message_id(smtp) -> None:
    box, controller = smtp
    provider = SmtpProvider(_settings(controller, from_address="shop@example.test"))
    provider.send(_message(1))
    provider.send(_message(2))  # on the same connection
    provider.close()
    assert [m["Message-ID"] for m in box.mails] == ["<act-1@journeys>", "<act-2@journeys>"]
    mail = box.mails[0]
    assert (mail["To"], mail["From"], mail["Subject"]) == (
        "ann@example.test",
        "shop@example.test",
        "Your cart",
    )
    assert mail.get_payload().strip() == "Still there."


def test_a_refused_recipient_is_permanent_and_a_busy_server_transient(smtp) -> None:
    box, controller = smtp
    box.refuse = {"gone@example.test": "550 No such user", "full@example.test": "452 Mailbox full"}
    provider = SmtpProvider(_settings(controller))
    with pytest.raises(Permanent, match="550"):
        provider.send(_message(1, "gone@example.test"))
    with pytest.raises(Transient, match="452"):
        provider.send(_message(2, "full@example.test"))
    provider.send(_message(3))  # the connection is still good
    assert [m["Message-ID"] for m in box.mails] == ["<act-3@journeys>"]


def test_a_server_that_is_away_is_transient_and_the_next_try_reconnects(smtp) -> None:
    box, controller = smtp
    provider = SmtpProvider(_settings(controller))
    provider.send(_message(1))
    controller.stop()
    with pytest.raises(Transient):
        provider.send(_message(2))
    again = controller_for(box, controller.port)
    again.start()
    try:
        provider.send(_message(2))
    finally:
        again.stop()
    assert [m["Message-ID"] for m in box.mails] == ["<act-1@journeys>", "<act-2@journeys>"]


def test_a_wrong_password_is_transient_not_a_bounce(smtp) -> None:
    _, controller = smtp
    provider = SmtpProvider(
        SmtpSettings(host="127.0.0.1", port=controller.port, username="sender", password="x", timeout_s=1)
    )
    # aiosmtpd stalls after a failed login instead of answering 535: either way it is no bounce
    with pytest.raises(Transient, match=f"SMTP server at 127.0.0.1:{controller.port}"):
        provider.send(_message(1))


def test_the_file_provider_writes_one_file_per_action(tmp_path: Path) -> None:
    provider = FileProvider(tmp_path)
    provider.send(_message(1))
    provider.send(_message(1))  # the same action again replaces, never adds
    [written] = list((tmp_path / "email").iterdir())
    assert written.name == "act-1.json"
    assert json.loads(written.read_text())["to"] == "ann@example.test"
