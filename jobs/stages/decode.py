"""Decode stage: input frames in, typed events out, dead letters to a side output.

The decoding itself is `connectors.decoder.Decoder` (plain Python, unit-tested); this operator
only opens the registry client, counts outcomes in the job's metrics and routes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from pyflink.datastream import DataStream, OutputTag
from pyflink.datastream.functions import ProcessFunction, RuntimeContext

from common.settings import Settings
from connectors.avro import RegistryClient
from connectors.decoder import DeadLetter, DeadLetterEncoder, Decoder, Skipped
from connectors.kafka import BYTES
from connectors.records import output_frame, read_frame
from jobs.stages.metrics import LabelledTally, Tallies, Tally

DEAD_LETTERS = OutputTag("dead-letters", BYTES)
SKIPPED = ("tombstone", "anonymous")


class DecodeFunction(ProcessFunction):  # type: ignore[misc]
    def __init__(self, settings: Settings, job: str) -> None:
        self._settings = settings
        self._job = job

    def open(self, runtime_context: RuntimeContext) -> None:
        s = self._settings
        registry = RegistryClient(s.registry.client_config(), wait_s=s.registry.wait_s)
        self._decoder = Decoder(s, registry)
        self._dead = DeadLetterEncoder(registry, s.topics.dead_letter, s.decode.max_value_bytes, self._job)
        metrics = runtime_context.get_metrics_group()
        # counted in Python and handed to Flink's counters every few hundred records: a counter's
        # increment is a call into the JVM, which cost as much as decoding the record
        self.counts: dict[str, int] = dict.fromkeys(("decoded", "dead_lettered", *SKIPPED), 0)
        c = self.counts
        self.by_topic: dict[tuple[str, ...], int] = {}
        self.dead_by_class: dict[tuple[str, ...], int] = {}
        self._tallies = Tallies(
            *(
                Tally(metrics.counter(f"records_{n}"), partial(_count, c, n))
                for n in ("decoded", "dead_lettered")
            ),
            *(Tally(metrics.counter(f"records_skipped_{r}"), partial(_count, c, r)) for r in SKIPPED),
            # the decoder counts them per column; the job shows the total
            Tally(metrics.counter("columns_dropped"), lambda: self._decoder.dropped_total),
            LabelledTally(metrics, "records_in", ("topic",), lambda: self.by_topic),
            LabelledTally(metrics, "dead_letters", ("error_class",), lambda: self.dead_by_class),
        )

    def close(self) -> None:
        self._tallies.sync()

    def decode_frame(self, frame: bytes) -> tuple[Any, bytes | None]:
        """(the typed event, None), (None, a dead-letter output frame), or (None, None) for a record
        that is skipped (a tombstone of a table whose deletes say it all, an anonymous click)."""
        self._tallies.tick()
        record = read_frame(frame)
        topic = (record.topic,)
        self.by_topic[topic] = self.by_topic.get(topic, 0) + 1
        out = self._decoder.decode(record)
        kind = type(out)
        if kind is DeadLetter:
            self.counts["dead_lettered"] += 1
            why = (out.error_class,)  # type: ignore[union-attr]
            self.dead_by_class[why] = self.dead_by_class.get(why, 0) + 1
            return None, output_frame(self._dead.topic, record.key, self._dead.encode(out))  # type: ignore[arg-type]
        if kind is Skipped:
            self.counts[out.reason] += 1  # type: ignore[union-attr]
            return None, None
        self.counts["decoded"] += 1
        return out, None

    def process_element(self, frame: bytes, ctx: ProcessFunction.Context) -> Iterator[Any]:
        event, dead = self.decode_frame(frame)
        if dead is not None:
            yield DEAD_LETTERS, dead
        elif event is not None:
            yield event


def decode(stream: DataStream, settings: Settings, job: str) -> tuple[DataStream, DataStream]:
    """Typed events (pickled Python objects) and dead-letter output frames."""
    events = stream.process(DecodeFunction(settings, job)).uid("decode").name("decode and validate")
    return events, events.get_side_output(DEAD_LETTERS)


def _count(counts: dict[str, int], name: str) -> int:
    return counts[name]
