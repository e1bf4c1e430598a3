"""What the journey job must give for a recorded file: exactly what `simulate` decides over it.

Shared by the tests that run the job (MiniCluster, savepoint and restore, standalone cluster),
so each says only how it runs the job.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pyflink.common import JobClient

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.records import KafkaRecord
from jobs.environment import create_environment
from jobs.journey import build_pipeline, kafka_connectors, topics
from jobs.simulate import Simulation, parse_records
from journeyctl.replay import replay
from journeyctl.sample_data import shop_day
from journeyctl.sample_night import PATHS, WELCOME_CHANNEL
from journeys.definition import Journey
from journeys.loader import load_dir
from tests.kafka_helpers import read_committed_avro

Record = dict[str, Any]
ACTION_FIELDS = ("customer_id", "journey_id", "journey_version", "action_type", "channel", "action_id")
EVENT_FIELDS = ("customer_id", "journey_id", "journey_version", "event_type", "step_id", "reason", "event_id")


def own_topics(settings: Settings, unique: Callable[[str], str]) -> Settings:
    """Every input and output topic renamed for one test."""
    return settings.model_copy(update={"topics": settings.topics.renamed(unique)})


#: a cut through the shop day after the carts were abandoned (09:00-09:04), before their waits
#: are due (from 09:30): the first part leaves waits open
CUT = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def split_at(lines: list[str], cut: datetime) -> tuple[list[KafkaRecord], list[KafkaRecord]]:
    """A recorded file's records before `cut` and from it, each part in journey-time order."""

    def when(line: str) -> datetime:
        value = json.loads(line)["value"]
        ts = value.get("timestamp") or datetime.fromtimestamp(value["ts_ms"] / 1000, tz=UTC).isoformat()
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))

    lines = sorted(lines, key=when)  # simulate reads in file order; the job in journey-time order
    first = [line for line in lines if when(line) < cut]
    rest = [line for line in lines if when(line) >= cut]
    assert first and rest and len(first) + len(rest) == len(lines)
    return list(parse_records(first)), list(parse_records(rest))


def start_journey(settings: Settings, name: str, restore_from: str | Path | None = None) -> JobClient:
    """The journey job, unbounded, on a MiniCluster of this process, restored from a savepoint
    or checkpoint if given; its client (cancel or stop it)."""
    flink = settings.flink.model_copy(update={"restore_from": str(restore_from or "")})
    env = create_environment(settings.model_copy(update={"flink": flink}))
    sources, sinks = kafka_connectors(settings, bounded=False)
    build_pipeline(env, sources, sinks, settings)
    return env.execute_async(name)


def shop_day_in_kafka(
    settings: Settings, unique: Callable[[str], str], lines: list[str] | None = None
) -> tuple[Settings, Simulation]:
    """The recorded shop day (or other recorded lines) replayed into topics of the test's own
    (stamped with its own time), the settings that name them, and what `simulate` decides over
    the same records."""
    s = own_topics(settings, unique)
    records = list(parse_records(shop_day() if lines is None else lines))
    sim = simulated(records)
    ensure_topics(s, topics(s), partitions=2)
    replay(s, records)
    return s, sim


def simulated(records: Iterable[Any], journeys: list[Journey] | None = None) -> Simulation:
    """`simulate` over the records, run on until every wait has fired (as a bounded job ends)."""
    sim = Simulation(journeys if journeys is not None else load_dir())
    sim.run(records, drain_ms=365 * 86_400_000)
    assert sim.actions, "the records must make the journeys act"
    return sim


def read_outputs(
    settings: Settings, want_actions: list[Record], want_events: list[Record], timeout_s: float = 120
) -> tuple[list[Record], list[Record]]:
    """Every committed action and journey event, waiting for as many as expected (and then a
    little more, so that duplicates would be seen); each action on its channel's topic."""
    actions: list[Record] = []
    expected_by_topic = Counter(settings.topics.actions[a["channel"]] for a in want_actions)
    for channel, topic in settings.topics.actions.items():
        got = read_committed_avro(settings, topic, expected_by_topic[topic], timeout_s=timeout_s)
        assert all(a["channel"] == channel for a in got), f"an action on {topic} is not for {channel}"
        actions += got
    events = read_committed_avro(
        settings, settings.topics.journey_events, len(want_events), timeout_s=timeout_s
    )
    return actions, events


def differences(got: list[Record], want: list[Record], fields: tuple[str, ...]) -> dict[str, list[Any]]:
    """What is missing from `got` and what is extra in it (a duplicate counts as extra)."""
    g = Counter(tuple(r[f] for f in fields) for r in got)
    w = Counter(tuple(r[f] for f in fields) for r in want)
    return {"missing": sorted((w - g).elements()), "extra": sorted((g - w).elements())}


NO_DIFFERENCE: dict[str, list[Any]] = {"missing": [], "extra": []}


