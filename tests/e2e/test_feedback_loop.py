"""The loop closed: the journey job decides, the channel sender sends and writes what the
simulated customers do with each message to `channel-feedback`, and the job's next choice of
channel follows it. Everything real: the broker, the registry, the job on a MiniCluster, the
sender's Kafka transactions.

Two test journeys act at once on every click: `ping` (transactional, so the marketing cap of two
a day does not end the test) on `Product Viewed`, `promo` (marketing) on `Product Added`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from common.sender_settings import EngagementRates, SimulatorSettings
from common.settings import DeliveryMode, Settings
from connectors.admin import ensure_topics
from connectors.readback import OutputReader, output_decoder
from connectors.records import KafkaRecord
from jobs.journey import topics
from journeyctl.replay import replay
from senders.service import Sender
from tests.journey_checks import own_topics, start_journey
from tests.smtp_server import free_port

pytestmark = pytest.mark.e2e

JOURNEYS = {
    "ping.yaml": """
id: ping
version: 1
name: A transactional message on every view
entry: {click: Product Viewed}
key: customer
reentry: {policy: cooldown, cooldown: 1s}
steps:
  - id: send
    action: {type: ping, purpose: transactional, reason: "viewed"}
    next: done
  - id: done
    exit: sent
""",
    "promo.yaml": """
id: promo
version: 1
name: A marketing message on every add
entry: {click: Product Added}
key: customer
reentry: {policy: cooldown, cooldown: 1s}
steps:
  - id: send
    action: {type: promo, purpose: marketing, reason: "added"}
    next: done
  - id: done
    exit: sent
""",
}


def _daytime_zone() -> str:
    # quiet hours defer marketing between 21:00 and 08:00 local: a zone where it is noon now
    offset = (12 - dt.datetime.now(dt.UTC).hour + 12) % 24 - 12  # -12 .. 11
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


@pytest.fixture
def loop(settings: Settings, unique: Callable[[str], str], tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """The job and the sender running on topics of the test's own; the run's customer tag."""
    definitions = tmp_path / "journeys"
    definitions.mkdir()
    for name, text in JOURNEYS.items():
        (definitions / name).write_text(text)
    templates = tmp_path / "templates"
    templates.mkdir()
    for kind in ("ping", "promo"):
        (templates / f"{kind}.j2").write_text(
            f"{{% block body %}}{kind} for {{{{ customer_id }}}}{{% endblock %}}"
        )
    tag = uuid.uuid4().hex[:6]
    s = own_topics(settings, unique)
    s = s.model_copy(
        update={
            "journeys": s.journeys.model_copy(
                update={"definitions": str(definitions), "out_of_orderness_ms": 100}
            ),
            "sink": s.sink.model_copy(update={"delivery": DeliveryMode.AT_LEAST_ONCE}),
            "sender": s.sender.model_copy(
                update={
                    "group_prefix": unique("sender"),
                    "templates": str(templates),
                    "ledger_dir": str(tmp_path / "ledger"),
                    "outbox_dir": str(tmp_path / "outbox"),
                    "providers": {"email": "file", "sms": "file", "push": "file", "in_app": "file"},
                    "metrics_port": free_port(),
                    "commit_interval_ms": 100,
                    "simulator": SimulatorSettings(
                        enabled=True,
                        delay_ms=200,
                        segments={
                            # opens every push, ignores every email
                            f"pusher-{tag}": {
                                "push": EngagementRates(open=1),
                                "email": EngagementRates(open=0),
                            },
                            # opens every email
                            f"reader-{tag}": {"email": EngagementRates(open=1)},
                            # unsubscribes from push at the first message
                            f"leaver-{tag}": {"push": EngagementRates(unsubscribe=1)},
                        },
                    ),
                }
            ),
        }
    )
    ensure_topics(s, topics(s), partitions=2)
    job = start_journey(s, "feedback-loop")
    sender = Sender(s)
    sender.start()
    try:
        yield s, tag
    finally:
        sender.close()
        job.cancel().result()
    assert not sender.errors


def _cdc(topic: str, key: dict[str, Any], after: dict[str, Any]) -> KafkaRecord:
    now = int(time.time() * 1000)
    table = topic.split(".")[-1]
    value = {
        "before": None,
        "after": after,
        "source": {
            "connector": "postgresql",
            "name": "crm",
            "ts_ms": now,
            "db": "crm",
            "schema": "public",
            "table": table,
        },
        "op": "c",
        "ts_ms": now,
    }
    return KafkaRecord(topic, 0, 0, -1, json.dumps(key).encode(), json.dumps(value).encode())


def _customer(customer_id: str, preferred: str, zone: str) -> list[KafkaRecord]:
    row = {
        "customer_id": customer_id,
        "email": f"{customer_id}@example.test",
        "phone": None,
        "timezone": zone,
        "lat": 52.5,
        "lon": 13.4,
        "preferred_channel": preferred,
        "loyalty_tier": "member",
        "loyalty_points": 0,
        "vip": False,
    }
    consents = [
        _cdc(
            "crm.public.consents",
            {"customer_id": customer_id, "channel": ch, "purpose": "marketing"},
            {
                "customer_id": customer_id,
                "channel": ch,
                "purpose": "marketing",
                "granted": True,
                "updated_at": "2026-11-01T08:00:00Z",
            },
        )
        for ch in ("email", "push")
    ]
    return [_cdc("crm.public.customers", {"customer_id": customer_id}, row), *consents]


def _click(customer_id: str, event: str, n: int) -> KafkaRecord:
    value = {
        "type": "track",
        "messageId": f"{customer_id}-{n}",
        "userId": customer_id,
        "event": event,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "properties": {
            "cart_id": f"cart-{customer_id}-{n}",
            "product_id": "p-1",
            "sku": "SKU-1",
            "category": "Jackets",
            "name": "Shell jacket",
            "price": 129.0,
            "quantity": 1,
        },
    }
    return KafkaRecord("clickstream", 0, 0, -1, customer_id.encode(), json.dumps(value).encode())


class Watch:
    """Actions as they come, and the feedback the sender commits for them."""

    def __init__(self, s: Settings) -> None:
        self.s = s
        self.actions = OutputReader(s)
        self.feedback = Consumer(
            {
                **s.kafka.librdkafka_properties(),
                "group.id": f"watch-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        self.feedback.subscribe([s.topics.channel_feedback])
        self.decode = output_decoder(s)
        self.seen: set[tuple[str, str]] = set()

    def act(
        self, customers: list[str], event: str, n: int, timeout_s: float = 60
    ) -> dict[str, dict[str, Any]]:
        """One click each; each customer's action (exactly one)."""
        replay(self.s, [_click(c, event, n) for c in customers])
        got: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while len(got) < len(customers):
            assert time.monotonic() < deadline, f"no action for {set(customers) - set(got)} in {timeout_s} s"
            out = self.actions.poll(0.2)
            if out is not None and out[0]:
                action = out[1]
                assert action["customer_id"] not in got, f"a second action: {action}"
                got[action["customer_id"]] = action
        return got

    def await_feedback(self, want: set[tuple[str, str]], timeout_s: float = 60) -> None:
        """Until every (action_id, event) is in channel-feedback, committed; then a second more,
        for the job to read it before the next click."""
        deadline = time.monotonic() + timeout_s
        while not want <= self.seen:
            assert time.monotonic() < deadline, f"feedback missing: {sorted(want - self.seen)}"
            msg = self.feedback.poll(0.2)
            if msg is not None and msg.error() is None:
                f = self.decode(msg.topic(), msg.value())
                self.seen.add((f["action_id"], f["event"]))
        time.sleep(1.0)


