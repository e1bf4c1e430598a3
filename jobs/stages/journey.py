"""The journey stage, keyed by customer: the engine's state in, actions and journey events out.

All the deciding is `journeys.engine.Engine` (plain Python, tested with a fake clock). This
operator reads the customer's state once and writes it once per record (bytes of
`journeys.codec`), keeps exactly one event-time timer per customer at the engine's next due
moment, and hands the outputs to the JVM in one batch per record (the Avro is written there).
Its records come in journey-time order from the JVM (`jobs.stages.keys`), so each is applied
the moment it arrives. Store changes arrive on the broadcast input: every subtask needs them
for "nearest store".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyflink.common import Types
from pyflink.datastream import DataStream
from pyflink.datastream.functions import KeyedBroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor

from common import events as ev
from common.settings import Settings
from connectors.kafka import BYTES
from connectors.outputs import OutputEncoder
from jobs.stages import wire
from jobs.stages.cache import StateCache
from jobs.stages.keys import in_journey_time_order
from jobs.stages.legacy import Slot, held
from jobs.stages.metrics import JourneyCounts, LabelledTally, Tallies, Tally, census
from jobs.stages.state import pickled_value
from journeys.codec import decode, encode
from journeys.definition import Journey
from journeys.engine import Engine, EngineConfig, Result, customer_of, event_time
from journeys.facts import Reference
from journeys.loader import DEFINITIONS, load_dir
from journeys.state import CustomerState

STORES = MapStateDescriptor("stores", Types.STRING(), Types.PICKLED_BYTE_ARRAY())


class JourneyCore:
    """What the operator does with one record, apart from Flink's objects: testable with fakes.

    `store` is anything with value/update/clear, `timers` anything with register/delete of
    event-time timers. At most one read (none when the state is in `cache`) and at most one
    write per record or timer; a timer whose moment the state has moved away from writes nothing.

    A record arrives when journey time reaches it (the JVM holds it until then): it is applied at
    its own time, after the engine's waits that ended before it (as `simulate` does). One that
    was already behind the watermark (late) comes with that watermark (`late_floor`, from
    `EventTimeOrder`), is applied at the watermark's time and counted.
    """

    def __init__(
        self, engine: Engine, outputs: OutputEncoder, cache: StateCache[CustomerState] | None = None
    ) -> None:
        self.engine = engine
        self.outputs = outputs
        self.cache = cache
        self.late = 0
        self.actions = 0
        self.counts = JourneyCounts()

    def on_event(
        self, store: Any, timers: Any, event: ev.EngineInput, late_floor: int | None = None
    ) -> list[bytes]:
        out: list[bytes] = []
        key = customer_of(event)
        state, before, dirty = self._load(store, key, out)
        was = census(state)
        t = event_time(event)
        if late_floor is not None and t < late_floor:
            self.late += 1
            t = late_floor
        if state is not None and state.due is not None and state.due <= t:
            state = self._fire(state, t, out)
            dirty = True
        r = self.engine.on_event(state, event, t)
        if r.outcome not in ("duplicate", "ignored"):
            state = self._apply(r, out)
            dirty = True
        if dirty:
            self.counts.moved(was, census(state))
            self._save(store, timers, key, state, before)
        return out

    def on_timer(self, store: Any, timers: Any, timestamp: int, key: str | None = None) -> list[bytes]:
        out: list[bytes] = []
        state, before, dirty = self._load(store, key, out)
        was = census(state)
        if state is not None and state.due is not None and state.due <= timestamp:
            state = self._fire(state, timestamp, out)
            dirty = True
        if dirty:
            self.counts.moved(was, census(state))
            self._save(store, timers, key, state, before)
        return out  # else: cleared, or moved on since this timer was set: nothing to write

    def _load(
        self, store: Any, key: str | None, out: list[bytes]
    ) -> tuple[CustomerState | None, int | None, bool]:
        """The state, the due moment its timer is at, and whether it must be written back."""
        if self.cache is not None and key is not None:
            cached = self.cache.get(key)
            if cached is not None:
                return cached, cached.due, False
        raw = store.value()
        if raw is None:
            return None, None, False
        if type(raw) is bytes:
            state = decode(raw)
            return state, state.due, False
        return self._migrated(raw, out)

    def _migrated(self, slot: Slot, out: list[bytes]) -> tuple[CustomerState | None, int | None, bool]:
        """A slot pickled before layout 3: its state upgraded, the events it held applied in
        their journey-time order. Its timer is wherever its old due moment or held event was;
        a timer that finds nothing due is harmless, so only the engine's is kept."""
        state = slot.state
        if state is not None:
            state = self.engine.upgraded(state)
        before = None if state is None else state.due
        for t, event in held(slot.inbox):
            if state is not None and state.due is not None and state.due <= t:
                state = self._fire(state, t, out)
            r = self.engine.on_event(state, event, t)
            if r.outcome not in ("duplicate", "ignored"):
                state = self._apply(r, out)
        return state, before, True

    def _fire(self, state: CustomerState, until: int, out: list[bytes]) -> CustomerState | None:
        s: CustomerState | None = state
        for _ in range(10_000):  # the engine moves its due time forward; this only bounds a bug
            if s is None or s.due is None or s.due > until:
                return s
            s = self._apply(self.engine.on_timer(s, s.due), out)
        raise RuntimeError(f"customer {state.customer_id}: timers do not advance")

    def _apply(self, r: Result, out: list[bytes]) -> CustomerState | None:
        self.actions += len(r.actions)
        self.counts.outputs(r.actions, r.journey_events)
        out += [self.outputs.action(a) for a in r.actions]
        out += [self.outputs.journey_event(j) for j in r.journey_events]
        return r.state

    def _save(
        self, store: Any, timers: Any, key: str | None, state: CustomerState | None, before: int | None
    ) -> None:
        if state is None:
            store.clear()
        else:
            store.update(encode(state))
        if self.cache is not None and key is not None:
            if state is None:
                self.cache.drop(key)
            else:
                self.cache.put(key, state)
        after = None if state is None else state.due
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
        self._core = JourneyCore(
            Engine(self._journeys, EngineConfig.from_settings(s.journeys), self._reference),
            OutputEncoder(s),
            StateCache.sized(s.journeys.state_cache, s.journeys.state_ttl_days),
        )
        # the name and type of the state before layout 3, so that its savepoints restore here
        self._state = runtime_context.get_state(pickled_value("customer", s.journeys.state_ttl_days))
        self._stores_loaded = False
        metrics = runtime_context.get_metrics_group()
        core = self._core
        counts = core.counts
        self._tallies = Tallies(
            Tally(metrics.counter("actions"), lambda: core.actions),
            Tally(metrics.counter("late_events"), lambda: core.late),
            LabelledTally(metrics, "actions_sent", ("journey", "type", "channel"), lambda: counts.actions),
            LabelledTally(metrics, "suppressions", ("journey", "reason"), lambda: counts.suppressed),
            LabelledTally(metrics, "instances_open", ("journey",), lambda: counts.open),
            LabelledTally(metrics, "waits_pending", ("journey",), lambda: counts.waiting),
            LabelledTally(metrics, "decision_latency_ms_bucket", ("le",), lambda: counts.latency),
            Tally(metrics.counter("decision_latency_ms_count"), lambda: counts.latency_count),
            Tally(metrics.counter("decision_latency_ms_sum"), lambda: counts.latency_sum_ms),
        )

    def close(self) -> None:
        self._tallies.sync()

    def _load_stores(self, ctx: Any) -> None:
        # after a restore the stores are in broadcast state only; read them once
        for store_id, store in ctx.get_broadcast_state(STORES).items():
            self._reference.set_store(store, store_id)
        self._stores_loaded = True

    def process_element(self, blob: bytes, ctx: Any) -> Iterator[bytes]:
        if not self._stores_loaded:
            self._load_stores(ctx)
        record, late_floor = wire.decode_timed(blob)
        out = self._core.on_event(self._state, ctx.timer_service(), record, late_floor)
        if out:
            yield OutputEncoder.batch(out)
        self._tallies.tick()

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
        key = ctx.get_current_key()
        out = self._core.on_timer(
            self._state, ctx.timer_service(), timestamp, key if type(key) is str else key[0]
        )
        if out:
            yield OutputEncoder.batch(out)
        self._tallies.tick()


def journey_stage(customer_events: DataStream, stores: DataStream, settings: Settings) -> DataStream:
    """Customer-bound `TIMED` rows and store changes in; output batches (actions and journey
    events, `connectors.outputs`) out, one per record or timer that caused any."""
    return (
        in_journey_time_order(customer_events, "customers", settings.journeys.state_ttl_days)
        .connect(stores.broadcast(STORES))
        .process(JourneyStage(settings), BYTES)
        .uid("journey-stage")
        .name("journeys by customer")
    )


__all__ = ["JourneyCore", "JourneyStage", "Slot", "journey_stage"]
