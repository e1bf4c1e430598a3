"""The journey results job: what the journeys achieved, computed continuously in Flink SQL.

Inputs: the journey event log (`journey-events`, Avro through the registry), `channel-feedback`
(Avro) and the orders CDC (any encoding CONTRACTS.md allows: decoded by the journey job's own
decoder, then a table). Output: `journey-metrics`, upserts as JSON:
- `kind = journey`, per journey and variant: instances entered, actions and their cost by
  channel, deliveries, opens, clicks and bounces, conversions and the revenue they brought;
- `kind = step`, per journey and step: the customers whose instance sits there now.

What counts (docs/journey-results.md):
- an instance is the journey events of one `event_id` prefix (customer/journey/key/entered_at);
  its variant is the one its split gave it (`none` outside an experiment, `holdout` for the
  holdout), so a variant's entries include the instances that never reached an action;
- a conversion is an order placed by the customer within `attribution_days` after the instance
  entered (an interval join of the entries with the placed orders), or one the engine saw end
  the instance at its goal (its `converted` event: an `Order Completed` click counts before the
  order system's row arrives). An order converts at most one instance per journey (the latest
  to enter before it), and stops counting when the order is cancelled or returned (net
  revenue): the orders' latest status, a changelog, joined on;
- feedback counts once per action and event, whatever the sender wrote twice.

Only SQL runs per journey event; the orders (a small stream) pass through one Python map.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.functions import FlatMapFunction, RuntimeContext
from pyflink.table import Schema, StreamTableEnvironment, TableResult

from common import events as ev
from common.settings import Settings, local_sql_jars
from connectors.avro import RegistryClient
from connectors.decoder import Decoder
from connectors.kafka import KafkaRecordSource
from connectors.records import read_frame

ORDERS_TABLE = "orders.orders"
#: the columns of an order change, as the SQL sees them
ORDER_ROW = Types.ROW_NAMED(
    ["order_id", "customer_id", "status", "total", "op", "order_ms", "changed_ms"],
    [
        Types.STRING(),
        Types.STRING(),
        Types.STRING(),
        Types.DOUBLE(),
        Types.STRING(),
        Types.LONG(),
        Types.LONG(),
    ],
)
TableSource = Callable[[StreamTableEnvironment], None]


@dataclass(frozen=True)
class ResultSources:
    #: each registers its table in the table environment
    journey_events: TableSource
    feedback: TableSource
    #: the orders topic as the journey job reads it (record frames)
    orders: Callable[[StreamExecutionEnvironment], DataStream]


@dataclass(frozen=True)
class ResultSinks:
    #: registers the `journey_metrics` sink table
    metrics: TableSource


class OrderChanges(FlatMapFunction):  # type: ignore[misc]
    """Order changes from the orders CDC topic, decoded as the journey job decodes them; what is
    not an order change is the journey job's to dead-letter, and is skipped here."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def open(self, runtime_context: RuntimeContext) -> None:
        s = self._settings
        self._decoder = Decoder(s, RegistryClient(s.registry.client_config(), wait_s=s.registry.wait_s))

    def flat_map(self, frame: bytes) -> Any:
        record = read_frame(frame)
        out = self._decoder.decode(record)
        if type(out) is not ev.ChangeEvent:  # a DeadLetter or Skipped: the journey job's business
            return
        order = out.row
        if type(order) is not ev.Order:
            return
        placed = order.created_at if order.created_at is not None else out.ts_ms
        yield Row(order.order_id, order.customer_id, order.status, order.total, out.op, placed, out.ts_ms)


def _client_properties(settings: Settings) -> dict[str, str]:
    return {
        f"properties.{k}": v for k, v in settings.kafka.java_properties().items() if k != "bootstrap.servers"
    }


def _with(options: dict[str, str]) -> str:
    return ",\n".join(f"  '{k}' = '{v}'" for k, v in options.items())


