"""Where a message leaves the sender: printed, written to a file, or handed to an SMTP server.

A provider raises `Transient` for what may work when tried again (a connection refused, an SMTP
4xx) and `Permanent` for what never will (an SMTP 5xx for the recipient, no address): the sender
retries the first with backoff and reports the second as `bounced`.
"""

from __future__ import annotations

import contextlib
import json
import os
import smtplib
import ssl
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, TextIO

from common.sender_settings import SmtpSettings
from senders.templates import Message


class Transient(Exception):
    """Try again later."""


class Permanent(Exception):
    """It will never go out to this address: bounced."""


class Provider(Protocol):
    name: str

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


class ConsoleProvider:
    name = "console"

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout

    def send(self, message: Message) -> None:
        subject = f" | {message.subject}" if message.subject else ""
        body = message.body.replace("\n", " / ")
        print(
            f"[send {message.channel:<6}] to {message.address}{subject} | {body}", file=self._out, flush=True
        )

    def close(self) -> None:
        pass


class FileProvider:
    """One JSON file per message, named by its action_id: a second write of the same action
    would replace the first, so even this provider cannot show a message twice."""

    name = "file"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: Message) -> None:
        path = self.folder / message.channel / f"{message.action_id}.json"
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        doc = {
            "action_id": message.action_id,
            "channel": message.channel,
            "to": message.address,
            "subject": message.subject,
            "body": message.body,
        }
        try:
            tmp.write_text(json.dumps(doc, ensure_ascii=False))
            os.replace(tmp, path)
        except OSError as e:
            raise Transient(f"cannot write {path}: {e.strerror}") from None

    def close(self) -> None:
        pass


class SmtpProvider:
    """Email through an SMTP server, one connection kept open between messages.

    The action_id goes into the Message-ID (`<action_id@journeys>`), so that a mail system that
    dedupes on it, and any reader, can tell one action's message from another's."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            conn: smtplib.SMTP
            if s.tls == "ssl":
                conn = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context()
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
                if s.tls == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            if s.username:
                conn.login(s.username, s.password.get_secret_value() if s.password else "")
        except smtplib.SMTPAuthenticationError as e:
            # nothing will go out until the credentials are fixed; not the recipient's fault
            raise Transient(
                f"the SMTP server at {s.host}:{s.port} refused the login: {e.smtp_code}"
            ) from None
        except (OSError, smtplib.SMTPException) as e:
            raise Transient(f"cannot reach the SMTP server at {s.host}:{s.port}: {e}") from None
        return conn

    def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = self.settings.from_address
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{message.action_id}@journeys>"
        mail.set_content(message.body)
        if self._conn is None:
            self._conn = self._connect()
        try:
            refused = self._conn.send_message(mail)
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            self._raise_for(code, text)
        except smtplib.SMTPResponseException as e:
            self._drop()
            self._raise_for(e.smtp_code, e.smtp_error)
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as e:
            self._drop()
            raise Transient(f"the SMTP connection broke: {e}") from None
        if refused:
            code, text = next(iter(refused.values()))
            self._raise_for(code, text)

    @staticmethod
    def _raise_for(code: int, text: bytes | str) -> None:
        said = text.decode(errors="replace") if isinstance(text, bytes) else text
        if 500 <= code < 600:
            raise Permanent(f"SMTP {code}: {said}")
        raise Transient(f"SMTP {code}: {said}")

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._conn.quit()
            self._conn = None


def provider_for(kind: str, outbox_dir: Path, smtp: SmtpSettings) -> Provider:
    if kind == "file":
        return FileProvider(outbox_dir)
    if kind == "smtp":
        return SmtpProvider(smtp)
    return ConsoleProvider()