#: what the simulated customers do with a message on a channel
ENGAGES = {("pusher", "push"): "opened", ("reader", "email"): "opened", ("leaver", "push"): "unsubscribed"}


def _expected(tag: str, actions: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    want = set()
    for customer, a in actions.items():
        want.add((a["action_id"], "delivered"))
        then = ENGAGES.get((customer.removesuffix(f"-{tag}"), a["channel"]))
        if then:
            want.add((a["action_id"], then))
    return want


def test_channel_choice_follows_what_customers_open_and_unsubscribe_from(loop: tuple[Settings, str]) -> None:
    s, tag = loop
    pusher, reader, leaver = f"pusher-{tag}", f"reader-{tag}", f"leaver-{tag}"
    zone = _daytime_zone()
    replay(
        s,
        [
            *_customer(pusher, "email", zone),
            *_customer(reader, "email", zone),
            *_customer(leaver, "push", zone),
        ],
    )
    time.sleep(2.0)
    watch = Watch(s)
    seen: dict[str, list[str]] = {pusher: [], reader: []}
    for n in range(5):
        actions = watch.act([pusher, reader], "Product Viewed", n)
        for c, a in actions.items():
            seen[c].append(a["channel"])
        watch.await_feedback(_expected(tag, actions))
    # ignored emails bring email below push for the customer who prefers email (two or three of
    # them: the smoothed scores tie after two); an opened push keeps push first from then on; the
    # one who reads email stays on email
    flip = seen[pusher].index("push")
    assert seen[pusher] == ["email"] * flip + ["push"] * (5 - flip) and flip in (2, 3), seen
    assert seen[reader] == ["email"] * 5, seen
    # the leaver prefers push, and unsubscribes from it at the first marketing message
    first = watch.act([leaver], "Product Added", 100)
    watch.await_feedback(_expected(tag, first))
    second = watch.act([leaver], "Product Added", 101)
    assert (first[leaver]["channel"], second[leaver]["channel"]) == ("push", "email")