def _kafka_options(settings: Settings, topic: str, group: str, bounded: bool) -> str:
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": settings.kafka.bootstrap_servers,
        "properties.group.id": group,
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": "group-offsets",
        "properties.auto.offset.reset": "earliest",
        "format": "avro-confluent",
        "avro-confluent.url": settings.registry.url,
        **_client_properties(settings),
    }
    if settings.registry.basic_auth_user is not None:
        pw = settings.registry.basic_auth_password
        options["avro-confluent.basic-auth.credentials-source"] = "USER_INFO"
        options["avro-confluent.basic-auth.user-info"] = (
            f"{settings.registry.basic_auth_user}:{pw.get_secret_value() if pw else ''}"
        )
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    return _with(options)


def kafka_connectors(settings: Settings, bounded: bool = False) -> tuple[ResultSources, ResultSinks]:
    t = settings.topics
    group = f"{settings.consumer_group}-results"

    def journey_events(t_env: StreamTableEnvironment) -> None:
        t_env.execute_sql(
            f"""CREATE TABLE journey_events (
  event_id STRING, customer_id STRING, journey_id STRING, event_type STRING, step_id STRING,
  reason STRING, `variant` STRING, action_id STRING, channel STRING, revenue DOUBLE,
  order_id STRING, occurred_at TIMESTAMP(3),
  WATERMARK FOR occurred_at AS occurred_at - INTERVAL '5' SECOND
) WITH (
{_kafka_options(settings, t.journey_events, group, bounded)}
)"""
        )

    def feedback(t_env: StreamTableEnvironment) -> None:
        t_env.execute_sql(
            f"""CREATE TABLE channel_feedback (
  action_id STRING, customer_id STRING, channel STRING, `event` STRING, occurred_at TIMESTAMP(3)
) WITH (
{_kafka_options(settings, t.channel_feedback, group, bounded)}
)"""
        )

    sink = {
        "connector": "upsert-kafka",
        "topic": t.journey_metrics,
        "properties.bootstrap.servers": settings.kafka.bootstrap_servers,
        **_client_properties(settings),
        "key.format": "json",
        "value.format": "json",
    }

    def metrics(t_env: StreamTableEnvironment) -> None:
        t_env.execute_sql(
            f"""CREATE TABLE journey_metrics (
  kind STRING, journey_id STRING, `variant` STRING, step_id STRING,
  entries BIGINT, conversions BIGINT, revenue DOUBLE,
  actions_email BIGINT, actions_sms BIGINT, actions_push BIGINT, actions_in_app BIGINT,
  cost DOUBLE, delivered BIGINT, opened BIGINT, clicked BIGINT, bounced BIGINT, customers BIGINT,
  PRIMARY KEY (kind, journey_id, `variant`, step_id) NOT ENFORCED
) WITH (
{_with(sink)}
)"""
        )

    orders_topic = t.cdc[ORDERS_TABLE]
    return (
        ResultSources(
            journey_events,
            feedback,
            KafkaRecordSource(settings, (orders_topic,), "results-orders", bounded=bounded),
        ),
        ResultSinks(metrics),
    )


def _cost(settings: Settings) -> str:
    c = settings.results.message_costs
    return " + ".join(f"COALESCE(SUM(a.{ch}), 0) * {float(c.get(ch, 0.0))}" for ch in ev.CHANNELS)


