"""`make demo`: the local stack, a recorded shop day through Kafka and the journey job, the actions;
then the same shop live, its databases changed with SQL and captured by Debezium.

Grows with the product: each stage of the pipeline adds what it shows here.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from common.settings import STACK_SCRIPT, Settings
from jobs.environment import create_environment


def _high_watermarks(settings: Settings, topic: str) -> dict[int, int]:
    c = Consumer(
        {
            **settings.kafka.librdkafka_properties(),
            "group.id": f"demo-{uuid.uuid4()}",
            "isolation.level": "read_committed",
        }
    )
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def _read_from(
    settings: Settings, topic: str, start: dict[int, int], expected: int, timeout_s: float = 30.0
) -> list[bytes]:
    c = Consumer(
        {
            **settings.kafka.librdkafka_properties(),
            "group.id": f"demo-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, o) for p, o in start.items()])
    got: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < expected and time.monotonic() < deadline:
            msg = c.poll(0.5)
            value = msg.value() if msg is not None and msg.error() is None else None
            if value is not None:
                got.append(value)
    finally:
        c.close()
    return got


def run_demo(settings: Settings) -> int:
    """The product end to end on this machine: the recorded shop day through Kafka and the
    journey job, and the actions it sends, as the channel services would read them."""
    print("== 1/7 local stack (Kafka, schema registry, PostgreSQL, Kafka Connect with Debezium)", flush=True)
    if subprocess.call([sys.executable, str(STACK_SCRIPT), "up"]) != 0:
        return 1

    from common.settings import REPO
    from connectors.admin import ensure_topics
    from jobs import journey
    from jobs.simulate import Simulation, parse_records
    from journeyctl.replay import replay
    from journeyctl.sample_experiment import with_experiment
    from journeys.loader import load_dir

    # topics of this run alone, so that a second demo shows its own actions, not the sum
    run = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    settings = settings.model_copy(
        update={
            "topics": settings.topics.renamed(lambda t: f"demo-{run}.{t}"),
            "consumer_group": f"demo-{run}",
            "sink": settings.sink.model_copy(update={"transactional_id_prefix": f"demo-{run}"}),
        }
    )
    ensure_topics(settings, journey.topics(settings))
    shop = REPO / "samples" / "shop.jsonl"
    # the day, and the cart experiment's 600 carts (enough for a holdout) on the same day
    lines = with_experiment(shop.read_text().splitlines(), EXPERIMENT_CARTS)
    n = replay(settings, parse_records(lines))
    print(
        f"== 2/7 replayed {n} records of a recorded shop day ({shop.name}, customers c-1 .. c-10) and "
        f"its cart experiment (x-1 .. x-{EXPERIMENT_CARTS}) into demo-{run}.*",
        flush=True,
    )

    print(
        f"== 3/7 the journey job on a local Flink MiniCluster ({settings.sink.delivery.value}, "
        f"parallelism {settings.flink.parallelism}), to the end of what was written",
        flush=True,
    )
    env = create_environment(settings)
    sources, sinks = journey.kafka_connectors(settings, bounded=True)
    journey.build_pipeline(env, sources, sinks, settings)
    started = time.monotonic()
    env.execute("journeys (demo)")
    print(f"   job finished in {time.monotonic() - started:.1f} s", flush=True)

    sim = Simulation(load_dir())
    sim.run(parse_records(lines), drain_ms=365 * 86_400_000)
    print("== 4/7 actions the channel services receive (read_committed, Avro via the registry):", flush=True)
    actions = []
    for topic in settings.topics.actions.values():
        expected = sum(1 for a in sim.actions if settings.topics.actions[a["channel"]] == topic)
        actions += _read_actions(settings, topic, expected)
    shown = [a for a in actions if not _in_experiment(a["customer_id"])]
    for a in sorted(shown, key=lambda a: (a["send_after"], a["customer_id"])):
        when = a["send_after"].strftime("%a %H:%M UTC")  # timestamp-millis, decoded to a datetime
        print(
            f"   {when}  {a['customer_id']:5s} {a['journey_id']:22s} {a['action_type']:22s} "
            f"{a['channel']:7s} {a['reason']}"
        )
    print(f"   ... and {len(actions) - len(shown)} for the experiment's carts (not listed)")
    same = sorted(a["action_id"] for a in actions) == sorted(a["action_id"] for a in sim.actions)
    print(
        f"   {len(actions)} actions on {', '.join(settings.topics.actions.values())}; "
        + (
            "the same as `journeyctl simulate` decides over the same records"
            if same
            else f"`journeyctl simulate` decides {len(sim.actions)}: they differ (see .stack/logs/)"
        )
    )
    print(
        f"   journey events: {settings.topics.journey_events}; bad records: {settings.topics.dead_letter}",
        flush=True,
    )
    settings = settings.model_copy(
        update={"sender": settings.sender.model_copy(update={"group_prefix": f"demo-{run}.sender"})}
    )
    sent = send_day(settings, len(actions))
    live = run_live(settings, run)
    reported = report_day(settings, run)
    print("Stop everything with `make stack-down`. Logs: .stack/logs/", flush=True)
    return 0 if same and sent and live and reported else 1


def report_day(settings: Settings, run: str) -> bool:
    """The journey results job (Flink SQL) over the recorded day's journey events, the sender's
    feedback and the orders, then `journeyctl report` over what it wrote."""
    from pathlib import Path

    from jobs import results
    from journeyctl.report import charts, read_metrics, table

    print(
        "== 7/7 journey results of the recorded day: the results job (Flink SQL on a MiniCluster) "
        f"into {settings.topics.journey_metrics}, then `journeyctl report`",
        flush=True,
    )
    s = results.with_sql_jars(settings)
    env = create_environment(s)
    sources, sinks = results.kafka_connectors(s, bounded=True)
    started = time.monotonic()
    results.build_pipeline(env, sources, sinks, s).wait()
    print(f"   results job finished in {time.monotonic() - started:.1f} s", flush=True)
    records = read_metrics(s)
    if not records:
        print("   no results came out (see .stack/logs/)", flush=True)
        return False
    for line in table(records).splitlines():
        print(f"   {line}")
    for path in charts(records, Path(s.results.charts_dir) / f"demo-{run}"):
        print(f"   chart: {path}", flush=True)
    return True


def _demo_sender(settings: Settings, segments: dict[str, Any] | None = None) -> Settings:
    """The sender as the demo runs it: console provider, simulated customers engaging; `segments`
    go before the default rates (the first pattern that matches wins)."""
    s = settings.sender
    sim = s.simulator
    update: dict[str, Any] = {"enabled": True, "delay_ms": 500}
    if segments:
        update["segments"] = {**segments, **sim.segments}
    simulator = sim.model_copy(update=update)
    return settings.model_copy(update={"sender": s.model_copy(update={"simulator": simulator})})


def send_day(settings: Settings, expected: int, timeout_s: float = 60) -> bool:
    """The channel sender over the day's actions: each rendered from its template and printed
    (the console provider), its delivery and the simulated customer's opens and clicks written
    to channel-feedback."""
    from senders.service import Sender

    s = _demo_sender(settings)
    print(
        f"== 5/7 the channel sender (`journeyctl send`): {expected} actions rendered and delivered, "
        f"feedback to {s.topics.channel_feedback}",
        flush=True,
    )
    sender = Sender(s)
    for worker in sender.workers.values():  # the experiment's messages go out unprinted
        worker.provider = _Shown(worker.provider, lambda m: not _in_experiment(m.address))
    _start_sender(sender)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s and not sender.stop.is_set():
            totals = sender.totals()
            handled = sum(v for t in totals.values() for k, v in t.items() if k != "pending")
            if handled >= expected and all(w.next_due_ms() is None for w in sender.workers.values()):
                break
            time.sleep(0.2)
        time.sleep(0.5)  # the last transaction commits
    finally:
        sender.close()
    counts = _feedback_counts(s)
    print(f"   feedback: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}", flush=True)
    return counts.get("delivered", 0) == expected and not sender.errors


def _start_sender(sender: Any) -> None:
    try:
        sender.start()
    except OSError as e:  # the metrics port
        port = sender.settings.sender.metrics_port
        print(f"   the sender's metrics port {port} is taken ({e}); going on without it", flush=True)
        sender.settings = sender.settings.model_copy(
            update={"sender": sender.settings.sender.model_copy(update={"metrics_port": 0})}
        )
        sender.start()
    port = sender.settings.sender.metrics_port
    if port:
        print(f"   its metrics: http://{sender.settings.sender.metrics_host}:{port}/metrics", flush=True)


def _feedback_counts(settings: Settings) -> dict[str, int]:
    from collections import Counter

    from connectors.readback import output_decoder

    topic = settings.topics.channel_feedback
    decode = output_decoder(settings)
    c = Consumer(
        {
            **settings.kafka.librdkafka_properties(),
            "group.id": f"demo-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, 0) for p in _high_watermarks(settings, topic)])
    counts: Counter[str] = Counter()
    quiet_since = time.monotonic()
    try:
        while time.monotonic() - quiet_since < 2.0:
            msg = c.poll(0.2)
            value = msg.value() if msg is not None and msg.error() is None else None
            if value is not None:
                counts[decode(topic, value)["event"]] += 1
                quiet_since = time.monotonic()
    finally:
        c.close()
    return dict(counts)


def run_live(settings: Settings, run: str, timeout_s: float = 180) -> bool:
    """The shop live: SQL into its databases (Debezium captures them into the CDC topics), clicks
    into Kafka, the journey job running on a MiniCluster with the cart and browse waits shortened
    to 20 s; the actions as a channel service receives them."""
    import tempfile
    from pathlib import Path

    from connectors.admin import ensure_topics
    from connectors.readback import OutputReader
    from jobs import journey
    from journeyctl.live_shop import (
        DAY_ACTIONS,
        LIVE_WAITS,
        Shop,
        day,
        outside_holdouts,
        play,
        quick_definitions,
    )
    from journeys.loader import load_dir

    print("== 6/7 the same shop live: SQL into PostgreSQL, Debezium into Kafka, the job running", flush=True)
    with tempfile.TemporaryDirectory(prefix="journey-demo-") as tmp:
        folder = quick_definitions(Path(tmp), LIVE_WAITS)
        base = Settings()
        s = settings.model_copy(
            update={
                # the connectors' own CDC topics; a clickstream and outputs of this run
                "topics": settings.topics.model_copy(
                    update={
                        "cdc": base.topics.cdc,
                        "clickstream": f"demo-{run}.live.clickstream",
                        "actions": {ch: f"demo-{run}.live.{t}" for ch, t in base.topics.actions.items()},
                        "journey_events": f"demo-{run}.live.journey-events",
                    }
                ),
                "consumer_group": f"demo-{run}-live",
                "sink": settings.sink.model_copy(update={"transactional_id_prefix": f"demo-{run}-live"}),
                "journeys": settings.journeys.model_copy(update={"definitions": str(folder)}),
            }
        )
        ensure_topics(s, journey.topics(s))
        env = create_environment(s)
        sources, sinks = journey.kafka_connectors(s, bounded=False)
        journey.build_pipeline(env, sources, sinks, s)
        client = env.execute_async("journeys live (demo)")
        shop = Shop(s, tag=outside_holdouts([f"c-{n}" for n in range(1, 11)], load_dir(folder)))
        story = _Unsubscribes(shop)
        sender_settings = _demo_sender(s, story.segment())
        sender_settings = sender_settings.model_copy(
            update={
                "sender": sender_settings.sender.model_copy(
                    update={"group_prefix": f"demo-{run}.live.sender", "metrics_port": 0}
                )
            }
        )
        from senders.service import Sender

        sender = Sender(sender_settings)
        # the CDC topics hold every run's rows, and the job acts on all of them: show this run's
        for worker in sender.workers.values():
            worker.provider = _Shown(worker.provider, partial(_tagged, shop.tag))
        sender.start()
        print("   the channel sender sends each action as it comes ([send ...] lines)", flush=True)
        reader = OutputReader(s)
        started = time.monotonic()
        try:
            print(f"   shop run {shop.tag}: every key it writes ends in .{shop.tag}", flush=True)
            play(shop, day(shop))
            mine = {shop.id(f"c-{n}"): f"c-{n}" for n in range(1, 11)}
            want = set(DAY_ACTIONS)
            seen: set[tuple[str, str]] = set()
            print("   actions as they arrive:", flush=True)
            while (seen < want or not story.done) and time.monotonic() - started < timeout_s:
                story.tick()
                got = reader.poll()
                if got is None or not got[0] or got[1]["customer_id"] not in mine:
                    continue
                a = got[1]
                n = mine[a["customer_id"]]
                seen.add((n, a["action_type"]))
                print(
                    f"   +{time.monotonic() - started:5.1f} s  {n:5s} {a['journey_id']:22s} "
                    f"{a['action_type']:22s} {a['channel']:7s} {a['reason']}",
                    flush=True,
                )
                story.on_action(n, a)
        finally:
            reader.close()
            shop.close()
            sender.close()
            client.cancel().result()
    missing = sorted(want - seen)
    if missing:
        print(f"   missing after {timeout_s:.0f} s: {missing} (see .stack/logs/)", flush=True)
    else:
        print(
            f"   all {len(want)} actions of the live day arrived; carts 4 and 5 ended without one", flush=True
        )
    return not missing and story.report()


class _Unsubscribes:
    """The feedback loop, live: the simulated c-2 unsubscribes from the first marketing email it
    gets (the sender writes `unsubscribed` to channel-feedback, which the job reads); c-2 then
    fills a second cart, and that cart's reminder must come by another channel."""

    CUSTOMER, CART, SKU = "c-2", "cart-2b", "SKU-2"

    def __init__(self, shop: Any) -> None:
        self.shop = shop
        self.first: dict[str, Any] | None = None
        self.second: dict[str, Any] | None = None
        self._add_at: float | None = None

    def segment(self) -> dict[str, Any]:
        """The simulator's rates for this customer: every marketing email ends in an unsubscribe."""
        from common.sender_settings import EngagementRates

        return {self.shop.id(self.CUSTOMER): {"email": EngagementRates(open=0, click=0, unsubscribe=1)}}

    @property
    def done(self) -> bool:
        return self.second is not None

    def on_action(self, n: str, a: dict[str, Any]) -> None:
        if n != self.CUSTOMER or a["journey_id"] != "cart_abandonment":
            return
        cart = (a.get("attributes") or {}).get("cart_id")
        if self.first is None and a["channel"] == "email":
            self.first = a
            # the delivery, the simulated unsubscribe half a second later, its transaction
            self._add_at = time.monotonic() + 3
        elif cart == self.shop.id(self.CART):
            self.second = a
            print(
                f"   {n}'s reminder for its second cart went by {a['channel']}: the unsubscribe "
                "from email reached the job as channel feedback",
                flush=True,
            )

    def tick(self) -> None:
        if self._add_at is not None and time.monotonic() >= self._add_at:
            self._add_at = None
            print(
                f"   {self.CUSTOMER} unsubscribed from that email (the simulated customer); "
                f"it now adds a down jacket to a second cart, {self.CART}",
                flush=True,
            )
            self.shop.add_to_cart(self.shop.id(self.CUSTOMER), self.shop.id(self.CART), self.SKU)

    def report(self) -> bool:
        if self.second is None:
            print(f"   no reminder for {self.CUSTOMER}'s second cart came (see .stack/logs/)", flush=True)
            return False
        if self.second["channel"] == "email":
            print(f"   {self.CUSTOMER} was emailed again after unsubscribing: the loop is broken", flush=True)
            return False
        return True


EXPERIMENT_CARTS = 600


def _tagged(tag: str, message: Any) -> bool:
    return tag in message.address


def _in_experiment(customer_or_address: str) -> bool:
    return customer_or_address.startswith("x-")


class _Shown:
    """A provider that hands on only the messages `show` picks (the demo prints those) and takes
    the rest without a word, as delivered."""

    def __init__(self, inner: Any, show: Callable[[Any], bool]) -> None:
        self.inner = inner
        self.show = show
        self.name = inner.name

    def send(self, message: Any) -> None:
        if self.show(message):
            self.inner.send(message)

    def close(self) -> None:
        self.inner.close()


def _read_actions(settings: Settings, topic: str, expected: int) -> list[dict[str, Any]]:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    deserialize = AvroDeserializer(SchemaRegistryClient(settings.registry.client_config()))
    ctx = SerializationContext(topic, MessageField.VALUE)
    start = dict.fromkeys(_high_watermarks(settings, topic), 0)
    return [deserialize(v, ctx) for v in _read_from(settings, topic, start, expected)]
