"""`journeyctl simulate`: journey files over a recorded event file, without Flink.

The file holds one record per line as it was on Kafka: `{"topic": ..., "key": ..., "value": ...}`
with the value as JSON (a Segment call, a Debezium envelope, channel feedback; null for a
tombstone) and optionally the record's Kafka `timestamp` (ms; a tombstone's only time), or a
bare Segment call (topic `clickstream`). Records go through the same decoders as in the job, the
catalogue plays the SKU stage, and time is the records' own: timers fire as journey time
passes them, so a 3-day wait takes no 3 days.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import events as ev
from common.settings import Settings
from connectors.avro import LocalSchemas
from connectors.decoder import DeadLetter, Decoder, Skipped
from connectors.records import KafkaRecord
from journeys.catalog import Catalog
from journeys.definition import Journey
from journeys.engine import Engine, EngineConfig, Result, customer_of, event_time
from journeys.state import CustomerState

INVENTORY = ("inventory.products", "inventory.stores", "inventory.stock_levels")


@dataclass
class Simulation:
    journeys: list[Journey]
    #: the engine's configuration; by default the one the job builds from `settings`
    config: EngineConfig = None  # type: ignore[assignment]
    settings: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        if self.config is None:
            self.config = EngineConfig.from_settings(self.settings.journeys)
        self.catalog = Catalog()
        self.engine = Engine(self.journeys, self.config, self.catalog.reference)
        self.decoder = Decoder(self.settings, LocalSchemas())
        self.states: dict[str, CustomerState] = {}
        self.timers: list[tuple[int, str]] = []
        self.clock = 0
        self.counts: Counter[str] = Counter()
        self.actions: list[dict[str, Any]] = []
        self.journey_events: list[dict[str, Any]] = []

    def redeploy(self, journeys: list[Journey]) -> None:
        """New definitions, as a job restored from a savepoint with them gets: instances go on
        with the version they entered with, new ones enter the newest."""
        self.journeys = journeys
        self.engine = Engine(journeys, self.config, self.catalog.reference)

    def _keep(self, cid: str, result: Result) -> None:
        if result.state is None:
            self.states.pop(cid, None)
        else:
            self.states[cid] = result.state
        if result.next_due is not None:
            heapq.heappush(self.timers, (result.next_due, cid))
        self.actions += result.actions
        self.journey_events += result.journey_events

    def advance(self, until: int) -> None:
        """Fire every timer due up to `until` (journey time), in time order."""
        while self.timers and self.timers[0][0] <= until:
            due, cid = heapq.heappop(self.timers)
            state = self.states.get(cid)
            if state is None or self.engine.due(state) != due:
                continue  # stale: the state moved its timer
            self.clock = max(self.clock, due)
            self._keep(cid, self.engine.on_timer(state, due))
            self.counts["timers"] += 1

    def feed(self, event: ev.EngineInput) -> None:
        t = event_time(event)
        if t < self.clock:
            self.counts["late"] += 1  # applied at the current journey time, not dropped
        self.advance(t)
        self.clock = max(self.clock, t)
        if type(event) is ev.ChangeEvent and event.table in INVENTORY:
            for notice in self.catalog.apply(event):
                self.feed(notice)
            return
        cid = customer_of(event)
        if cid is None:
            self.counts["no_customer"] += 1
            return
        # as in the job: a click with the facts of its SKU, or followed by those of its SKUs
        notices = self.catalog.enrich(event) if type(event) is ev.ClickEvent else ()
        self._keep(cid, self.engine.on_event(self.states.get(cid), event, self.clock))
        self.counts["events"] += 1
        for notice in notices:
            self.feed(notice)

    def run(self, records: Iterable[KafkaRecord], drain_ms: int) -> None:
        for record in records:
            out = self.decoder.decode(record)
            if type(out) is DeadLetter:
                self.counts[f"dead_letter:{out.error_class}"] += 1
            elif type(out) is Skipped:
                self.counts[f"skipped:{out.reason}"] += 1
            else:
                self.feed(out)  # type: ignore[arg-type]
        self.advance(self.clock + drain_ms)


def read_records(path: Path) -> Iterator[KafkaRecord]:
    with path.open() as f:
        yield from parse_records(f)


def parse_records(lines: Iterable[str]) -> Iterator[KafkaRecord]:
    """Records of a recorded event file's lines; the line number stands in for the offset."""
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        obj = json.loads(line)
        if "topic" in obj and "value" in obj:
            topic, key, value, ts = obj["topic"], obj.get("key"), obj["value"], obj.get("timestamp", -1)
        else:
            topic, key, value, ts = "clickstream", obj.get("userId"), obj, -1
        yield KafkaRecord(
            topic,
            0,
            n,
            ts,
            None if key is None else (key if isinstance(key, str) else json.dumps(key)).encode(),
            None if value is None else json.dumps(value).encode(),
        )