def statements(settings: Settings) -> list[str]:
    """The views, then the two INSERTs (journey rows, step rows)."""
    days = settings.results.attribution_days
    by_channel = ", ".join(f"SUM(CASE WHEN channel = '{ch}' THEN 1 ELSE 0 END) AS {ch}" for ch in ev.CHANNELS)
    return [
        # one row per journey event, with its instance and its place in the instance
        """CREATE TEMPORARY VIEW events AS
SELECT *, REGEXP_EXTRACT(event_id, '^(.*)/[0-9]+$', 1) AS instance_id,
       CAST(REGEXP_EXTRACT(event_id, '/([0-9]+)$', 1) AS INT) AS seq,
       CAST(REGEXP_EXTRACT(event_id, '/(-?[0-9]+)/[0-9]+$', 1) AS BIGINT) AS entered_ms
FROM journey_events""",
        """CREATE TEMPORARY VIEW instances AS
SELECT instance_id, journey_id, COALESCE(MAX(`variant`), 'none') AS `variant`
FROM events GROUP BY instance_id, journey_id""",
        f"""CREATE TEMPORARY VIEW instance_actions AS
SELECT instance_id, {by_channel} FROM events WHERE event_type = 'action' GROUP BY instance_id""",
        # feedback once per action and event, then per instance through the action's event
        """CREATE TEMPORARY VIEW feedback_once AS
SELECT action_id, `event` FROM channel_feedback GROUP BY action_id, `event`""",
        """CREATE TEMPORARY VIEW instance_feedback AS
SELECT e.instance_id,
       SUM(CASE WHEN f.`event` = 'delivered' THEN 1 ELSE 0 END) AS delivered,
       SUM(CASE WHEN f.`event` = 'opened' THEN 1 ELSE 0 END) AS opened,
       SUM(CASE WHEN f.`event` = 'clicked' THEN 1 ELSE 0 END) AS clicked,
       SUM(CASE WHEN f.`event` = 'bounced' THEN 1 ELSE 0 END) AS bounced
FROM (SELECT instance_id, action_id FROM events WHERE event_type = 'action') e
JOIN feedback_once f ON e.action_id = f.action_id
GROUP BY e.instance_id""",
        # conversions: placed orders within the window after the entry (an interval join), and
        # the orders the engine saw end an instance at its goal (an `Order Completed` click has
        # no row in the orders CDC until the order system writes one): one stream, an order once
        """CREATE TEMPORARY VIEW entries AS
SELECT instance_id, journey_id, customer_id, occurred_at AS entered_at, entered_ms
FROM events WHERE event_type = 'entered'""",
        """CREATE TEMPORARY VIEW placed AS
SELECT order_id, customer_id, total, order_time FROM orders WHERE op IN ('c', 'r')""",
        f"""CREATE TEMPORARY VIEW attributed AS
SELECT e.instance_id, e.journey_id, o.order_id, o.total, e.entered_ms
FROM entries e, placed o
WHERE e.customer_id = o.customer_id
  AND o.order_time BETWEEN e.entered_at AND e.entered_at + INTERVAL '{days}' DAY
UNION ALL
SELECT instance_id, journey_id, COALESCE(order_id, event_id), revenue, entered_ms
FROM events WHERE event_type = 'converted'""",
        # an order converts the latest instance of a journey to enter before it
        """CREATE TEMPORARY VIEW last_touch AS
SELECT instance_id, journey_id, order_id, total FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY journey_id, order_id ORDER BY entered_ms DESC) AS rn
  FROM attributed) WHERE rn = 1""",
        # and counts while its latest status is neither cancelled nor returned (net revenue)
        """CREATE TEMPORARY VIEW order_status AS
SELECT order_id, status, op FROM (
  SELECT order_id, status, op, ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY changed_ms DESC) AS rn
  FROM orders) WHERE rn = 1""",
        """CREATE TEMPORARY VIEW instance_orders AS
SELECT t.instance_id, COUNT(*) AS orders, SUM(COALESCE(t.total, 0)) AS revenue
FROM last_touch t LEFT JOIN order_status s ON t.order_id = s.order_id
WHERE s.order_id IS NULL OR (s.op <> 'd' AND s.status NOT IN ('cancelled', 'returned'))
GROUP BY t.instance_id""",
        f"""INSERT INTO journey_metrics
SELECT 'journey', i.journey_id, i.`variant`, '',
       COUNT(*), COUNT(o.instance_id), COALESCE(SUM(o.revenue), 0),
       {", ".join(f"COALESCE(SUM(a.{ch}), 0)" for ch in ev.CHANNELS)},
       {_cost(settings)},
       COALESCE(SUM(f.delivered), 0), COALESCE(SUM(f.opened), 0), COALESCE(SUM(f.clicked), 0),
       COALESCE(SUM(f.bounced), 0), CAST(NULL AS BIGINT)
FROM instances i
LEFT JOIN instance_actions a ON i.instance_id = a.instance_id
LEFT JOIN instance_feedback f ON i.instance_id = f.instance_id
LEFT JOIN instance_orders o ON i.instance_id = o.instance_id
GROUP BY i.journey_id, i.`variant`""",
        # who sits where now: each instance's latest event, unless it is its exit
        """INSERT INTO journey_metrics
SELECT 'step', journey_id, '', COALESCE(step_id, ''),
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS DOUBLE),
       CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
       CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
       CAST(NULL AS BIGINT), COUNT(*)
FROM (SELECT journey_id, step_id, event_type FROM (
        SELECT journey_id, step_id, event_type,
               ROW_NUMBER() OVER (PARTITION BY instance_id ORDER BY seq DESC) AS rn
        FROM events) WHERE rn = 1)
WHERE event_type <> 'exited'
GROUP BY journey_id, step_id""",
    ]


