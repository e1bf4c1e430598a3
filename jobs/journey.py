"""The journey job: clickstream, CDC and channel feedback in; actions and journey events out.

    inputs ─► decode and route ─┬─────────────────────────────────► customers ─┐
                 │             ├─► SKUs ─► categories (sold out only) ──────────┤
                 ▼             └─► stores (broadcast) ──────────────────────────┤
            dead-letter                                                         ▼
                               journeys by customer ─► encode (Avro, JVM) ─► actions.<channel>,
                                                                             journey-events

Each keyed stage gets its records in journey-time order from the JVM (`jobs.stages.keys`).
`build_pipeline` wires it from the sources and sinks it is given; `kafka_connectors` gives the
real ones. Every operator has a uid, so a savepoint taken from one version restores into the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflink.datastream import DataStream, StreamExecutionEnvironment

from common.settings import Settings
from connectors.kafka import KafkaRecordSource, SinkFactory, SourceFactory, journey_sinks
from jobs.stages.catalog import catalog_stages
from jobs.stages.journey import journey_stage
from jobs.stages.route import decode_and_route


@dataclass(frozen=True)
class JourneySources:
    #: input frames of every input topic: clickstream, CDC, channel feedback
    inputs: SourceFactory


@dataclass(frozen=True)
class JourneySinks:
    #: actions and journey events (one transactional sink: they commit together)
    outputs: SinkFactory
    dead_letters: SinkFactory


def build_pipeline(
    env: StreamExecutionEnvironment, sources: JourneySources, sinks: JourneySinks, settings: Settings
) -> DataStream:
    to_customers, to_skus, stores, dead_letters = decode_and_route(sources.inputs(env), settings, "journeys")
    sinks.dead_letters(dead_letters)
    notices = catalog_stages(to_skus, settings)
    outputs = journey_stage(to_customers.union(notices), stores, settings)
    sinks.outputs(outputs)
    return outputs


def kafka_connectors(settings: Settings, bounded: bool = False) -> tuple[JourneySources, JourneySinks]:
    outputs, dead_letters = journey_sinks(settings)
    j = settings.journeys
    inputs = KafkaRecordSource(
        settings,
        tuple(settings.topics.inputs()),
        "inputs",
        bounded=bounded,
        journey_time=(j.out_of_orderness_ms, j.idle_ms, j.startup_ms),
    )
    return JourneySources(inputs), JourneySinks(outputs, dead_letters)


def topics(settings: Settings) -> list[str]:
    t = settings.topics
    return [*t.inputs(), *t.outputs()]


def describe(settings: Settings) -> str:
    t = settings.topics
    return (
        f"{len(t.inputs())} input topics -> journeys -> {', '.join(t.actions.values())}, {t.journey_events}; "
        f"bad records -> {t.dead_letter}"
    )
