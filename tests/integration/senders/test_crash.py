"""Never twice: `journeyctl send` killed (-9) in the middle of a batch and started again; every
mail the SMTP server got, it got once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller

from common.settings import REPO, Settings
from tests.integration.senders.conftest import action, write_actions
from tests.kafka_helpers import read_committed_avro
from tests.smtp_server import Mailbox

ACTIONS = 1_500


def _start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.environment()}
    return subprocess.Popen(
        [sys.executable, "-m", "journeyctl.cli", "send", "--channel", "email"],
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_a_killed_sender_sends_nothing_twice(
    sender_settings: Settings, smtp: tuple[Mailbox, Controller], tmp_path: Path
) -> None:
    box, _ = smtp
    s = sender_settings.model_copy(
        update={
            "sender": sender_settings.sender.model_copy(update={"channels": ["email"], "metrics_port": 0})
        }
    )
    write_actions(s, "email", [action(n, "email", customer=f"c-{n % 97}") for n in range(ACTIONS)])
    log = tmp_path / "send.log"
    first = _start(s, log)
    deadline = time.monotonic() + 90
    while len(box.mails) < 300:
        assert first.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"only {len(box.mails)} mails in 90 s:\n{log.read_text()}"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    at_kill = len(box.mails)
    second = _start(s, log)
    try:
        feedback = read_committed_avro(s, s.topics.channel_feedback, expected=ACTIONS, timeout_s=120)
    finally:
        second.terminate()
        second.wait(30)
    assert at_kill < ACTIONS, "the sender was killed after it had sent everything: nothing was tested"
    sent = Counter(box.message_ids())
    assert [mid for mid, n in sent.items() if n > 1] == []
    # every action has one outcome; a copy of the same record may come from the moment between
    # a Kafka commit and the ledger's note of it (the job dedupes those); different outcomes never
    outcomes: dict[str, set[tuple[str, int]]] = {}
    for f in feedback:
        outcomes.setdefault(f["action_id"], set()).add((f["event"], f["occurred_at"]))
    assert len(outcomes) == ACTIONS
    assert [a for a, o in outcomes.items() if len(o) > 1] == []
    copies = len(feedback) - ACTIONS
    assert copies <= 1, f"{copies} feedback records written twice"
    # what was not delivered is what the kill left in the provider's hands: never sent again
    not_delivered = {a: o for a, o in outcomes.items() if next(iter(o))[0] != "delivered"}
    assert len(not_delivered) <= 1, not_delivered
    assert set(sent) | {f"<{a}@journeys>" for a in not_delivered} >= {
        f"<act-{n}@journeys>" for n in range(ACTIONS)
    }