def build_pipeline(
    env: StreamExecutionEnvironment, sources: ResultSources, sinks: ResultSinks, settings: Settings
) -> TableResult:
    """The tables, views and inserts, submitted as one job; its TableResult (`.wait()` for a
    bounded run)."""
    t_env = StreamTableEnvironment.create(env)
    config = t_env.get_config()
    config.set("table.exec.state.ttl", f"{settings.results.state_ttl_days} d")
    # Avro's timestamp-millis reads as a TIMESTAMP in UTC; the orders' epoch millis the same way
    config.set("table.local-time-zone", "UTC")
    # where no orders come for a while, journey time still moves (the interval join's state is
    # dropped by the watermark)
    config.set("table.exec.source.idle-timeout", f"{settings.journeys.idle_ms} ms")
    sources.journey_events(t_env)
    sources.feedback(t_env)
    orders = (
        sources.orders(env)
        .flat_map(OrderChanges(settings), output_type=ORDER_ROW)
        .uid("results-order-changes")
        .name("order changes")
    )
    t_env.create_temporary_view(
        "orders",
        t_env.from_data_stream(
            orders,
            Schema.new_builder()
            .column_by_expression("order_time", "CAST(TO_TIMESTAMP_LTZ(order_ms, 3) AS TIMESTAMP(3))")
            .watermark("order_time", "order_time - INTERVAL '5' SECOND")
            .build(),
        ),
    )
    sinks.metrics(t_env)
    *views, journeys, steps = statements(settings)
    for v in views:
        t_env.execute_sql(v)
    job = t_env.create_statement_set()
    job.add_insert_sql(journeys)
    job.add_insert_sql(steps)
    return job.execute()


def with_sql_jars(settings: Settings) -> Settings:
    """The settings with the SQL formats' jars beside the job's (unless jars are set)."""
    if settings.flink.jars:
        return settings
    jars = [*settings.resolved_jars(), *local_sql_jars()]
    return settings.model_copy(update={"flink": settings.flink.model_copy(update={"jars": jars})})


def topics(settings: Settings) -> list[str]:
    t = settings.topics
    return [t.journey_events, t.channel_feedback, t.cdc[ORDERS_TABLE], t.journey_metrics]


def describe(settings: Settings) -> str:
    t = settings.topics
    return f"{t.journey_events}, {t.channel_feedback} and {t.cdc[ORDERS_TABLE]} -> {t.journey_metrics}"


__all__ = ["ResultSinks", "ResultSources", "build_pipeline", "kafka_connectors", "statements"]
