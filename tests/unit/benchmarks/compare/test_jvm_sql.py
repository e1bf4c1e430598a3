"""The JVM-only contender's SQL: every input topic read, each change's event id as the decoder makes it."""

from __future__ import annotations

from benchmarks.compare.jvm_sql import output_topic, statements
from common.settings import Settings


def test_every_input_topic_is_a_table_and_one_insert_writes_the_output() -> None:
    s = Settings()
    sql = statements(s)
    text = "\n".join(sql)
    for topic in [s.topics.clickstream, *s.topics.cdc.values()]:
        assert f"'topic' = '{topic}'" in text
    assert f"'topic' = '{output_topic(s)}'" in text
    assert sum(1 for q in sql if q.startswith("INSERT")) == 1
    assert "PARTITION BY k" in sql[-1]


def test_a_shipment_change_gets_the_decoders_event_id() -> None:
    text = "\n".join(statements(Settings()))
    # connectors.debezium: table:lsn:op:key
    assert (
        "'orders.shipments:' || CAST(source.lsn AS STRING) || ':' || op || ':' || "
        "COALESCE(`after`.`shipment_id`" in text
    )
