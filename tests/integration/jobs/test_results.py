"""The journey results job (Flink SQL on a MiniCluster) over a journey event log, channel
feedback and order changes written for the test, and `journeyctl report` over what it wrote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.settings import Settings
from connectors.admin import ensure_topics
from connectors.avro import Encoder, RegistryClient, load_schema
from jobs import results
from jobs.environment import create_environment
from journeyctl.report import charts, read_metrics, table
from tests.kafka_helpers import produce

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_796_000_000_000  # a fixed moment: the same rows every run


def _event(customer: str, n: int, seq: int, event_type: str, at: int, **fields: Any) -> dict[str, Any]:
    # every field of the schema, null unless set below
    record: dict[str, Any] = dict.fromkeys(f["name"] for f in load_schema("journey_event")["fields"])
    record.update(
        event_id=f"{customer}/cart_abandonment/cart-{n}/{T0}/{seq}",
        customer_id=customer,
        journey_id="cart_abandonment",
        journey_version=1,
        instance_key=f"cart-{n}",
        event_type=event_type,
        occurred_at=at,
        attributes={},
    )
    record.update(fields)
    return record


def _instance(
    customer: str,
    n: int,
    variant: str,
    *,
    action: str | None = None,
    ends: bool = True,
    converted: tuple[str, float] | None = None,
) -> list[dict[str, Any]]:
    events = [
        _event(customer, n, 1, "entered", T0),
        _event(
            customer,
            n,
            2,
            "branch",
            T0 + 1_000,
            step_id="experiment",
            variant=variant,
            reason=f"variant:{variant}",
        ),
    ]
    if action is None:
        events.append(
            _event(
                customer, n, 3, "suppressed", T0 + 1_000, step_id="remind", variant=variant, reason="holdout"
            )
        )
    else:
        events.append(
            _event(
                customer,
                n,
                3,
                "action",
                T0 + 2_000,
                step_id="remind",
                variant=variant,
                action_id=f"a-{customer}",
                action_type="cart_reminder",
                channel=action,
                purpose="marketing",
            )
        )
    if converted is not None:
        order_id, revenue = converted
        events.append(
            _event(
                customer,
                n,
                4,
                "converted",
                T0 + HOUR,
                step_id="done",
                variant=variant,
                order_id=order_id,
                revenue=revenue,
            )
        )
    if ends:
        events.append(
            _event(customer, n, 5, "exited", T0 + HOUR, step_id="done", variant=variant, reason="reminded")
        )
    else:
        events.append(_event(customer, n, 4, "waiting", T0 + 3_000, step_id="second_wait", variant=variant))
    return events


def _order(order_id: str, customer: str, status: str, total: float, created: int, op: str, ts: int) -> bytes:
    row = {
        "order_id": order_id,
        "customer_id": customer,
        "cart_id": None,
        "status": status,
        "total": f"{total:.2f}",
        "currency": "EUR",
        "created_at": created * 1000,
    }  # micros
    value = {
        "before": None,
        "after": row,
        "op": op,
        "ts_ms": ts,
        "source": {
            "connector": "postgresql",
            "db": "orders",
            "schema": "public",
            "table": "orders",
            "ts_ms": ts,
        },
    }
    return json.dumps(value).encode()


@pytest.fixture
def results_settings(settings: Settings, unique: Callable[[str], str]) -> Settings:
    s = settings.model_copy(update={"topics": settings.topics.renamed(unique)})
    return results.with_sql_jars(s)


def test_results_count_entries_actions_feedback_and_net_conversions(
    results_settings: Settings, tmp_path: Path
) -> None:
    s = results_settings
    t = s.topics
    ensure_topics(s, results.topics(s), partitions=2)
    registry = RegistryClient(s.registry.client_config())
    events = [
        # converts: an order an hour later, which the engine saw too (one conversion, one revenue)
        *_instance("c-1", 1, "control", action="email", converted=("o-1", 100.0)),
        *_instance("c-2", 2, "holdout"),  # its order is cancelled: no conversion
        *_instance("c-3", 3, "urgency_copy", action="push", ends=False),  # still waiting
        *_instance("c-4", 4, "control", action="email"),  # its order comes after the window
        # a click-only order the engine saw end the instance (no CDC row): converts
        _event("c-5", 5, 1, "entered", T0),
        _event("c-5", 5, 2, "converted", T0 + 5_000, step_id="wait", order_id="o-5", revenue=30.0),
        _event("c-5", 5, 3, "exited", T0 + 5_000, step_id="wait", reason="purchased"),
        # c-1's order as the engine saw it too: still one conversion, one revenue
        _event(
            "c-1",
            1,
            5,
            "converted",
            T0 + HOUR,
            step_id="done",
            variant="control",
            order_id="o-1",
            revenue=100.0,
        ),
    ]
    enc = Encoder(registry, t.journey_events, load_schema("journey_event"))
    produce(s, t.journey_events, [(e["customer_id"].encode(), enc.encode(e)) for e in events])
    fb = Encoder(registry, t.channel_feedback, load_schema("channel_feedback"))

    def feedback(action: str, customer: str, channel: str, event: str) -> tuple[bytes, bytes]:
        record = {
            "action_id": action,
            "customer_id": customer,
            "channel": channel,
            "event": event,
            "occurred_at": T0 + 10_000,
            "detail": None,
        }
        return customer.encode(), fb.encode(record)

    produce(
        s,
        t.channel_feedback,
        [
            feedback("a-c-1", "c-1", "email", "delivered"),
            feedback("a-c-1", "c-1", "email", "delivered"),  # the sender wrote it twice: counted once
            feedback("a-c-1", "c-1", "email", "opened"),
            feedback("a-c-3", "c-3", "push", "delivered"),
            feedback("a-c-4", "c-4", "email", "bounced"),
        ],
    )
    produce(
        s,
        t.cdc["orders.orders"],
        [
            (b'{"order_id": "o-1"}', _order("o-1", "c-1", "placed", 100.0, T0 + HOUR, "c", T0 + HOUR)),
            (b'{"order_id": "o-1"}', _order("o-1", "c-1", "paid", 100.0, T0 + HOUR, "u", T0 + 2 * HOUR)),
            (b'{"order_id": "o-2"}', _order("o-2", "c-2", "placed", 50.0, T0 + HOUR, "c", T0 + HOUR)),
            (b'{"order_id": "o-2"}', _order("o-2", "c-2", "cancelled", 50.0, T0 + HOUR, "u", T0 + 3 * HOUR)),
            (b'{"order_id": "o-4"}', _order("o-4", "c-4", "placed", 70.0, T0 + 8 * DAY, "c", T0 + 8 * DAY)),
        ],
    )
    env = create_environment(s)
    sources, sinks = results.kafka_connectors(s, bounded=True)
    results.build_pipeline(env, sources, sinks, s).wait()
    rows = read_metrics(s)
    by = {(r["kind"], r["journey_id"], r["variant"], r["step_id"]): r for r in rows}
    control = by[("journey", "cart_abandonment", "control", "")]
    assert (control["entries"], control["conversions"], control["revenue"]) == (2, 1, 100.0)
    assert (control["actions_email"], control["delivered"], control["opened"], control["bounced"]) == (
        2,
        1,
        1,
        1,
    )
    assert control["cost"] == pytest.approx(2 * s.results.message_costs["email"])
    holdout = by[("journey", "cart_abandonment", "holdout", "")]
    assert (holdout["entries"], holdout["conversions"], holdout["revenue"]) == (1, 0, 0.0)
    urgency = by[("journey", "cart_abandonment", "urgency_copy", "")]
    assert (urgency["entries"], urgency["actions_push"], urgency["delivered"]) == (1, 1, 1)
    outside = by[("journey", "cart_abandonment", "none", "")]
    assert (outside["entries"], outside["conversions"], outside["revenue"]) == (1, 1, 30.0)
    steps = {k[3]: r["customers"] for k, r in by.items() if k[0] == "step"}
    assert steps == {"second_wait": 1}
    # the report reads the same rows
    text = table(rows)
    assert "cart_abandonment       control" in text and "50.0%" in text
    assert "uplift over the holdout" in text
    assert "second_wait 1" in text
    written = charts(rows, tmp_path)
    assert sorted(p.name for p in written) == ["funnel.png", "uplift.png"]
    assert all(p.stat().st_size > 5_000 for p in written)
