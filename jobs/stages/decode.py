"""Decode stage: input frames in, typed events out, dead letters to a side output.

The decoding itself is `connectors.decoder.Decoder` (plain Python, unit-tested); this operator
only opens the registry client, counts outcomes in the job's metrics and routes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.datastream import DataStream, OutputTag
from pyflink.datastream.functions import ProcessFunction, RuntimeContext

from common.settings import Settings
from connectors.avro import RegistryClient
from connectors.decoder import DeadLetter, DeadLetterEncoder, Decoder, Skipped
from connectors.kafka import BYTES
from connectors.records import output_frame, read_frame
from jobs.stages.metrics import Tally

DEAD_LETTERS = OutputTag("dead-letters", BYTES)


class DecodeFunction(ProcessFunction):  # type: ignore[misc]
    def __init__(self, settings: Settings, job: str) -> None:
        self._settings = settings
        self._job = job

    def open(self, runtime_context: RuntimeContext) -> None:
        s = self._settings
        registry = RegistryClient(s.registry.client_config())
        self._decoder = Decoder(s, registry)
        self._dead = DeadLetterEncoder(registry, s.topics.dead_letter, s.decode.max_value_bytes, self._job)
        metrics = runtime_context.get_metrics_group()
        self._decoded = metrics.counter("records_decoded")
        self._dead_letters = metrics.counter("records_dead_lettered")
        # the decoder counts them per column; the job shows the total
        self._columns_dropped = Tally(metrics.counter("columns_dropped"), lambda: self._decoder.dropped_total)
        self._skipped = {
            reason: metrics.counter(f"records_skipped_{reason}") for reason in ("tombstone", "anonymous")
        }

    def process_element(self, frame: bytes, ctx: ProcessFunction.Context) -> Iterator[Any]:
        record = read_frame(frame)
        out = self._decoder.decode(record)
        if type(out) is DeadLetter:
            self._dead_letters.inc()
            yield DEAD_LETTERS, output_frame(self._dead.topic, record.key, self._dead.encode(out))
        elif type(out) is Skipped:
            self._skipped[out.reason].inc()
        else:
            self._decoded.inc()
            self._columns_dropped.sync()
            yield out


def decode(stream: DataStream, settings: Settings, job: str) -> tuple[DataStream, DataStream]:
    """Typed events (pickled Python objects) and dead-letter output frames."""
    events = stream.process(DecodeFunction(settings, job)).uid("decode").name("decode and validate")
    return events, events.get_side_output(DEAD_LETTERS)
