"""A real SMTP server on loopback (aiosmtpd) for the sender's tests: keeps every mail it
accepts, refuses the addresses it is told to."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "sender", "pw-1"


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[Message] = []
        self.refuse: dict[str, str] = {}
        self._lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.mails.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        with self._lock:
            return [str(m["Message-ID"]) for m in self.mails]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok)


def controller(box: Mailbox, port: int) -> Controller:
    return Controller(box, hostname="127.0.0.1", port=port, authenticator=_login, auth_require_tls=False)


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, Controller]]:
    box = Mailbox()
    c = controller(box, free_port())
    c.start()
    try:
        yield box, c
    finally:
        if c._thread is not None:  # a test may have stopped it
            c.stop()
