"""The journey stage, keyed by customer: the engine's state in, actions and journey events out.

All the deciding is `journeys.engine.Engine` (plain Python, tested with a fake clock). This
operator reads the customer's state once and writes it once per record, keeps exactly one
event-time timer per customer at the engine's next due moment, and encodes the outputs. Store
changes arrive on the broadcast input: every subtask needs them for "nearest store".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyflink.common import Types
from pyflink.datastream import DataStream
from pyflink.datastream.functions import KeyedBroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from common import events as ev
from common.settings import Settings
from connectors.avro import RegistryClient, SchemaSink
from connectors.kafka import BYTES
from connectors.outputs import OutputEncoder
from jobs.stages.inbox import Inbox
from jobs.stages.keys import keyed_on_first_field
from jobs.stages.metrics import Tally
from jobs.stages.state import pickled_value
from journeys.definition import Journey
from journeys.engine import Engine, EngineConfig, Result, event_time
from journeys.facts import Reference
from journeys.loader import DEFINITIONS, load_dir
from journeys.state import CustomerState

STORES = MapStateDescriptor("stores", Types.STRING(), Types.PICKLED_BYTE_ARRAY())


@dataclass(slots=True)
class Slot:
    """What the operator stores per customer: the engine's state and the events held until
    journey time reaches them (see `jobs.stages.inbox`)."""

    state: CustomerState | None = None
    inbox: Inbox = field(default_factory=Inbox)


class JourneyCore:
    """What the operator does with one record, apart from Flink's objects: testable with fakes.

    `store` is anything with value/update/clear, `timers` anything with register/delete of
    event-time timers. One read and at most one write per record or timer.

    Events are applied in journey-time order, not arrival order: one that is ahead of the
    watermark waits in the customer's inbox until the watermark passes it (an event-time timer
    at its time), so a customer's click, read from one topic, never overtakes the consent that
    came before it on another. That is what makes a replay through Kafka decide what `simulate`
    decides, and it costs each event the watermark's lag (out-of-orderness plus the slowest
    source's delay) before it is applied. An event behind the watermark is applied at once, at
    the watermark's time, and counted as late.
    """

    def __init__(self, engine: Engine, outputs: OutputEncoder) -> None:
        self.engine = engine
        self.outputs = outputs
        self.late = 0
        self.actions = 0

    def on_event(self, store: Any, timers: Any, event: ev.EngineInput) -> list[bytes]:
        slot: Slot = store.value() or Slot()
        t = event_time(event)
        if slot.inbox.hold_if_early(t, event, timers):
            store.update(slot)
            return []
        watermark = timers.current_watermark()
        self.late += t < watermark
        before = self.engine.due(slot.state)
        out: list[bytes] = []
        self._apply(slot, self.engine.on_event(slot.state, event, watermark), out)
        self._save(store, timers, slot, before)
        return out

    def on_timer(self, store: Any, timers: Any, timestamp: int) -> list[bytes]:
        slot: Slot | None = store.value()
        if slot is None:
            return []  # cleared (or expired with its TTL) since this timer was set
        before = self.engine.due(slot.state)
        held = slot.inbox.next_at()
        if (held is None or held > timestamp) and (before is None or before > timestamp):
            return []  # the state moved on since this timer was set: nothing to write
        out: list[bytes] = []
        for t, event in slot.inbox.ready(timestamp):
            self._fire(slot, t, out)  # waits that ended before the event first, as in simulate
            self._apply(slot, self.engine.on_event(slot.state, event, t), out)
        self._fire(slot, timestamp, out)
        self._save(store, timers, slot, before)
        return out

    def _fire(self, slot: Slot, until: int, out: list[bytes]) -> None:
        for _ in range(10_000):  # the engine moves its due time forward; this only bounds a bug
            due = self.engine.due(slot.state)
            if due is None or due > until or slot.state is None:
                return
            self._apply(slot, self.engine.on_timer(slot.state, due), out)
        raise RuntimeError(f"customer {slot.state and slot.state.customer_id}: timers do not advance")

    def _apply(self, slot: Slot, r: Result, out: list[bytes]) -> None:
        if r.outcome in ("duplicate", "ignored"):
            return
        slot.state = r.state
        self.actions += len(r.actions)
        out += [self.outputs.action(a) for a in r.actions]
        out += [self.outputs.journey_event(j) for j in r.journey_events]

    def _save(self, store: Any, timers: Any, slot: Slot, before: int | None) -> None:
        if slot.state is None and not slot.inbox:
            store.clear()
        else:
            store.update(slot)
        after = self.engine.due(slot.state)
        if after != before:
            if before is not None:
                timers.delete_event_time_timer(before)
            if after is not None:
                timers.register_event_time_timer(after)


def definitions(settings: Settings) -> list[Journey]:
    """The journeys the job runs, every version in the folder: an instance keeps the version it
    entered with, so a changed journey ships as a new file next to the old one."""
    folder = Path(settings.journeys.definitions) if settings.journeys.definitions else DEFINITIONS
    return load_dir(folder)


class JourneyStage(KeyedBroadcastProcessFunction):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Loaded where the job is built, not where it runs: a bad file stops the submission
        # with its file and line, and the job graph carries the definitions to every task
        # manager. New definitions take effect when the job is resubmitted (from a savepoint).
        self._journeys = definitions(settings)

    def open(self, runtime_context: RuntimeContext) -> None:
        s = self._settings
        self._reference = Reference()
        registry: SchemaSink = RegistryClient(s.registry.client_config())
        self._core = JourneyCore(
            Engine(self._journeys, EngineConfig.from_settings(s.journeys), self._reference),
            OutputEncoder(s, registry),
        )
        self._state = runtime_context.get_state(pickled_value("customer", s.journeys.state_ttl_days))
        self._stores_loaded = False
        metrics = runtime_context.get_metrics_group()
        core = self._core
        self._tallies = (
            Tally(metrics.counter("actions"), lambda: core.actions),
            Tally(metrics.counter("late_events"), lambda: core.late),
        )

    def _load_stores(self, ctx: Any) -> None:
        # after a restore the stores are in broadcast state only; read them once
        for store_id, store in ctx.get_broadcast_state(STORES).items():
            self._reference.set_store(store, store_id)
        self._stores_loaded = True

    def process_element(self, event: ev.EngineInput, ctx: Any) -> Iterator[bytes]:
        if not self._stores_loaded:
            self._load_stores(ctx)
        timers = ctx.timer_service()
        yield from self._core.on_event(self._state, timers, event)
        for t in self._tallies:
            t.sync()

    def process_broadcast_element(self, change: ev.ChangeEvent, ctx: Any) -> Iterator[bytes]:
        row = change.row
        if type(row) is not ev.Store:
            return
        stores = ctx.get_broadcast_state(STORES)
        if change.op == "d":
            stores.remove(row.store_id)
            self._reference.set_store(None, row.store_id)
        else:
            stores.put(row.store_id, row)
            self._reference.set_store(row, row.store_id)
        yield from ()

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[bytes]:
        if not self._stores_loaded:
            self._load_stores(ctx)
        yield from self._core.on_timer(self._state, ctx.timer_service(), timestamp)
        for t in self._tallies:
            t.sync()


def journey_stage(customer_events: DataStream, stores: DataStream, settings: Settings) -> DataStream:
    """Customer-bound events (keyed rows) and store changes in; output frames (actions, journey
    events) out."""
    return (
        keyed_on_first_field(customer_events)
        .connect(stores.broadcast(STORES))
        .process(JourneyStage(settings), BYTES)
        .uid("journey-stage")
        .name("journeys by customer")
    )
