"""The sender against the real broker and registry, with an SMTP server on loopback."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families

from common.settings import Settings
from connectors.admin import lag
from senders.service import Sender
from tests.integration.senders.conftest import action, write_actions
from tests.kafka_helpers import read_committed_avro
from tests.smtp_server import Mailbox


def _wait(what: str, done: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_actions_are_sent_at_their_time_and_their_feedback_written(
    sender_settings: Settings, smtp: tuple[Mailbox, Controller]
) -> None:
    box, _ = smtp
    s = sender_settings
    now = int(time.time() * 1000)
    write_actions(
        s,
        "email",
        [
            action(1, "email"),
            action(2, "email", send_after=now + 4_000),
            action(3, "email", expires_at=now - 60_000),
            b"not an action",
            b'{"customer_id": "c-1", "action_type": "cart_reminder", "send_after": 1}',
        ],
    )
    write_actions(s, "push", [action(4, "push", customer="c-push-1")])
    sender = Sender(s)
    sender.start()
    try:
        _wait("both mails", lambda: len(box.mails) == 2)
        feedback = read_committed_avro(s, s.topics.channel_feedback, expected=6, timeout_s=60)
        port = s.sender.metrics_port
        metrics = _metrics(port)
    finally:
        sender.close()
    assert not sender.errors
    # the mails: one per action, the later one not before its time
    assert box.message_ids() == ["<act-1@journeys>", "<act-2@journeys>"]
    assert box.mails[0]["To"] == "c-1@customers.example"
    assert "Kettle" in box.mails[0].get_payload()
    events = sorted((f["action_id"], f["event"]) for f in feedback)
    assert events == [
        ("act-1", "delivered"),
        ("act-2", "delivered"),
        ("act-3", "expired"),
        ("act-4", "clicked"),
        ("act-4", "delivered"),
        ("act-4", "opened"),
    ]
    at = {(f["action_id"], f["event"]): int(f["occurred_at"].timestamp() * 1000) for f in feedback}
    assert at[("act-2", "delivered")] >= now + 4_000
    assert at[("act-4", "opened")] == at[("act-4", "delivered")] + 200
    pushed = list((Path(s.sender.outbox_dir) / "push").iterdir())
    assert [p.name for p in pushed] == ["act-4.json"]
    # the two records that are not actions, dead-lettered with why
    dead = read_committed_avro(s, s.topics.dead_letter, expected=2)
    assert sorted((d["error_class"], d["stage"]) for d in dead) == [
        ("MalformedJson", "sender"),
        ("MissingField", "sender"),
    ]

    # the metrics say the same
    def m(name: str, **labels: str) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    assert m("journey_sender_messages_total", channel="email", outcome="delivered") == 2
    assert m("journey_sender_messages_total", channel="email", outcome="expired") == 1
    assert m("journey_sender_messages_total", channel="push", outcome="delivered") == 1
    assert m("journey_sender_feedback_total", channel="push", event="opened") == 1
    assert m("journey_sender_dead_letters_total", channel="email", error_class="MalformedJson") == 1
    assert m("journey_sender_send_delay_seconds_count", channel="email") == 2
    assert m("journey_sender_failures_total", channel="email", reason="expired") == 1
    # everything read is committed: a restarted sender starts after it
    for ch in ("email", "push"):
        read, end = lag(s, f"{s.sender.group_prefix}.{ch}", [s.topics.actions[ch]])
        assert read == end


def test_a_refused_address_bounces_and_the_next_one_goes_out(
    sender_settings: Settings, smtp: tuple[Mailbox, Controller]
) -> None:
    box, _ = smtp
    box.refuse = {"c-gone@customers.example": "550 No such user"}
    s = sender_settings.model_copy(
        update={"sender": sender_settings.sender.model_copy(update={"channels": ["email"]})}
    )
    write_actions(s, "email", [action(1, "email", customer="c-gone"), action(2, "email", customer="c-2")])
    sender = Sender(s)
    sender.start()
    try:
        feedback = read_committed_avro(s, s.topics.channel_feedback, expected=2)
    finally:
        sender.close()
    got = {f["action_id"]: (f["event"], f["detail"]) for f in feedback}
    assert got == {"act-1": ("bounced", "SMTP 550: No such user"), "act-2": ("delivered", None)}
    assert box.message_ids() == ["<act-2@journeys>"]
    assert Counter(f["action_id"] for f in feedback) == Counter({"act-1": 1, "act-2": 1})