def assert_same_decisions(
    actions: list[Record], events: list[Record], want_actions: list[Record], want_events: list[Record]
) -> None:
    """Nothing lost, nothing doubled: the same decisions with the same ids, one record each."""
    a = differences(actions, want_actions, ACTION_FIELDS)
    e = differences(events, want_events, EVENT_FIELDS)
    if a != NO_DIFFERENCE or e != NO_DIFFERENCE:
        # the journey events of the customers concerned, both ways: they say which branch differed
        who = {r[0] for d in (a, e) for side in d.values() for r in side}
        story = {
            cid: {
                "got": [_line(x) for x in events if x["customer_id"] == cid],
                "want": [_line(x) for x in want_events if x["customer_id"] == cid],
            }
            for cid in sorted(who)
        }
        raise AssertionError(f"actions: {a}\njourney events: {e}\nstories: {story}")


def _line(e: Record) -> str:
    fields = ("journey_id", "event_type", "step_id", "reason", "channel")
    return " ".join([str(_ms(e["occurred_at"])), *(str(e[f]) for f in fields)])


def assert_cart_paths(actions: list[Record], events: list[Record]) -> None:
    """The five paths of SCENARIOS.md section 1, as the shop day's carts cart-1 .. cart-5 take
    them (their first touch; later ones depend on stock by then)."""
    first_touch: dict[str, str] = {}
    exits: dict[str, str] = {}
    for e in sorted(events, key=lambda e: e["occurred_at"]):
        if e["journey_id"] != "cart_abandonment":
            continue
        if e["event_type"] == "action":
            first_touch.setdefault(e["instance_key"], e["action_type"])
        elif e["event_type"] == "exited":
            exits[e["instance_key"]] = e["reason"]
    # in stock at the nearest store / low stock / sold out with alternatives
    assert first_touch.get("cart-1") == "reserve_and_collect"
    assert first_touch.get("cart-2") == "cart_reminder"
    assert first_touch.get("cart-3") == "cart_alternatives"
    # bought during the wait; the only item sold out during the wait, with nothing to offer
    assert "cart-4" not in first_touch and exits.get("cart-4") == "purchased"
    assert "cart-5" not in first_touch and exits.get("cart-5") == "no_alternative_in_stock"
    # every action the journey events name went out
    sent = {a["action_id"] for a in actions}
    assert all(e["action_id"] in sent for e in events if e["event_type"] == "action")


def assert_night_paths(actions: list[Record], events: list[Record]) -> None:
    """What the shop's nights (journeyctl.sample_night) must give each customer: deferred messages
    sent at 08:00 after their instance ended, or cancelled; deleted consents not used; consent rows
    with a `timestamp` updated_at used."""
    for cid, want in PATHS.items():
        sent = sorted((a["action_type"], _ms(a["send_after"])) for a in actions if a["customer_id"] == cid)
        assert sent == sorted(want["sent"]), f"{cid}: sent {sent}"
        ends = [
            (e["event_type"], e["reason"])
            for e in sorted(events, key=lambda e: (_ms(e["occurred_at"]), e["event_id"]))
            if e["customer_id"] == cid and e["event_type"] in ("action", "suppressed") and e["action_id"]
        ]
        if "ends" in want:
            assert ends == want["ends"], f"{cid}: {ends}"
    cancelled = {
        e["customer_id"]: e["attributes"].get("cancelled_by")
        for e in events
        if e["event_type"] == "suppressed" and e["reason"] == "cancelled"
    }
    assert cancelled == {"n-2": "status_changed", "n-4": "returned", "n-6": "purchased"}, cancelled
    first_welcome = {}
    for a in sorted(actions, key=lambda a: _ms(a["send_after"])):
        if a["action_type"] == "welcome":
            first_welcome.setdefault(a["customer_id"], a["channel"])
    assert first_welcome == WELCOME_CHANNEL, first_welcome


def _ms(t: int | datetime) -> int:
    """Epoch ms of a time as `simulate` (int) or an Avro reader (datetime) gives it."""
    return t if isinstance(t, int) else (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def flush_metrics(settings: Settings, per_round: int = 40) -> int:
    """Clicks of new customers, in two rounds 1.5 s apart, that reach every subtask of a running
    journey job and decide nothing (each a late single view): the stages hand their counts to
    Flink at most a second apart, on their next record, so the first round brings in what came
    before it and the second the first round. How many clicks were written."""
    written = 0
    for _ in range(2):
        time.sleep(1.5)
        replay(settings, [_flush_click(settings, written + n) for n in range(per_round)])
        written += per_round
    return written


def _flush_click(s: Settings, n: int) -> KafkaRecord:
    value = {
        "type": "track",
        "event": "Product Viewed",
        "userId": f"flush-{n}",
        "messageId": f"flush-{n}",
        # before the day: a late click, which moves journey time on by nothing
        "timestamp": "2026-11-23T00:00:00Z",
        "properties": {"sku": "SKU-FLUSH", "category": "flush"},
    }
    return KafkaRecord(s.topics.clickstream, 0, n, -1, f"flush-{n}".encode(), json.dumps(value).encode())
