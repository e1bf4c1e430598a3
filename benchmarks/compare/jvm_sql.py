"""The upper bound of `make bench`: what Flink does with the same input and no Python.

A Flink SQL job (PyFlink Table API; every operator in the JVM) reads the same topics as the
journey job, decodes them (Segment JSON, Debezium JSON), keys each record by its customer (a SKU
or a store for the catalogue's tables) and writes one JSON record per input, with a count per
key (keyed state, as the journey stage keeps one state per customer). No journey logic: this is
the cost of reading, decoding, shuffling by key, keeping state and writing.

Run as a process of its own (`python -m benchmarks.compare.jvm_sql`), its settings from the
environment (`Settings.environment()`), until it is stopped. Its output topic is `output_topic`.
"""

from __future__ import annotations

import sys

from common import events as ev
from common.settings import Settings
from jobs.results import _client_properties, _with

#: the column that names whom a table's row is about
KEY_COLUMN = {
    "inventory.products": "sku",
    "inventory.stock_levels": "sku",
    "inventory.stores": "store_id",
}


def output_topic(settings: Settings) -> str:
    return f"{settings.topics.journey_events}-jvm"


def _source(settings: Settings, name: str, topic: str, columns: str) -> str:
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": settings.kafka.bootstrap_servers,
        "properties.group.id": settings.consumer_group,
        "scan.startup.mode": "group-offsets",
        "properties.auto.offset.reset": "earliest",
        "format": "json",
        # a record the job's decoder would send to the dead letters is skipped here
        "json.ignore-parse-errors": "true",
        "json.fail-on-missing-field": "false",
        **_client_properties(settings),
    }
    return f"""CREATE TABLE {name} (
{columns},
  kafka_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp'
) WITH (
{_with(options)}
)"""


def statements(settings: Settings) -> list[str]:
    """The tables and the one insert; each CDC table with the columns its key and event id need."""
    t = settings.topics
    out = [
        _source(
            settings,
            "clickstream",
            t.clickstream,
            "  userId STRING,\n  anonymousId STRING,\n  messageId STRING,\n  event STRING",
        )
    ]
    selects = [
        "SELECT COALESCE(userId, anonymousId) AS k, 'clickstream' AS src, messageId AS event_id, kafka_ts "
        "FROM clickstream"
    ]
    for i, (table, topic) in enumerate(sorted(t.cdc.items())):
        keys = ev.PRIMARY_KEYS[table]
        who = KEY_COLUMN.get(table, "customer_id")
        fields = ", ".join(f"`{c}` STRING" for c in dict.fromkeys([*keys, who]))
        name = f"cdc{i}"
        out.append(
            _source(
                settings,
                name,
                topic,
                "  op STRING,\n  source ROW<lsn BIGINT>,\n"
                f"  `before` ROW<{fields}>,\n  `after` ROW<{fields}>",
            )
        )
        # the decoder's event id of a change: table:lsn:op:key
        key = " || '/' || ".join(f"COALESCE(`after`.`{c}`, `before`.`{c}`)" for c in keys)
        selects.append(
            f"SELECT COALESCE(`after`.`{who}`, `before`.`{who}`) AS k, '{table}' AS src, "
            f"'{table}:' || CAST(source.lsn AS STRING) || ':' || op || ':' || {key} AS event_id, kafka_ts "
            f"FROM {name}"
        )
    out.append("CREATE TEMPORARY VIEW inputs AS\n" + "\nUNION ALL\n".join(selects))
    sink = {
        "connector": "kafka",
        "topic": output_topic(settings),
        "properties.bootstrap.servers": settings.kafka.bootstrap_servers,
        "format": "json",
        "sink.delivery-guarantee": "at-least-once",
        **_client_properties(settings),
    }
    out.append(
        f"""CREATE TABLE outputs (
  k STRING,
  src STRING,
  event_id STRING,
  seen BIGINT
) WITH (
{_with(sink)}
)"""
    )
    out.append(
        """INSERT INTO outputs
SELECT k, src, event_id,
  COUNT(*) OVER (PARTITION BY k ORDER BY pt ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
FROM (SELECT *, PROCTIME() AS pt FROM inputs WHERE k IS NOT NULL)"""
    )
    return out


def main() -> int:
    from pyflink.table import StreamTableEnvironment

    from jobs.environment import create_environment

    settings = Settings()
    env = create_environment(settings)
    t_env = StreamTableEnvironment.create(env)
    t_env.get_config().set("table.local-time-zone", "UTC")
    *ddl, insert = statements(settings)
    for statement in ddl:
        t_env.execute_sql(statement)
    print(f"jvm-sql: reading {len(settings.topics.cdc) + 1} topics into {output_topic(settings)}", flush=True)
    t_env.execute_sql(insert).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
