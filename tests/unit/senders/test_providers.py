"""The providers against the real thing: the SMTP provider talks to an SMTP server (aiosmtpd) on
loopback; the file provider writes real files."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from common.sender_settings import SmtpSettings
from senders.providers import FileProvider, Permanent, SmtpProvider, Transient
from senders.templates import Message


class Mailbox:
    """An SMTP server's handler: keeps what it accepts, refuses addresses it is told to."""

    def __init__(self) -> None:
        self.mails: list[Any] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"sender", b"pw-1")
    return AuthResult(success=ok)


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, Controller]]:
    box = Mailbox()
    controller = Controller(
        box, hostname="127.0.0.1", port=_free_port(), authenticator=_login, auth_require_tls=False
    )
    controller.start()
    yield box, controller
    if controller._thread is not None:  # a test may have stopped it
        controller.stop()


def _message(n: int = 1, address: str = "ann@example.test") -> Message:
    return Message("email", address, "Your cart", "Still there.", f"act-{n}")


def _settings(controller: Controller, **more: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=controller.port, username="sender", password="pw-1", **more)


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
    again = Controller(
        box, hostname="127.0.0.1", port=controller.port, authenticator=_login, auth_require_tls=False
    )
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
