"""What the benchmark's peers (Quix Streams, Bytewax) share: the project's decoder, routing, SKU
books and engine, as the journey job uses them, and the outputs encoded as the job encodes them
(Avro, Confluent wire format, registry ids). Each peer only wires these into its own API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import events as ev
from common.settings import Settings
from connectors.avro import Encoder, RegistryClient, load_schema
from connectors.decoder import DeadLetter, Decoder, Skipped
from connectors.readback import read_to_end
from connectors.records import KafkaRecord
from journeys.catalog import FactsRequest, SkuBook
from journeys.engine import Engine, EngineConfig, Result, event_time
from journeys.facts import Reference
from journeys.loader import DEFINITIONS, load_dir
from journeys.routing import CUSTOMERS, STORES, route_event

#: the journeys the peers run (the issue's choice: a wait on activity, a wait on a date)
JOURNEYS = ("cart_abandonment", "delivery_followup")
#: the journey of the timer benchmark (`benchmarks.journey_job.BENCH_WAIT`)
TIMER_JOURNEY = "bench_timer"
#: a routed record: (destination, key, item)
Routed = tuple[int, str, Any]


class Peer:
    def __init__(self, settings: Settings, journeys: tuple[str, ...] = JOURNEYS) -> None:
        self.settings = settings
        registry = RegistryClient(settings.registry.client_config())
        self.decoder = Decoder(settings, registry)
        self.reference = Reference()
        folder = Path(settings.journeys.definitions) if settings.journeys.definitions else DEFINITIONS
        # the timer benchmark's own journey too, when its definitions are the ones given
        chosen = [j for j in load_dir(folder) if j.id in journeys or j.id == TIMER_JOURNEY]
        self.engine = Engine(chosen, EngineConfig.from_settings(settings.journeys), self.reference)
        self.low = settings.journeys.low_stock_threshold
        t = settings.topics
        action = load_schema("action")
        self.actions = {ch: Encoder(registry, topic, action) for ch, topic in t.actions.items()}
        self.events = Encoder(registry, t.journey_events, load_schema("journey_event"))
        #: journey time of this process: the latest event time seen
        self.clock = 0

    def load_stores(self) -> None:
        """Every store, read once at start: neither peer broadcasts a small table to every
        partition as the job does (a few hundred rows, for "nearest store")."""
        topic = self.settings.topics.cdc["inventory.stores"]
        for m in read_to_end(self.settings, topic):
            record = KafkaRecord(
                topic, m.partition() or 0, m.offset() or 0, m.timestamp()[1], m.key(), m.value()
            )
            event = self.decoder.decode(record)
            if type(event) is ev.ChangeEvent:
                row = event.after or event.before
                self.reference.set_store(event.after, row.store_id)  # type: ignore[arg-type,union-attr]

    def route(self, record: KafkaRecord) -> list[Routed]:
        """Decoded and routed as the job routes (`journeys.routing`); store changes were read at
        start, bad records dropped (the job writes them to the dead-letter topic)."""
        event = self.decoder.decode(record)
        if type(event) is DeadLetter or type(event) is Skipped:
            return []
        return [(to, item[0], item[1]) for to, item in route_event(event) if to != STORES]  # type: ignore[arg-type]

    def sku(self, book: SkuBook, item: Any) -> list[Routed]:
        """A SKU's record on its book: clicks leave with its facts, changes become notices."""
        if type(item) is ev.ClickEvent:
            out: list[Any] = [book.enrich(item)]
        elif type(item) is FactsRequest:
            notice = book.request(item)
            out = [] if notice is None else [notice]
        else:
            found, _ = book.apply(item, self.low)  # no category rankings: no alternatives
            out = list(found)
        return [(CUSTOMERS, _customer(n), n) for n in out]

    def tick(self, event: Any) -> int:
        """Journey time after this event."""
        self.clock = max(self.clock, event_time(event))
        return self.clock

    def outputs(self, result: Result) -> list[tuple[str, bytes]]:
        """(topic, Avro value) of each action and journey event of an engine call."""
        out = []
        for a in result.actions:
            enc = self.actions[a["channel"]]
            out.append((enc.topic, enc.encode(a)))
        for j in result.journey_events:
            out.append((self.events.topic, self.events.encode(j)))
        return out


def _customer(item: Any) -> str:
    cid = item.customer_id if type(item) is ev.StockNotice else item.user_id
    return str(cid)
