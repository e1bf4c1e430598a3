"""The sender's logic with a fake clock, a scripted provider and a real ledger file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.sender_settings import EngagementRates, SenderSettings, SimulatorSettings
from senders.contacts import PatternContacts
from senders.ledger import Ledger
from senders.providers import Permanent, Transient
from senders.templates import Message, Templates
from senders.worker import ChannelWorker


class ScriptedProvider:
    """Answers each call with the next scripted outcome (None: accepted)."""

    name = "scripted"

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Message] = []
        self.calls = 0

    def send(self, message: Message) -> None:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(message)

    def close(self) -> None:
        pass


@pytest.fixture
def templates(tmp_path: Path) -> Templates:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "nudge.j2").write_text(
        "{% block subject %}Hi{% endblock %}{% block body %}for {{ customer_id }}{% endblock %}"
    )
    return Templates(folder)


def _action(n: int = 1, send_after: int = 1_000, expires_at: int | None = None) -> dict[str, Any]:
    return {
        "action_id": f"a-{n}",
        "customer_id": f"c-{n}",
        "action_type": "nudge",
        "channel": "push",
        "send_after": send_after,
        "expires_at": expires_at,
        "attributes": {},
    }


def _worker(
    tmp_path: Path, templates: Templates, provider: ScriptedProvider, **settings: Any
) -> ChannelWorker:
    return ChannelWorker(
        "push",
        SenderSettings(**settings),
        templates,
        provider,
        Ledger(tmp_path / "ledger.sqlite"),
        PatternContacts({"push": "device-{customer_id}"}),
    )


def _events(feedback: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(f["action_id"], f["event"], f["occurred_at"]) for f in feedback]


def test_an_action_waits_for_its_send_after_without_holding_up_the_others(tmp_path, templates) -> None:
    provider = ScriptedProvider()
    w = _worker(tmp_path, templates, provider)
    w.take(0, 0, _action(1, send_after=5_000))
    w.take(0, 1, _action(2, send_after=1_000))
    assert w.step(999) == []
    assert _events(w.step(1_000)) == [("a-2", "delivered", 1_000)]
    assert [m.address for m in provider.sent] == ["device-c-2"]
    assert w.outbox.committable() == {0: 0}  # a-1 still waits at offset 0
    assert _events(w.step(5_000)) == [("a-1", "delivered", 5_000)]
    assert w.outbox.committable() == {0: 2}
    assert (provider.sent[1].subject, provider.sent[1].body) == ("Hi", "for c-1")


def test_an_expired_action_is_dropped_with_feedback_saying_so(tmp_path, templates) -> None:
    provider = ScriptedProvider()
    w = _worker(tmp_path, templates, provider)
    w.take(0, 0, _action(1, send_after=1_000, expires_at=2_000))
    [fb] = w.step(62_000)
    assert (fb["event"], fb["detail"]) == ("expired", "past expires_at by 60 s")
    assert provider.calls == 0


def test_transient_failures_are_retried_with_backoff_then_delivered(tmp_path, templates) -> None:
    provider = ScriptedProvider(Transient("SMTP 421"), Transient("SMTP 421"))
    w = _worker(tmp_path, templates, provider, retry_backoff_ms=1_000)
    w.take(0, 0, _action(1))
    assert w.step(1_000) == []  # first try fails: again at 2,000
    assert w.step(1_999) == []
    assert w.step(2_000) == []  # second fails: again at 4,000 (the delay doubles)
    assert w.step(3_999) == []
    assert _events(w.step(4_000)) == [("a-1", "delivered", 4_000)]
    assert provider.calls == 3


def test_a_provider_that_keeps_failing_ends_in_failed_and_a_refusal_in_bounced(tmp_path, templates) -> None:
    provider = ScriptedProvider(Transient("down"), Transient("down"), Permanent("SMTP 550: no such user"))
    w = _worker(tmp_path, templates, provider, retry_attempts=1, retry_backoff_ms=10)
    w.take(0, 0, _action(1))
    w.take(0, 1, _action(2, send_after=100_000))
    assert w.step(1_000) == []
    [failed] = w.step(1_010)
    assert (failed["event"], failed["detail"]) == ("failed", "after 2 attempts: down")
    [bounced] = w.step(100_000)
    assert (bounced["action_id"], bounced["event"], bounced["detail"]) == (
        "a-2",
        "bounced",
        "SMTP 550: no such user",
    )


def test_an_action_read_again_after_a_crash_is_not_sent_again(tmp_path, templates) -> None:
    first = ScriptedProvider()
    w = _worker(tmp_path, templates, first)
    w.take(0, 0, _action(1))
    assert _events(w.step(1_000)) == [("a-1", "delivered", 1_000)]
    # the process dies before its Kafka transaction commits: the action is read again
    second = ScriptedProvider()
    again = _worker(tmp_path, templates, second)
    again.take(0, 0, _action(1))
    assert _events(again.step(9_000)) == [("a-1", "delivered", 1_000)]  # the same feedback, written again
    assert second.calls == 0
    again.committed()  # now it is in Kafka: a third reading writes nothing
    third = _worker(tmp_path, templates, ScriptedProvider())
    third.take(0, 0, _action(1))
    assert third.step(10_000) == []
    assert third.outbox.committable() == {0: 1}
    assert [m.action_id for m in first.sent] == ["a-1"]


def test_a_crash_during_the_provider_call_is_never_sent_again(tmp_path, templates) -> None:
    Ledger(tmp_path / "ledger.sqlite").record("a-1", "sending", 1_000)  # what the crash left
    provider = ScriptedProvider()
    w = _worker(tmp_path, templates, provider)
    w.take(0, 0, _action(1))
    [fb] = w.step(5_000)
    assert fb["event"] == "failed" and "not sent again" in fb["detail"]
    assert provider.calls == 0


def test_simulated_customers_open_and_click_after_the_delivery(tmp_path, templates) -> None:
    sim = SimulatorSettings(
        enabled=True, delay_ms=500, segments={"*": {"push": EngagementRates(open=1, click=1)}}
    )
    w = _worker(tmp_path, templates, ScriptedProvider(), simulator=sim)
    w.take(0, 0, _action(1))
    assert _events(w.step(1_000)) == [("a-1", "delivered", 1_000)]
    assert w.next_due_ms() == 1_500
    assert _events(w.step(2_000)) == [("a-1", "opened", 1_500), ("a-1", "clicked", 2_000)]


def test_an_action_that_is_not_an_action_is_done_as_it_is_read(tmp_path, templates) -> None:
    w = _worker(tmp_path, templates, ScriptedProvider())
    w.skip(1, 7)
    assert w.outbox.committable() == {1: 8}
